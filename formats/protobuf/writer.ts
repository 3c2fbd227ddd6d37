/**
 * A small growable protobuf wire-format writer, on the shared byte writer.
 *
 * Nested messages are written in place: `begin(field)` reserves one length byte and
 * `end()` patches it, shifting the payload only when the length needs more than one
 * byte. That keeps encoding single-pass without precomputing sizes.
 */
import { ByteWriter } from '../byte-writer.ts';
import { WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './reader.ts';

const TWO_32 = 4294967296;

export class ProtoWriter extends ByteWriter {
  private readonly open: number[] = [];

  /** The bytes written so far, as a view of the internal buffer. */
  override finish(): Uint8Array {
    if (this.open.length > 0) throw new Error(`${this.open.length} nested message(s) not ended`);
    return super.finish();
  }

  tag(field: number, wireType: number): this {
    return this.uvarint32(((field << 3) | wireType) >>> 0);
  }

  /** An unsigned 32-bit varint. */
  uint32(v: number): this {
    return this.uvarint32(v >>> 0);
  }

  /**
   * A varint for an int64 / uint64 given as a Number. Negative values are written as
   * 64-bit two's complement (10 bytes), as protobuf requires for int64.
   */
  varint(v: number): this {
    if (v >= 0 && v < TWO_32) return this.uvarint32(v >>> 0);
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
    return this.uvarint64(lo, hi);
  }

  bigint(v: bigint): this {
    const u = BigInt.asUintN(64, v);
    return this.uvarint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** A varint from its low and high unsigned 32-bit halves. */
  varint64(lo: number, hi: number): this {
    return this.uvarint64(lo, hi);
  }

  fixed32(v: number): this {
    return this.uint32LE(v);
  }

  fixed64(lo: number, hi: number): this {
    return this.uint64LE(lo, hi);
  }

  double(v: number): this {
    return this.float64LE(v);
  }

  /** `field` as a varint, omitted when zero (proto3 default). */
  varintField(field: number, v: number): this {
    if (v === 0) return this;
    return this.tag(field, WIRE_VARINT).varint(v);
  }

  boolField(field: number, v: boolean): this {
    if (!v) return this;
    return this.tag(field, WIRE_VARINT).uvarint32(1);
  }

  fixed32Field(field: number, v: number): this {
    return this.tag(field, WIRE_I32).fixed32(v);
  }

  fixed64Field(field: number, lo: number, hi: number): this {
    return this.tag(field, WIRE_I64).fixed64(lo, hi);
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_LEN).uvarint32(bytes.length);
    return this.raw(bytes);
  }

  /** A string field; always written, even when empty (repeated string tables need the empties). */
  stringField(field: number, s: string): this {
    return this.tag(field, WIRE_LEN).string(s);
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
    this.patchLength(start, 1, len);
    return this;
  }
}
