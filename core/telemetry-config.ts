/**
 * `service.telemetry.traces`: where Hearth sends spans of its own work. Kept apart from the SDK
 * setup (core/telemetry.ts) so that reading a config file does not load the tracing SDK.
 */
import { z } from 'zod';

export interface TracesTelemetryConfig {
  /** OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces. */
  endpoint: string;
  /** Fraction of new traces recorded; a request that arrives inside a sampled trace follows its parent. */
  samplerRatio: number;
  headers: Record<string, string>;
  /** Longest a finished span waits before it is exported. */
  batchDelayMs: number;
  /** `service.name` of Hearth's own spans. */
  serviceName: string;
}

/** Off unless an endpoint is given; an empty endpoint (say from an unset `${env:…:-}`) is off too. */
export const TRACES_TELEMETRY_DEFAULTS = {
  endpoint: '',
  sampler_ratio: 1,
  headers: {} as Record<string, string>,
  batch_delay_ms: 5000,
  service_name: 'hearth',
};

export const tracesTelemetrySchema = z
  .object({
    endpoint: z.union([
      z.literal(''),
      z.url({ protocol: /^https?$/, error: 'endpoint must be an http:// or https:// URL (OTLP over HTTP), e.g. http://localhost:4318/v1/traces' }),
    ]),
    sampler_ratio: z.number().min(0).max(1),
    headers: z.record(z.string(), z.string()),
    batch_delay_ms: z.number().int().positive(),
    service_name: z.string().min(1),
  })
  .strict();

export function resolveTracesTelemetry(raw: z.infer<typeof tracesTelemetrySchema>): TracesTelemetryConfig | undefined {
  if (raw.endpoint === '') return undefined;
  return {
    endpoint: raw.endpoint,
    samplerRatio: raw.sampler_ratio,
    headers: raw.headers,
    batchDelayMs: raw.batch_delay_ms,
    serviceName: raw.service_name,
  };
}
