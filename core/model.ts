/**
 * The data model that flows through every pipeline.
 *
 * A Batch is one normalized profile of one tenant and one series label set.
 * Receivers build it, processors rewrite it, exporters persist or forward it.
 */

/** A label set as name → value. `service_name` and `__name__` are always present once a receiver is done. */
export type Labels = Record<string, string>;

export interface ValueType {
  type: string;
  unit: string;
}

/**
 * A decoded, normalized profile.
 *
 * Stacks are deduplicated and expressed as function-name indices (leaf first), so that
 * storage can hash them without revisiting locations, lines or mappings.
 */
export interface Profile {
  sampleTypes: ValueType[];
  periodType: ValueType;
  period: number;
  /** Start of the profile, Unix nanoseconds. */
  timeNanos: bigint;
  durationNanos: bigint;
  /** Function names. Index 0 is always "" and never referenced by a frame. */
  names: string[];
  /** Unique stacks, leaf first, as indices into `names`. */
  stacks: Uint32Array[];
  samples: Sample[];
  /** Distinct per-sample label sets. Index 0 is always the empty set. */
  sampleLabelSets: Labels[];
}

export interface Sample {
  /** Index into Profile.stacks. */
  stack: number;
  /** One value per sample type. */
  values: number[];
  /** Index into Profile.sampleLabelSets; 0 when the sample has no labels. */
  labelSet: number;
  /** 16 hex characters, when the sample belongs to a span. */
  spanId?: string;
  /** 32 hex characters, when the sample belongs to a trace. */
  traceId?: string;
}

export interface Batch {
  tenant: string;
  /** Series labels. `__name__` names the profile (process_cpu, memory, …) and is shared by every sample type. */
  labels: Labels;
  profile: Profile;
  /** Derived from the client's profile ID or from the content: a redelivered batch is stored once. */
  idempotencyKey: string;
}

/** One span of a trace, as OTLP traces carry it, kept so that profiles can be joined to traces without an outside tracing backend. */
export interface Span {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** 16 lowercase hex characters; "" for a root span. */
  parentSpanId: string;
  serviceName: string;
  name: string;
  /** OTLP SpanKind number: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startNanos: bigint;
  durationNanos: bigint;
  /** OTLP StatusCode number: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  /** A bounded set of span and resource attributes, as strings. */
  attributes: Labels;
}

/** What a traces pipeline carries: the spans of one tenant from one request. */
export interface SpanBatch {
  tenant: string;
  spans: Span[];
  /** Derived from the content, so that a redelivered batch is stored once. */
  idempotencyKey: string;
}

export const DEFAULT_TENANT = 'anonymous';

/** Pyroscope's profile type ID: `name:sample_type:sample_unit:period_type:period_unit`. */
export function profileTypeId(name: string, sampleType: ValueType, periodType: ValueType): string {
  return `${name}:${sampleType.type}:${sampleType.unit}:${periodType.type}:${periodType.unit}`;
}

export interface ParsedProfileType {
  id: string;
  name: string;
  sampleType: string;
  sampleUnit: string;
  periodType: string;
  periodUnit: string;
}

/** Parses a profile type ID; accepts Pyroscope's optional sixth `:delta` part. */
export function parseProfileTypeId(id: string): ParsedProfileType | undefined {
  const parts = id.split(':');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  if (!parts[0] || !parts[1]) return undefined;
  const [name, sampleType, sampleUnit, periodType, periodUnit] = parts;
  return { id: parts.slice(0, 5).join(':'), name, sampleType, sampleUnit, periodType, periodUnit };
}
