/**
 * The `spanlink` processor: gives every profile, whatever receiver it came from, the same
 * per-sample span identity. Span and trace IDs that arrive as labels, under whichever name the
 * client's profiler uses, are taken out of the series labels and the sample label sets and put
 * into `Sample.spanId`/`Sample.traceId`, normalized to lowercase hex. IDs a receiver already put
 * there (OTLP links, the pprof decoder's `span_id`) are kept as they are.
 */
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { processorOf, type ProcessorFactory } from '../../core/component.ts';
import { PYROSCOPE_SPAN_ID_LABELS, PYROSCOPE_TRACE_ID_LABELS } from '../../core/span-ids.ts';
import { linkSpans, type InvalidIdCounts } from './link.ts';

export interface SpanlinkProcessorConfig {
  span_id_labels: string[];
  trace_id_labels: string[];
}

/** Labels that identify a series or name a span's work; moving them into samples would lose them. */
const KEPT_LABELS = new Set(['__name__', 'service_name', 'span_name']);

const labelList = z.array(
  z
    .string()
    .min(1, 'a label name cannot be empty')
    .refine((n) => !KEPT_LABELS.has(n), { error: (iss) => `label ${JSON.stringify(iss.input)} is a series label and cannot carry span or trace IDs` }),
);

export const schema = z
  .strictObject({
    span_id_labels: labelList,
    trace_id_labels: labelList,
  })
  .superRefine((config, ctx) => {
    const both = config.span_id_labels.filter((n) => config.trace_id_labels.includes(n));
    if (both.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['trace_id_labels'], message: `label ${JSON.stringify(both[0])} cannot carry both span and trace IDs` });
    }
  });

export function defaultConfig(): SpanlinkProcessorConfig {
  return {
    // Pyroscope's own names first, then the camel-case spellings of OpenTelemetry's span context.
    span_id_labels: [...PYROSCOPE_SPAN_ID_LABELS, 'spanID', 'spanId'],
    trace_id_labels: [...PYROSCOPE_TRACE_ID_LABELS, 'traceID', 'traceId'],
  };
}

const INVALID_METRIC = 'hearth_processor_spanlink_invalid_ids_total';

function invalidCounter(registry: Registry): Counter<'processor' | 'id'> {
  // Several spanlink processors share one registry, and a reload may create the same one again.
  const existing = registry.getSingleMetric(INVALID_METRIC);
  if (existing) return existing as Counter<'processor' | 'id'>;
  return new Counter({
    name: INVALID_METRIC,
    help: 'Span or trace ID labels left in place because their value is not hex of the right length (per series label and per sample label set).',
    labelNames: ['processor', 'id'],
    registers: [registry],
  });
}

export const factory: ProcessorFactory<SpanlinkProcessorConfig> = {
  type: 'spanlink',
  kind: 'processor',
  stability: 'alpha',
  signals: ['profiles'],
  schema,
  defaultConfig,
  create(settings, config) {
    const counter = invalidCounter(settings.metrics);
    const invalidSpan = counter.labels({ processor: settings.id, id: 'span' });
    const invalidTrace = counter.labels({ processor: settings.id, id: 'trace' });
    const names = { span: new Set(config.span_id_labels), trace: new Set(config.trace_id_labels) };
    return processorOf(async (batch) => {
      const invalid: InvalidIdCounts = { span: 0, trace: 0 };
      const out = linkSpans(batch, names, invalid);
      if (invalid.span) invalidSpan.inc(invalid.span);
      if (invalid.trace) invalidTrace.inc(invalid.trace);
      return out;
    });
  },
};

export default factory;
