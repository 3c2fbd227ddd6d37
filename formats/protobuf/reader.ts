/**
 * A minimal protobuf wire-format reader over a Uint8Array.
 *
 * It knows nothing about schemas: codecs drive it field by field. Every read is
 * bounds-checked against `end` (the end of the message being read), so a hostile
 * length prefix can never make it read past its own message, and every failure is a
 * BadRequestError that names the byte offset where decoding stopped.
 */
import { BadRequestError } from '../../core/errors.ts';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_SGROUP = 3;
export const WIRE_EGROUP = 4;
export const WIRE_I32 = 5;

const TWO_32 = 4294967296;

export function truncated(at: number): BadRequestError {
  return new BadRequestError(`truncated protobuf at byte ${at}`);
}

export class ProtoReader {
  buf: Uint8Array;
  pos: number;
  end: number;
  /** Low and high 32 bits of the last 64-bit varint or fixed64 read by `varint64()` / `fixed64()`. */
  lo = 0;
  hi = 0;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    if (start < 0 || end > buf.length || start > end) {
      throw new RangeError(`reader bounds ${start}..${end} outside a buffer of ${buf.length} bytes`);
    }
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  eof(): boolean {
    return this.pos >= this.end;
  }

  /**
   * Reads a field key and returns it as `field << 3 | wireType` (use `>>> 3` and `& 7`).
   * Field number 0 and the two undefined wire types are rejected here, so callers can
   * rely on the wire type being one that `skip` understands.
   */
  tag(): number {
    const at = this.pos;
    const key = this.uint32();
    const wt = key & 7;
    if (key >>> 3 === 0) throw new BadRequestError(`invalid protobuf: field number 0 at byte ${at}`);
    if (wt > 5) throw new BadRequestError(`invalid protobuf: wire type ${wt} at byte ${at}`);
    return key;
  }

  /**
   * Decodes a varint of at most 4 bytes (values below 2^28) without leaving the caller's
   * inlined code, or returns -1 when the slow path is needed (longer encodings, or fewer
   * than 4 bytes left in the message).
   */
  private short(): number {
    const buf = this.buf;
    const pos = this.pos;
    if (this.end - pos < 4) {
      if (pos < this.end && buf[pos] < 0x80) {
        this.pos = pos + 1;
        return buf[pos];
      }
      return -1;
    }
    let b = buf[pos];
    if (b < 0x80) {
      this.pos = pos + 1;
      return b;
    }
    let v = b & 0x7f;
    b = buf[pos + 1];
    v |= (b & 0x7f) << 7;
    if (b < 0x80) {
      this.pos = pos + 2;
      return v;
    }
    b = buf[pos + 2];
    v |= (b & 0x7f) << 14;
    if (b < 0x80) {
      this.pos = pos + 3;
      return v;
    }
    b = buf[pos + 3];
    v |= (b & 0x7f) << 21;
    if (b < 0x80) {
      this.pos = pos + 4;
      return v;
    }
    return -1;
  }

  /** A varint truncated to its low 32 bits, unsigned. Longer encodings are consumed, not rejected. */
  uint32(): number {
    const v = this.short();
    if (v >= 0) return v;
    this.varint64();
    return this.lo;
  }

  /** A varint as a signed 32-bit integer (protobuf int32 / enum). */
  int32(): number {
    return this.uint32() | 0;
  }

  /** A varint as an unsigned 64-bit value converted to a Number (exact below 2^53). */
  uint64(): number {
    const v = this.short();
    if (v >= 0) return v;
    this.varint64();
    return this.hi * TWO_32 + this.lo;
  }

  /** A varint as a two's-complement signed 64-bit value converted to a Number (exact within ±2^53). */
  int64(): number {
    const v = this.short();
    if (v >= 0) return v;
    this.varint64();
    return (this.hi | 0) * TWO_32 + this.lo;
  }

  /** A zigzag-encoded varint (sint64) as a Number. */
  sint64(): number {
    this.varint64();
    const lo = this.lo;
    const hi = this.hi;
    // Undo zigzag on the 64-bit pair: value = (n >>> 1) ^ -(n & 1).
    const neg = -(lo & 1);
    const rlo = ((lo >>> 1) | (hi << 31)) ^ neg;
    const rhi = (hi >>> 1) ^ neg;
    return (rhi | 0) * TWO_32 + (rlo >>> 0);
  }

