/**
 * Batch → bytes (layout in layout.ts). Single pass into a reused growable buffer.
 */
import { deflateRawSync } from 'node:zlib';
import type { Batch, Labels, Profile } from '../../core/model.ts';
import { ByteWriter } from '../byte-writer.ts';
import {
  FLAG_DEFLATE,
  ID_AS_STRING,
  ID_SPAN,
  ID_TRACE,
  MAGIC,
  MAX_VARINT_VALUE,
  VALUES_FLOAT64,
  VALUES_VARINT,
  VERSION,
} from './layout.ts';


/** Value of each lower-case hex digit by character code (the input is checked first). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

// A compiled regular expression checks a short ID faster than a loop over its characters.
const SPAN_ID = /^[0-9a-f]{16}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;

/** The batch codec's vocabulary over the shared byte writer. */
class Out extends ByteWriter {
  /** A signed integer within ±2^52, zigzagged. */
  signed(v: number): void {
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  bigSigned(v: bigint): void {
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.ensure(10);
    while (z > 0x7fn) {
      this.buf[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.pos++] = Number(z);
  }

  /** Lower-case hex digits (checked by SPAN_ID or TRACE_ID) as bytes. */
  hex(s: string): void {
    this.ensure(s.length / 2);
    const buf = this.buf;
    for (let i = 0; i < s.length; i += 2) buf[this.pos++] = (NIBBLE[s.charCodeAt(i)] << 4) | NIBBLE[s.charCodeAt(i + 1)];
  }

  labels(l: Labels): void {
    const keys = Object.keys(l);
    this.uvarint(keys.length);
    for (const k of keys) {
      this.string(k);
      this.string(l[k]);
    }
  }
}

export interface EncodeBatchOptions {
  /** Deflate the body when it is larger than this many bytes. Default: never. */
  compressAbove?: number;
}

/** Where the flags byte sits: after the magic and the version. */
const FLAGS_AT = MAGIC.length + 1;
/** A scratch buffer kept between calls while it stays this small; a larger one is let go. */
const KEEP_SCRATCH_BYTES = 4 * 1024 * 1024;
let scratch: Out | undefined;

export function encodeBatch(batch: Batch, opts: EncodeBatchOptions = {}): Uint8Array {
  // Header and body are written into one reused buffer, and only the result is copied out:
  // one allocation per batch instead of a growing buffer for each part.
  const out = scratch ?? new Out(64 * 1024);
  scratch = undefined;
  out.pos = 0;
  out.raw(MAGIC);
  out.byte(VERSION);
  out.byte(0);
  out.string(batch.tenant);
  out.string(batch.idempotencyKey);
  out.labels(batch.labels);
  const bodyStart = out.pos;
  encodeProfile(out, batch.profile);
  const bodyLength = out.pos - bodyStart;
  if (bodyLength > (opts.compressAbove ?? Infinity)) {
    const deflated = deflateRawSync(out.buf.subarray(bodyStart, out.pos), { level: 1 });
    out.buf[FLAGS_AT] = FLAG_DEFLATE;
    out.pos = bodyStart;
    out.uvarint(bodyLength);
    out.raw(deflated);
  }
  const result = out.buf.slice(0, out.pos);
  if (out.buf.length <= KEEP_SCRATCH_BYTES) scratch = out;
  return result;
}

function encodeProfile(out: Out, p: Profile): void {
  out.uvarint(p.sampleTypes.length);
  for (const t of p.sampleTypes) {
    out.string(t.type);
    out.string(t.unit);
  }
  out.string(p.periodType.type);
  out.string(p.periodType.unit);
  out.float64LE(p.period);
  out.bigSigned(p.timeNanos);
  out.bigSigned(p.durationNanos);
  out.uvarint(p.names.length);
  for (const n of p.names) out.string(n);
  out.uvarint(p.stacks.length);
  for (const s of p.stacks) {
    out.uvarint(s.length);
    for (let i = 0; i < s.length; i++) out.uvarint(s[i]);
  }
  out.uvarint(p.sampleLabelSets.length);
  for (const l of p.sampleLabelSets) out.labels(l);

  let asFloat = false;
  for (const s of p.samples) {
    for (const v of s.values) {
      if (!Number.isInteger(v) || Math.abs(v) > MAX_VARINT_VALUE) {
        asFloat = true;
        break;
      }
    }
    if (asFloat) break;
  }
  out.byte(asFloat ? VALUES_FLOAT64 : VALUES_VARINT);
  const nTypes = p.sampleTypes.length;
  out.uvarint(p.samples.length);
  for (const s of p.samples) {
    out.uvarint(s.stack);
    out.uvarint(s.labelSet);
    let flags = 0;
    if (s.spanId !== undefined) flags |= ID_SPAN;
    if (s.traceId !== undefined) flags |= ID_TRACE;
    if ((s.spanId !== undefined && !SPAN_ID.test(s.spanId)) || (s.traceId !== undefined && !TRACE_ID.test(s.traceId))) flags |= ID_AS_STRING;
    out.byte(flags);
    if (flags & ID_AS_STRING) {
      if (s.spanId !== undefined) out.string(s.spanId);
      if (s.traceId !== undefined) out.string(s.traceId);
    } else {
      if (s.spanId !== undefined) out.hex(s.spanId);
      if (s.traceId !== undefined) out.hex(s.traceId);
    }
    if (s.values.length !== nTypes) {
      throw new RangeError(`sample has ${s.values.length} values for ${nTypes} sample types`);
    }
    if (asFloat) for (const v of s.values) out.float64LE(v);
    else for (const v of s.values) out.signed(v);
  }
}
