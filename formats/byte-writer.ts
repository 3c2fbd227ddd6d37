/**
 * The one growable byte buffer behind every binary encoder in Hearth: protobuf (pprof, OTLP
 * responses), the batch codec on NATS, ClickHouse RowBinary and Pyroscope tree bytes. It holds
 * what those formats share: LEB128 varints, little-endian fixed-width numbers, and UTF-8 strings
 * behind a varint length. Each format adds its own vocabulary on top.
 *
 * `buf` and `pos` are public so a format can write in place on its hot paths (and move `pos`
 * back to patch a length), after `ensure()`.
 */

const TWO_32 = 4294967296;
const utf8 = new TextEncoder();

/** Bytes of the varint of a non-negative integer below 2^53. */
export function varintSize(v: number): number {
  let size = 1;
  if (v < TWO_32) {
    for (v >>>= 7; v !== 0; v >>>= 7) size++;
  } else {
    for (v = Math.floor(v / 128); v !== 0; v = Math.floor(v / 128)) size++;
  }
  return size;
}

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;
  protected view: DataView;

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far, as a view of the internal buffer. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Room for `extra` more bytes after `pos`. */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    // The whole old buffer, not just up to `pos`: a length fix-up may have moved `pos` back
    // over bytes that are still needed.
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): this {
    this.ensure(1);
    this.buf[this.pos++] = b;
    return this;
  }

  raw(bytes: ArrayLike<number>): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** An unsigned varint of a value already in 0 … 2^32-1. */
  uvarint32(v: number): this {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
    return this;
  }

  /** An unsigned varint of a non-negative integer below 2^53. */
  uvarint(v: number): this {
    if (v < TWO_32) return this.uvarint32(v >>> 0);
    this.ensure(8);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 0x7f) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[pos++] = v;
    this.pos = pos;
    return this;
  }

  /** A 64-bit varint from its low and high unsigned 32-bit halves. */
  uvarint64(lo: number, hi: number): this {
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

  uint16LE(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }

  uint32LE(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }

  /** Eight bytes from the low and high 32-bit halves of a 64-bit value. */
  uint64LE(lo: number, hi: number): this {
    this.ensure(8);
    this.view.setUint32(this.pos, lo >>> 0, true);
    this.view.setUint32(this.pos + 4, hi >>> 0, true);
    this.pos += 8;
    return this;
  }

  /** A safe integer as Int64, two's complement without BigInt. */
  int64LE(v: number): this {
    this.ensure(8);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.view.setInt32(this.pos + 4, Math.floor(v / TWO_32), true);
    this.pos += 8;
    return this;
  }

  float64LE(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
    return this;
  }

  /** A string as its UTF-8 length (varint) and bytes. */
  string(s: string): this {
    // Worst case 3 bytes per UTF-16 unit. The length prefix is sized for the common case,
    // one byte per unit, and the bytes moved only when the UTF-8 turns out longer than that.
    const reserved = varintSize(s.length);
    this.ensure(reserved + s.length * 3);
    const start = this.pos + reserved;
    const { written } = utf8.encodeInto(s, this.buf.subarray(start));
    this.patchLength(start, reserved, written);
    return this;
  }

  /**
   * Writes the varint `len` at `pos`, in front of a payload of `len` bytes already stored at
   * `start` (`reserved` bytes after `pos`), moving the payload if the varint needs more room,
   * and leaves `pos` after the payload.
   */
  protected patchLength(start: number, reserved: number, len: number): void {
    const size = varintSize(len);
    if (size !== reserved) {
      this.ensure(reserved + len + size);
      this.buf.copyWithin(this.pos + size, start, start + len);
    }
    this.uvarint32(len);
    this.pos += len;
  }
}
