/**
 * Per-tenant limits: their names, defaults and meaning follow Pyroscope's (pkg/validation),
 * so a Pyroscope runtime-config `overrides:` block can be reused as it is.
 */
import { z } from 'zod';
import { parseDuration } from '../duration.ts';

const count = z.number().int().nonnegative();
const megabytes = z.number().nonnegative();
/** A Prometheus duration (`1h`, `30m`, `7d`) or `0` to turn the limit off. */
const duration = z.union([z.literal(0), z.string()]).superRefine((v, ctx) => {
  if (v === 0) return;
  try {
    parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const limitsSchema = z.strictObject({
  ingestion_rate_mb: megabytes,
  ingestion_burst_size_mb: megabytes,
  max_label_names_per_series: count,
  max_label_name_length: count,
  max_label_value_length: count,
  max_profile_size_bytes: count,
  max_profile_stacktrace_samples: count,
  max_profile_stacktrace_depth: count,
  max_global_series_per_tenant: count,
  reject_older_than: duration,
  reject_newer_than: duration,
  max_query_length: duration,
  max_query_lookback: duration,
  max_flamegraph_nodes_default: count,
  max_flamegraph_nodes_max: count,
  max_series_per_query: count,
  query_timeout: duration,
});

export type LimitsConfig = z.infer<typeof limitsSchema>;

/** One tenant's overrides: any subset of the limits. */
export const overridesSchema = limitsSchema.partial();
export type LimitsOverrides = z.infer<typeof overridesSchema>;

/**
 * Pyroscope's defaults, except where they refuse profiles real clients send or where Hearth keeps
 * data differently:
 * - `ingestion_rate_mb` is off and `ingestion_burst_size_mb` is 4 (Pyroscope: 4 and 2): a 2 MB
 *   burst refuses every profile over 2 MB although profiles up to 4 MiB are allowed (Go's
 *   large.cpu of the test corpus decodes to 3 MB), and one node's pipeline already answers 429
 *   when it is saturated; set a rate per tenant where tenants must be kept apart;
 * - `max_profile_stacktrace_samples` is off (Pyroscope: 16000): Go heap and CPU profiles often
 *   have more (41,347 and 20,430 in the corpus); `max_profile_size_bytes` bounds them already;
 * - `reject_older_than` is off: `hearth push` imports old profiles, and retention already
 *   bounds what is kept (Pyroscope: 1h);
 * - `max_query_lookback` is off for the same reason (Pyroscope: 7d);
 * - `max_query_length` is off: rollup tiers answer long ranges cheaply, and clients ask for "all
 *   of it" with a zero start (Pyroscope: 24h). Times must still lie between 1970 and 9999, and a
 *   timeline has at most 11,000 points;
 * - `max_series_per_query` and `query_timeout` are Hearth's own.
 */
export function defaultLimits(): LimitsConfig {
  return {
    ingestion_rate_mb: 0,
    ingestion_burst_size_mb: 4,
    max_label_names_per_series: 30,
    max_label_name_length: 1024,
    max_label_value_length: 2048,
    max_profile_size_bytes: 4 * 1024 * 1024,
    max_profile_stacktrace_samples: 0,
    max_profile_stacktrace_depth: 1000,
    max_global_series_per_tenant: 5000,
    reject_older_than: 0,
    reject_newer_than: '10m',
    max_query_length: 0,
    max_query_lookback: 0,
    max_flamegraph_nodes_default: 8192,
    max_flamegraph_nodes_max: 1 << 20,
    max_series_per_query: 10000,
    query_timeout: '1m',
  };
}

/** The limits of one tenant, ready to compare against: sizes in bytes, durations in milliseconds, 0 = off. */
export interface TenantLimits {
  ingestionRateBytes: number;
  ingestionBurstBytes: number;
  maxLabelNamesPerSeries: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  maxProfileSizeBytes: number;
  maxProfileStacktraceSamples: number;
  maxProfileStacktraceDepth: number;
  maxGlobalSeriesPerTenant: number;
  rejectOlderThanMs: number;
  rejectNewerThanMs: number;
  maxQueryLengthMs: number;
  maxQueryLookbackMs: number;
  maxFlamegraphNodesDefault: number;
  maxFlamegraphNodesMax: number;
  maxSeriesPerQuery: number;
  queryTimeoutMs: number;
}

const MB = 1024 * 1024;
const ms = (d: 0 | string): number => (d === 0 ? 0 : parseDuration(d));

export function resolveLimits(c: LimitsConfig): TenantLimits {
  return {
    ingestionRateBytes: c.ingestion_rate_mb * MB,
    ingestionBurstBytes: c.ingestion_burst_size_mb * MB,
    maxLabelNamesPerSeries: c.max_label_names_per_series,
    maxLabelNameLength: c.max_label_name_length,
    maxLabelValueLength: c.max_label_value_length,
    maxProfileSizeBytes: c.max_profile_size_bytes,
    maxProfileStacktraceSamples: c.max_profile_stacktrace_samples,
    maxProfileStacktraceDepth: c.max_profile_stacktrace_depth,
    maxGlobalSeriesPerTenant: c.max_global_series_per_tenant,
    rejectOlderThanMs: ms(c.reject_older_than),
    rejectNewerThanMs: ms(c.reject_newer_than),
    maxQueryLengthMs: ms(c.max_query_length),
    maxQueryLookbackMs: ms(c.max_query_lookback),
    maxFlamegraphNodesDefault: c.max_flamegraph_nodes_default,
    maxFlamegraphNodesMax: c.max_flamegraph_nodes_max,
    maxSeriesPerQuery: c.max_series_per_query,
    queryTimeoutMs: ms(c.query_timeout),
  };
}
