/**
 * A small growable protobuf wire-format writer.
 *
 * Nested messages are written in place: `begin(field)` reserves one length byte and
 * `end()` patches it, shifting the payload only when the length needs more than one
 * byte. That keeps encoding single-pass without precomputing sizes.
 */
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './reader.ts';

const TWO_32 = 4294967296;
const utf8 = new TextEncoder();

export class ProtoWriter {
  buf: Uint8Array;
  pos = 0;
  private readonly open: number[] = [];

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** The bytes written so far, as a view of the internal buffer. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw new Error(`${this.open.length} nested message(s) not ended`);
    return this.buf.subarray(0, this.pos);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    // Copy the whole old buffer, not just up to `pos`: a length fix-up may have moved
    // `pos` back over a payload that is still needed.
    next.set(this.buf);
    this.buf = next;
  }

  tag(field: number, wireType: number): this {
    return this.uint32(((field << 3) | wireType) >>> 0);
  }

  /** An unsigned 32-bit varint. */
  uint32(v: number): this {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    v >>>= 0;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
    return this;
  }

  /**
   * A varint for an int64 / uint64 given as a Number. Negative values are written as
   * 64-bit two's complement (10 bytes), as protobuf requires for int64.
   */
  varint(v: number): this {
    if (v >= 0 && v < TWO_32) return this.uint32(v);
    if (!Number.isFinite(v)) throw new RangeError(`cannot encode ${v} as a varint`);
    v = Math.trunc(v);
    let lo: number;
    let hi: number;
    if (v >= 0) {
      lo = v % TWO_32;
      hi = Math.floor(v / TWO_32);
    } else {
      const a = -v;
      lo = a % TWO_32;
      hi = Math.floor(a / TWO_32);
      // Two's complement negation of the 64-bit pair.
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    return this.varint64(lo, hi);
  }

  bigint(v: bigint): this {
    const u = BigInt.asUintN(64, v);
    return this.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** A varint from its low and high unsigned 32-bit halves. */
  varint64(lo: number, hi: number): this {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
    return this;
  }

  fixed32(v: number): this {
    this.ensure(4);
    const buf = this.buf;
    const pos = this.pos;
    buf[pos] = v;
    buf[pos + 1] = v >>> 8;
    buf[pos + 2] = v >>> 16;
    buf[pos + 3] = v >>> 24;
    this.pos = pos + 4;
    return this;
  }

  fixed64(lo: number, hi: number): this {
    return this.fixed32(lo).fixed32(hi);
  }

  double(v: number): this {
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, v, true);
    this.pos += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** `field` as a varint, omitted when zero (proto3 default). */
  varintField(field: number, v: number): this {
    if (v === 0) return this;
    return this.tag(field, WIRE_VARINT).varint(v);
  }

  boolField(field: number, v: boolean): this {
    if (!v) return this;
    return this.tag(field, WIRE_VARINT).uint32(1);
  }

  fixed32Field(field: number, v: number): this {
    return this.tag(field, WIRE_I32).fixed32(v);
  }

  fixed64Field(field: number, lo: number, hi: number): this {
    return this.tag(field, WIRE_I64).fixed64(lo, hi);
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_LEN).uint32(bytes.length);
    return this.raw(bytes);
  }

  /** A string field; always written, even when empty (repeated string tables need the empties). */
  stringField(field: number, s: string): this {
    this.tag(field, WIRE_LEN);
    // Most strings are short: reserve one length byte and fix it up if the UTF-8 is longer.
    this.ensure(s.length * 3 + 5);
    const start = this.pos + 1;
    const { written } = utf8.encodeInto(s, this.buf.subarray(start));
    this.pos = start - 1;
    this.patchLength(start, written);
    return this;
  }

  /** A packed repeated varint field; omitted when empty. */
  packedVarints(field: number, values: ArrayLike<number>): this {
    const n = values.length;
    if (n === 0) return this;
    this.begin(field);
    for (let i = 0; i < n; i++) this.varint(values[i]);
    return this.end();
  }

  /** Starts a length-delimited nested message; pair with `end()`. */
  begin(field: number): this {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    this.open.push(this.pos + 1);
    this.pos += 1;
    return this;
  }

  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error('end() without begin()');
    const len = this.pos - start;
    this.pos = start - 1;
    this.patchLength(start, len);
    return this;
  }

  /**
   * Writes the varint `len` at `pos` for a payload already stored at `start` (one byte
   * after `pos`), moving the payload if the varint is longer than one byte.
   */
  private patchLength(start: number, len: number): void {
    let size = 1;
    for (let v = len >>> 7; v !== 0; v >>>= 7) size++;
    if (size > 1) {
      this.ensure(size + len);
      this.buf.copyWithin(start + size - 1, start, start + len);
    }
    this.uint32(len);
    this.pos += len;
  }
}
