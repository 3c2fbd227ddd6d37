/**
 * What both trace encodings decode to, and the checks and limits applied to each span before it
 * becomes a core/model.ts Span.
 */
import type { Labels, Span } from '../../core/model.ts';
import { keyOf, textOf, type KeyValue } from './anyvalue.ts';
import { UNKNOWN_SERVICE, SERVICE_NAME_KEY } from './labels.ts';

/** Attributes kept per span (span attributes first, then resource attributes). */
export const MAX_SPAN_ATTRIBUTES = 32;
/** Longer attribute values are cut to this many characters. */
export const MAX_SPAN_ATTRIBUTE_LENGTH = 1024;
const MAX_NAME_LENGTH = 1024;

/** A span as decoded, IDs as lowercase hex ("" when absent). */
export interface RawSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: KeyValue[];
  statusCode: number;
  statusMessage: string;
}

export interface SpansConversion {
  spans: Span[];
  rejected: number;
  errors: string[];
}

const MAX_ERROR_LINES = 10;

/** Builds the spans of one resource; a span without valid IDs is counted as rejected. */
export function addResourceSpans(out: SpansConversion, resourceAttrs: KeyValue[], raw: RawSpan[], where: string): void {
  let service = '';
  const resource: [string, string][] = [];
  for (const kv of resourceAttrs) {
    const key = kv.key;
    const value = textOf(kv.value);
    if (key === SERVICE_NAME_KEY) service = value;
    else if (key) resource.push([key, value]);
  }
  raw.forEach((s, i) => {
    const why = invalidSpan(s);
    if (why) {
      out.rejected++;
      if (out.errors.length < MAX_ERROR_LINES) out.errors.push(`${where}.spans[${i}]: ${why}`);
      return;
    }
    const attributes: Labels = {};
    let n = 0;
    const put = (k: string, v: string): void => {
      if (n >= MAX_SPAN_ATTRIBUTES || k in attributes) return;
      attributes[k] = v.length > MAX_SPAN_ATTRIBUTE_LENGTH ? v.slice(0, MAX_SPAN_ATTRIBUTE_LENGTH) : v;
      n++;
    };
    for (const kv of s.attributes) {
      const k = keyOf(kv, []);
      if (k) put(k, textOf(kv.value));
    }
    for (const [k, v] of resource) put(k, v);
    out.spans.push({
      traceId: s.traceId,
      spanId: s.spanId,
      parentSpanId: s.parentSpanId,
      serviceName: service || UNKNOWN_SERVICE,
      name: s.name.length > MAX_NAME_LENGTH ? s.name.slice(0, MAX_NAME_LENGTH) : s.name,
      kind: s.kind >= 0 && s.kind <= 5 ? s.kind : 0,
      startNanos: s.start,
      durationNanos: s.end > s.start ? s.end - s.start : 0n,
      statusCode: s.statusCode >= 0 && s.statusCode <= 2 ? s.statusCode : 0,
      statusMessage: s.statusMessage.length > MAX_SPAN_ATTRIBUTE_LENGTH ? s.statusMessage.slice(0, MAX_SPAN_ATTRIBUTE_LENGTH) : s.statusMessage,
      attributes,
    });
  });
}

function invalidSpan(s: RawSpan): string | undefined {
  if (s.traceId.length !== 32 || /^0+$/.test(s.traceId)) return 'the span has no valid trace_id (16 bytes, not all zero)';
  if (s.spanId.length !== 16 || /^0+$/.test(s.spanId)) return 'the span has no valid span_id (8 bytes, not all zero)';
  if (s.parentSpanId !== '' && s.parentSpanId.length !== 16) return 'the span has a parent_span_id that is not 8 bytes';
  return undefined;
}