  uint64Big(): bigint {
    this.varint64();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  int64Big(): bigint {
    return BigInt.asIntN(64, this.uint64Big());
  }

  bool(): boolean {
    this.varint64();
    return (this.lo | this.hi) !== 0;
  }

  /**
   * Reads a varint of up to 10 bytes into `lo` / `hi` (both unsigned 32-bit).
   * An 11th continuation byte means the input is not protobuf.
   */
  varint64(): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw truncated(pos);
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    // Byte 5 straddles the two halves: 4 bits go to lo, 3 to hi.
    if (pos >= end) throw truncated(pos);
    b = buf[pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw new BadRequestError(`invalid protobuf: varint longer than 10 bytes at byte ${this.pos}`);
        if (pos >= end) throw truncated(pos);
        b = buf[pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  fixed32(): number {
    const pos = this.pos;
    if (this.end - pos < 4) throw truncated(this.end);
    const buf = this.buf;
    this.pos = pos + 4;
    return (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
  }

  sfixed32(): number {
    return this.fixed32() | 0;
  }

  /** Reads 8 little-endian bytes into `lo` / `hi` and returns the unsigned value as a Number. */
  fixed64(): number {
    this.lo = this.fixed32();
    this.hi = this.fixed32();
    return this.hi * TWO_32 + this.lo;
  }

  sfixed64(): number {
    this.fixed64();
    return (this.hi | 0) * TWO_32 + this.lo;
  }

  fixed64Big(): bigint {
    this.fixed64();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  double(): number {
    const pos = this.pos;
    if (this.end - pos < 8) throw truncated(this.end);
    this.pos = pos + 8;
    return new DataView(this.buf.buffer, this.buf.byteOffset + pos, 8).getFloat64(0, true);
  }

  float(): number {
    const pos = this.pos;
    if (this.end - pos < 4) throw truncated(this.end);
    this.pos = pos + 4;
    return new DataView(this.buf.buffer, this.buf.byteOffset + pos, 4).getFloat32(0, true);
  }

  /**
   * Reads a length prefix and returns the end offset of the payload; `pos` is left at
   * its start. The payload must fit in the current message.
   */
  delimited(): number {
    const buf = this.buf;
    let start = this.pos;
    let len: number;
    if (start < this.end && buf[start] < 0x80) {
      len = buf[start++];
      this.pos = start;
    } else {
      this.varint64();
      start = this.pos;
      // Lengths of 4 GiB or more cannot fit in any buffer we accept.
      if (this.hi !== 0) throw truncated(this.end);
      len = this.lo;
    }
    if (len > this.end - start) throw truncated(this.end);
    return start + len;
  }

  /** A length-delimited field as a view (no copy). */
  bytes(): Uint8Array {
    const end = this.delimited();
    const start = this.pos;
    this.pos = end;
    return this.buf.subarray(start, end);
  }

  string(): string {
    return decodeUtf8(this.bytes());
  }

  /** Skips the value of a field whose key (as returned by `tag()`) has just been read. */
  skipField(key: number): void {
    const wireType = key & 7;
    switch (wireType) {
      case WIRE_VARINT:
        this.skipVarint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.pos = this.delimited();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      case WIRE_SGROUP:
        this.skipGroup(key >>> 3);
        return;
      case WIRE_EGROUP:
        throw new BadRequestError(`invalid protobuf: unexpected end-group at byte ${this.pos}`);
      default:
        throw new BadRequestError(`invalid protobuf: wire type ${wireType} at byte ${this.pos}`);
    }
  }

  skipVarint(): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    const limit = pos + 10;
    while (true) {
      if (pos >= end) throw truncated(pos);
      if (pos >= limit) throw new BadRequestError(`invalid protobuf: varint longer than 10 bytes at byte ${this.pos}`);
      if (buf[pos++] < 0x80) break;
    }
    this.pos = pos;
  }

  advance(n: number): void {
    if (this.end - this.pos < n) throw truncated(this.end);
    this.pos += n;
  }

  /**
   * Skips a (deprecated) group after its start key. Nesting is tracked with an explicit
   * stack of field numbers instead of recursion, so hostile nesting depth costs memory
   * proportional to the input and never the call stack.
   */
  private skipGroup(field: number): void {
    const open: number[] = [field];
    while (open.length > 0) {
      if (this.pos >= this.end) throw truncated(this.pos);
      const at = this.pos;
      const key = this.tag();
      const wt = key & 7;
      if (wt === WIRE_SGROUP) {
        open.push(key >>> 3);
      } else if (wt === WIRE_EGROUP) {
        if (open.pop() !== key >>> 3) throw new BadRequestError(`invalid protobuf: mismatched end-group at byte ${at}`);
      } else {
        this.skipField(key);
      }
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Decodes UTF-8 from `bytes[start, end)`, replacing invalid sequences with U+FFFD: profile
 * strings come from symbol tables and are not guaranteed to be valid text, and one bad
 * name must not cost a whole profile.
 */
export function decodeUtf8(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (start === end) return '';
  return utf8.decode(bytes.subarray(start, end));
}

/**
 * A decoder for many small strings of one buffer. On Node it slices through a Buffer view
 * of the bytes, which is several times cheaper per call than TextDecoder for the short
 * strings of symbol tables; both replace invalid UTF-8 the same way (WHATWG).
 */
export class Utf8Slicer {
  private readonly bytes: Uint8Array;
  private readonly node: NodeSlices | undefined;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    let node: NodeSlices | undefined;
    if (typeof Buffer === 'function') {
      const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as Partial<NodeSlices>;
      // The direct slicers skip toString()'s argument handling; every Node release has them,
      // but they are undocumented, so fall back to toString() if they ever disappear.
      if (typeof b.utf8Slice === 'function' && typeof b.latin1Slice === 'function') node = b as NodeSlices;
      else {
        const buf = b as unknown as Buffer;
        node = {
          utf8Slice: (s, e) => buf.toString('utf8', s, e),
          latin1Slice: (s, e) => buf.toString('latin1', s, e),
        };
      }
    }
    this.node = node;
  }

  slice(start: number, end: number): string {
    if (start === end) return '';
    return this.node !== undefined ? this.node.utf8Slice(start, end) : utf8.decode(this.bytes.subarray(start, end));
  }

  /** For ranges the caller has checked to be ASCII, where latin1 and UTF-8 agree and latin1 is cheaper. */
  latin1(start: number, end: number): string {
    if (start === end) return '';
    return this.node !== undefined ? this.node.latin1Slice(start, end) : utf8.decode(this.bytes.subarray(start, end));
  }
}

interface NodeSlices {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
