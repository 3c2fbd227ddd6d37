/**
 * Turns a SpanBatch into RowBinary rows of the spans table.
 *
 * Spans whose IDs are not valid (a trace ID of 32 hex digits, a span ID of 16, neither all
 * zero) cannot be linked to anything and are left out; attributes are capped so that one
 * chatty client cannot make rows arbitrarily wide.
 */
import type { SpanBatch } from '../core/model.ts';
import { hashString, type Id64 } from './ids.ts';
import { RowBinaryWriter } from './rowbinary.ts';

export const SPAN_COLUMNS =
  'tenant LowCardinality(String), trace_id FixedString(16), span_id UInt64, parent_span_id UInt64, service LowCardinality(String), name String, kind UInt8, start DateTime64(9), duration UInt64, status_code UInt8, status_message String, attributes Map(LowCardinality(String), String), batch_id UInt64';

/** Bounds on what one span stores. */
export const SPAN_LIMITS = {
  attributes: 64,
  attributeNameChars: 256,
  attributeValueChars: 1024,
  nameChars: 1024,
  statusMessageChars: 1024,
};

export interface SpanRows {
  /** RowBinary rows for the spans table. */
  bytes: Uint8Array;
  count: number;
  /** Derived from the idempotency key. */
  batchId: Id64;
  /** Range of the span start times, Unix nanoseconds: where a redelivery would be found. */
  minStartNanos: bigint;
  maxStartNanos: bigint;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** DateTime64(9) holds 1900 to 2262; a start outside what is plausible is stored at arrival. */
const MIN_START = BigInt(Date.UTC(1971, 0, 1)) * 1_000_000n;
const MAX_START = BigInt(Date.UTC(2200, 0, 1)) * 1_000_000n;
const MAX_UINT64 = (1n << 64n) - 1n;

function hexPair(hex: string): { hi: number; lo: number } {
  return { hi: parseInt(hex.slice(0, 8), 16) >>> 0, lo: parseInt(hex.slice(8, 16), 16) >>> 0 };
}

function bigPair(v: bigint): { hi: number; lo: number } {
  return { hi: Number((v >> 32n) & 0xffffffffn), lo: Number(v & 0xffffffffn) };
}

function cut(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) : s;
}

export function spanBatchToRows(batch: SpanBatch, nowNanos = BigInt(Date.now()) * 1_000_000n): SpanRows {
  const batchId = hashString(batch.idempotencyKey);
  const w = new RowBinaryWriter(Math.max(1024, batch.spans.length * 256));
  const one = new Uint8Array(1);
  // UInt8 in RowBinary is its single byte.
  const uint8 = (v: number) => {
    one[0] = v;
    w.fixed(one, 1);
  };
  let count = 0;
  let min = 0n;
  let max = 0n;
  for (const s of batch.spans) {
    const traceId = s.traceId.toLowerCase();
    const spanId = s.spanId.toLowerCase();
    const parent = s.parentSpanId.toLowerCase();
    if (!TRACE_ID.test(traceId) || traceId === ZERO_TRACE || !SPAN_ID.test(spanId) || spanId === ZERO_SPAN) continue;
    const start = s.startNanos >= MIN_START && s.startNanos < MAX_START ? s.startNanos : nowNanos;
    const duration = s.durationNanos < 0n ? 0n : s.durationNanos > MAX_UINT64 ? MAX_UINT64 : s.durationNanos;
    w.string(batch.tenant).fixed(Buffer.from(traceId, 'hex'), 16);
    const sp = hexPair(spanId);
    w.uint64Parts(sp.hi, sp.lo);
    const pp = SPAN_ID.test(parent) ? hexPair(parent) : { hi: 0, lo: 0 };
    w.uint64Parts(pp.hi, pp.lo);
    w.string(s.serviceName || 'unknown_service').string(cut(s.name, SPAN_LIMITS.nameChars));
    uint8(s.kind >= 0 && s.kind <= 5 ? s.kind : 0);
    const st = bigPair(start);
    w.uint64Parts(st.hi, st.lo);
    const d = bigPair(duration);
    w.uint64Parts(d.hi, d.lo);
    uint8(s.statusCode >= 0 && s.statusCode <= 2 ? s.statusCode : 0);
    w.string(cut(s.statusMessage, SPAN_LIMITS.statusMessageChars));
    const keys = Object.keys(s.attributes).slice(0, SPAN_LIMITS.attributes);
    w.varUInt(keys.length);
    for (const k of keys) w.string(cut(k, SPAN_LIMITS.attributeNameChars)).string(cut(String(s.attributes[k]), SPAN_LIMITS.attributeValueChars));
    w.uint64(batchId);
    if (count === 0 || start < min) min = start;
    if (count === 0 || start > max) max = start;
    count++;
  }
  return { bytes: w.bytes(), count, batchId, minStartNanos: min, maxStartNanos: max };
}
