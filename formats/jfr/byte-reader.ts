/**
 * Reads JFR's primitive encodings from a Uint8Array. Integers are LEB128-style varints when
 * the chunk header sets the compressed-integers flag, big-endian fixed width otherwise. Every
 * read is bounded by `end`, the end of the chunk (or event) being read.
 */
import { JfrError, truncatedAt } from './errors.ts';

const TWO_32 = 4294967296;

export class ByteReader {
  pos: number;
  /** The two 32-bit halves of the last long read, for values a double can't hold exactly. */
  hi = 0;
  lo = 0;
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8');

  constructor(
    readonly buf: Uint8Array,
    start: number,
    public end: number,
    public compressed = true,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) throw truncatedAt(this.pos, what);
  }

  u8(): number {
    if (this.pos >= this.end) throw truncatedAt(this.pos, 'a byte');
    return this.buf[this.pos++];
  }

  /** A signed 64-bit integer as a double (exact below 2^53); `hi`/`lo` keep all 64 bits. */
  long(): number {
    if (!this.compressed) {
      this.need(8, 'a long');
      this.hi = this.view.getUint32(this.pos);
      this.lo = this.view.getUint32(this.pos + 4);
      this.pos += 8;
    } else {
      this.varint();
    }
    return this.hi >= 0x80000000 ? (this.hi - TWO_32) * TWO_32 + this.lo : this.hi * TWO_32 + this.lo;
  }

  /** A 32-bit (or narrower) integer, signed. */
  int(width: 1 | 2 | 4 = 4): number {
    if (!this.compressed) {
      this.need(width, 'an integer');
      const v = width === 4 ? this.view.getInt32(this.pos) : width === 2 ? this.view.getInt16(this.pos) : this.view.getInt8(this.pos);
      this.pos += width;
      return v;
    }
    this.varint();
    return this.lo | 0;
  }

  /** A count or length: an int that must be non-negative. */
  count(what: string): number {
    const at = this.pos;
    const v = this.int();
    if (v < 0) throw new JfrError(`negative ${what} (${v}) at byte ${at}`);
    return v;
  }

  /** LEB128 of up to 9 bytes; the ninth byte contributes all 8 of its bits. */
  private varint(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (;;) {
      if (this.pos >= this.end) throw truncatedAt(this.pos, 'a varint');
      const b = buf[this.pos++];
      if (i === 8) {
        hi = (hi | (b << 24)) >>> 0;
        break;
      }
      const bits = b & 0x7f;
      const shift = 7 * i;
      if (shift < 28) {
        lo = (lo | (bits << shift)) >>> 0;
      } else if (shift === 28) {
        lo = (lo | (bits << 28)) >>> 0;
        hi = bits >>> 4;
      } else {
        hi = (hi | (bits << (shift - 32))) >>> 0;
      }
      if (b < 0x80) break;
      i++;
    }
    this.lo = lo;
    this.hi = hi;
  }

  f32(): number {
    this.need(4, 'a float');
    const v = this.view.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8, 'a double');
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** Big-endian fixed-width fields of the chunk header. */
  fixedU32(at: number): number {
    return this.view.getUint32(at);
  }
  fixedI64(at: number): number {
    const hi = this.view.getInt32(at);
    const lo = this.view.getUint32(at + 4);
    return hi * TWO_32 + lo;
  }

  /**
   * A string value: 0 null, 1 empty, 2 a reference into the string constant pool, 3 UTF-8,
   * 4 UTF-16 code units as ints, 5 Latin-1. A pool reference is returned as a number.
   */
  string(): string | number | null {
    const at = this.pos;
    const enc = this.u8();
    switch (enc) {
      case 0:
        return null;
      case 1:
        return '';
      case 2:
        return this.long();
      case 3: {
        const n = this.count('string length');
        this.need(n, 'a string');
        const s = this.utf8.decode(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        return s;
      }
      case 4: {
        const n = this.count('string length');
        // Every code unit takes at least one byte.
        this.need(n, 'a string');
        let s = '';
        for (let i = 0; i < n; i++) s += String.fromCharCode(this.int() & 0xffff);
        return s;
      }
      case 5: {
        const n = this.count('string length');
        this.need(n, 'a string');
        let s = '';
        for (let i = 0; i < n; i++) s += String.fromCharCode(this.buf[this.pos + i]);
        this.pos += n;
        return s;
      }
      default:
        throw new JfrError(`unknown string encoding ${enc} at byte ${at}`);
    }
  }
}
