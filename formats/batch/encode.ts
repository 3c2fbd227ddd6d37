/**
 * Batch → bytes (layout in layout.ts). Single pass into a growable buffer.
 */
import { deflateRawSync } from 'node:zlib';
import type { Batch, Labels, Profile } from '../../core/model.ts';
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

const TWO_32 = 4294967296;
const utf8 = new TextEncoder();

function nibble(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

/** `len` lower-case hex digits, the form span and trace IDs take in the model. */
function isHex(s: string, len: number): boolean {
  if (s.length !== len) return false;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

class Out {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
    this.view = new DataView(this.buf.buffer);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + extra) cap *= 2;
    const next = new Uint8Array(cap);
    // The whole buffer: string() writes bytes past `pos` before it moves `pos` over them.
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: ArrayLike<number>): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** An unsigned integer below 2^53. */
  varint(v: number): void {
    this.ensure(8);
    const buf = this.buf;
    let pos = this.pos;
    if (v < TWO_32) {
      v >>>= 0;
      while (v > 0x7f) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[pos++] = v;
    } else {
      while (v > 0x7f) {
        buf[pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      buf[pos++] = v;
    }
    this.pos = pos;
  }

  /** A signed integer within ±2^52, zigzagged. */
  signed(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
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

  float64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  string(s: string): void {
    // Reserve room for the worst case, write the bytes, then the length in front of them.
    const max = s.length * 3;
    const lenBytes = max < 0x80 ? 1 : max < 0x4000 ? 2 : max < 0x200000 ? 3 : 4;
    this.ensure(lenBytes + max);
    const start = this.pos + lenBytes;
    const { written } = utf8.encodeInto(s, this.buf.subarray(start));
    let size = 1;
    for (let v = written >>> 7; v !== 0; v >>>= 7) size++;
    if (size !== lenBytes) this.buf.copyWithin(this.pos + size, start, start + written);
    this.varint(written);
    this.pos += written;
  }

  /** Lower-case hex digits (checked by isHex) as bytes. */
  hex(s: string): void {
    this.ensure(s.length / 2);
    const buf = this.buf;
    for (let i = 0; i < s.length; i += 2) buf[this.pos++] = (nibble(s.charCodeAt(i)) << 4) | nibble(s.charCodeAt(i + 1));
  }

  labels(l: Labels): void {
    const keys = Object.keys(l);
    this.varint(keys.length);
    for (const k of keys) {
      this.string(k);
      this.string(l[k]);
    }
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export interface EncodeBatchOptions {
  /** Deflate the body when it is larger than this many bytes. Default: never. */
  compressAbove?: number;
}

export function encodeBatch(batch: Batch, opts: EncodeBatchOptions = {}): Uint8Array {
  const body = encodeProfile(batch.profile);
  const compress = body.length > (opts.compressAbove ?? Infinity);
  const out = new Out(256 + (compress ? 0 : body.length));
  out.bytes(MAGIC);
  out.byte(VERSION);
  out.byte(compress ? FLAG_DEFLATE : 0);
  out.string(batch.tenant);
  out.string(batch.idempotencyKey);
  out.labels(batch.labels);
  if (compress) {
    out.varint(body.length);
    out.bytes(deflateRawSync(body, { level: 1 }));
  } else {
    out.bytes(body);
  }
  return out.finish();
}

function encodeProfile(p: Profile): Uint8Array {
  const out = new Out(1024 + p.names.length * 24 + p.samples.length * 8);
  out.varint(p.sampleTypes.length);
  for (const t of p.sampleTypes) {
    out.string(t.type);
    out.string(t.unit);
  }
  out.string(p.periodType.type);
  out.string(p.periodType.unit);
  out.float64(p.period);
  out.bigSigned(p.timeNanos);
  out.bigSigned(p.durationNanos);
  out.varint(p.names.length);
  for (const n of p.names) out.string(n);
  out.varint(p.stacks.length);
  for (const s of p.stacks) {
    out.varint(s.length);
    for (let i = 0; i < s.length; i++) out.varint(s[i]);
  }
  out.varint(p.sampleLabelSets.length);
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
  out.varint(p.samples.length);
  for (const s of p.samples) {
    out.varint(s.stack);
    out.varint(s.labelSet);
    let flags = 0;
    if (s.spanId !== undefined) flags |= ID_SPAN;
    if (s.traceId !== undefined) flags |= ID_TRACE;
    if ((s.spanId !== undefined && !isHex(s.spanId, 16)) || (s.traceId !== undefined && !isHex(s.traceId, 32))) flags |= ID_AS_STRING;
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
    if (asFloat) for (const v of s.values) out.float64(v);
    else for (const v of s.values) out.signed(v);
  }
  return out.finish();
}
