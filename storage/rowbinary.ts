/**
 * A RowBinary encoder: ClickHouse's native row format, written straight into the shared
 * growable byte writer. Binary rows cost ClickHouse almost nothing to parse, unlike text formats
 * where a 20-digit decimal ID costs more to parse than the 8 bytes it stands for.
 */
import { ByteWriter } from '../formats/byte-writer.ts';
import type { Id64 } from './ids.ts';

export class RowBinaryWriter extends ByteWriter {
  constructor(initialBytes = 64 * 1024) {
    super(initialBytes);
  }

  /** VarUInt: the length of a String or an Array. */
  varUInt(v: number): this {
    return this.uvarint(v);
  }

  /** FixedString(n) from raw bytes (zero-padded). */
  fixed(bytes: Uint8Array, n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.buf.set(bytes.subarray(0, n), this.pos);
    this.pos += n;
    return this;
  }

  uint64(id: Id64): this {
    return this.uint64LE(id.lo, id.hi);
  }

  uint64Parts(hi: number, lo: number): this {
    return this.uint64LE(lo, hi);
  }

  /** Int64 from a number, rounded to an integer. */
  int64(v: number): this {
    return this.int64LE(Math.round(v));
  }

  /** DateTime64(3): milliseconds as Int64. */
  dateTime64ms(ms: number): this {
    return this.int64(ms);
  }

  /** Date: days since the epoch as UInt16. */
  date(ms: number): this {
    return this.uint16LE(Math.floor(ms / 86_400_000));
  }

  bytes(): Uint8Array {
    return this.finish();
  }
}
