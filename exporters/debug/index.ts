/**
 * The `debug` exporter: logs a one-line summary of every batch, like the Collector's debug
 * exporter. Useful to check what a pipeline produces before wiring real storage.
 */
import { z } from 'zod';
import type { ExporterFactory } from '../../core/component.ts';

export interface DebugExporterConfig {
  /** basic: one line per batch; detailed: also the label set of every sample label group. */
  verbosity: 'basic' | 'detailed';
}

export const factory: ExporterFactory<DebugExporterConfig> = {
  type: 'debug',
  kind: 'exporter',
  stability: 'beta',
  signals: ['profiles'],
  schema: z.strictObject({ verbosity: z.enum(['basic', 'detailed']) }),
  defaultConfig: () => ({ verbosity: 'basic' }),
  create(settings, config) {
    return {
      async start() {},
      async shutdown() {},
      async consume(batch) {
        const p = batch.profile;
        settings.logger.info(
          {
            tenant: batch.tenant,
            labels: batch.labels,
            sampleTypes: p.sampleTypes.map((t) => `${t.type}:${t.unit}`),
            samples: p.samples.length,
            stacks: p.stacks.length,
            ...(config.verbosity === 'detailed' ? { sampleLabelSets: p.sampleLabelSets } : {}),
          },
          'batch',
        );
      },
    };
  },
};

export default factory;
