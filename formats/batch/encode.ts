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


/** Value of each lower-case hex digit by character code; NOT_HEX for every other character. */
const NOT_HEX = 0xff;
const NIBBLE = new Uint8Array(128).fill(NOT_HEX);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;

const SPAN_ID_CHARS = 16;
const TRACE_ID_CHARS = 32;
/** Strings up to this long are written by a loop over their characters while they are ASCII. */
const SHORT_STRING = 64;

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

  /**
   * An ID of exactly `chars` lower-case hex digits as its bytes, checked and written in one pass
   * (most samples of a traced profile carry one). False, with nothing written, for any other string.
   */
  hexId(s: string, chars: number): boolean {
    if (s.length !== chars) return false;
    this.ensure(chars / 2);
    const buf = this.buf;
    const start = this.pos;
    for (let i = 0; i < chars; i += 2) {
      const a = s.charCodeAt(i);
      const b = s.charCodeAt(i + 1);
      const hi = a < 128 ? NIBBLE[a] : NOT_HEX;
      const lo = b < 128 ? NIBBLE[b] : NOT_HEX;
      // A nibble is at most 15; NOT_HEX in either sets higher bits.
      if ((hi | lo) > 15) return false;
      buf[start + (i >> 1)] = (hi << 4) | lo;
    }
    this.pos = start + chars / 2;
    return true;
  }

  /**
   * Function names and label strings are mostly short ASCII: copying their characters is cheaper
   * than a TextEncoder call on a fresh subarray each. The bytes are the same either way.
   */
  override string(s: string): this {
    const n = s.length;
    if (n > SHORT_STRING) return super.string(s);
    this.ensure(n + 1);
    const buf = this.buf;
    const start = this.pos;
    buf[start] = n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = start;
        return super.string(s);
      }
      buf[start + 1 + i] = c;
    }
    this.pos = start + 1 + n;
    return this;
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
  const samples = p.samples;
  out.uvarint(samples.length);
  // The hot loop of the encoder: a sample's fixed fields and varint values are written with a
  // local position into room made once per sample, instead of a bounds check per field.
  const room = 5 + 5 + 1 + nTypes * MAX_VARINT_BYTES;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    const values = s.values;
    if (values.length !== nTypes) {
      throw new RangeError(`sample has ${values.length} values for ${nTypes} sample types`);
    }
    const spanId = s.spanId;
    const traceId = s.traceId;
    let flags = 0;
    if (spanId !== undefined) flags |= ID_SPAN;
    if (traceId !== undefined) flags |= ID_TRACE;
    out.ensure(room);
    let buf = out.buf;
    let pos = putVarint32(buf, out.pos, s.stack);
    pos = putVarint32(buf, pos, s.labelSet);
    const flagsAt = pos;
    buf[pos++] = flags;
    out.pos = pos;
    if (flags !== 0) {
      // The IDs go out as bytes when both are well-formed hex; if one is not, the flags byte is
      // rewritten and both go out as strings.
      const asBytes = (spanId === undefined || out.hexId(spanId, SPAN_ID_CHARS)) && (traceId === undefined || out.hexId(traceId, TRACE_ID_CHARS));
      if (!asBytes) {
        out.pos = flagsAt + 1;
        out.buf[flagsAt] = flags | ID_AS_STRING;
        if (spanId !== undefined) out.string(spanId);
        if (traceId !== undefined) out.string(traceId);
      }
      out.ensure(room);
      buf = out.buf;
      pos = out.pos;
    }
    if (asFloat) {
      for (let j = 0; j < nTypes; j++) out.float64LE(values[j]);
      continue;
    }
    for (let j = 0; j < nTypes; j++) {
      const v = values[j];
      pos = putVarint(buf, pos, v >= 0 ? v * 2 : -v * 2 - 1);
    }
    out.pos = pos;
  }
}

/** Bytes of the longest varint written here: a zigzagged value within ±2^52 is below 2^54. */
const MAX_VARINT_BYTES = 8;
const TWO_32 = 2 ** 32;

/** A varint of 0 … 2^32-1 at `pos`, where the room is known to be there; the position after it. */
function putVarint32(buf: Uint8Array, pos: number, v: number): number {
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** A varint of a non-negative integer below 2^54 at `pos`, as putVarint32 does. */
function putVarint(buf: Uint8Array, pos: number, v: number): number {
  if (v < TWO_32) return putVarint32(buf, pos, v >>> 0);
  while (v > 0x7f) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}
