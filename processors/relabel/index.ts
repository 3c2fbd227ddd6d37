/**
 * The `relabel` processor: rewrites or drops a batch by its series labels with Prometheus
 * relabel_config rules. The tenant is a field of the batch, not a label, so no rule can touch it.
 */
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { processorOf, type ProcessorFactory } from '../../core/component.ts';
import { applyRules, compileRules, type RelabelConfig } from '../../core/relabel/rules.ts';
import { relabelRulesSchema } from '../../core/relabel/schema.ts';

export type { RelabelConfig } from '../../core/relabel/rules.ts';

export interface RelabelProcessorConfig {
  rules: RelabelConfig[];
}

export const schema = z.strictObject({
  rules: relabelRulesSchema,
});

const DROPPED_METRIC = 'hearth_processor_relabel_dropped_total';

function droppedCounter(registry: Registry): Counter<'processor'> {
  // Several relabel processors share one registry, and a reload may create the same one again.
  const existing = registry.getSingleMetric(DROPPED_METRIC);
  if (existing) return existing as Counter<'processor'>;
  return new Counter({
    name: DROPPED_METRIC,
    help: 'Batches dropped by a relabel processor, either by a rule or because no labels were left.',
    labelNames: ['processor'],
    registers: [registry],
  });
}

export const factory: ProcessorFactory<RelabelProcessorConfig> = {
  type: 'relabel',
  kind: 'processor',
  stability: 'beta',
  signals: ['profiles'],
  schema,
  defaultConfig: () => ({ rules: [] }),
  create(settings, config) {
    const rules = compileRules(config.rules);
    const dropped = droppedCounter(settings.metrics).labels({ processor: settings.id });
    return processorOf(async (batch) => {
      const labels = applyRules(batch.labels, rules);
      if (labels === null || Object.keys(labels).length === 0) {
        dropped.inc();
        return null;
      }
      return { ...batch, labels };
    });
  },
};

export default factory;
