/**
 * A group of batches in one message, so that a publisher can send many small profiles at once:
 *
 *   magic    4 bytes  "HBAG"
 *   version  1 byte   1
 *   count    varint   number of batches, at least 1
 *   batches           each: varint byte length, then one batch in the single-batch encoding
 *                     (layout.ts), with its own header and its own compression
 *
 * A reader takes either form: decodeBatches() returns one batch for a single-batch message.
 */
import { BadRequestError } from '../../core/errors.ts';
import type { Batch } from '../../core/model.ts';
import { decodeBatch, type DecodeBatchOptions } from './decode.ts';
import { MAGIC } from './layout.ts';
import { ByteWriter, varintSize } from '../byte-writer.ts';

const GROUP_MAGIC = [0x48, 0x42, 0x41, 0x47] as const; // "HBAG"
const GROUP_VERSION = 1;
/** Bytes a group adds around its members: magic, version, count, and a length per member. */
export const GROUP_OVERHEAD_BYTES = 5 + 10;
export const GROUP_MEMBER_OVERHEAD_BYTES = 10;

/** Several encoded batches (encodeBatch's output) as one group message. */
export function encodeBatchGroup(encoded: readonly Uint8Array[]): Uint8Array {
  if (!encoded.length) throw new Error('a batch group needs at least one batch');
  let size = GROUP_MAGIC.length + 1 + varintSize(encoded.length);
  for (const e of encoded) size += varintSize(e.length) + e.length;
  const out = new ByteWriter(size);
  out.raw(GROUP_MAGIC).byte(GROUP_VERSION).uvarint(encoded.length);
  for (const e of encoded) out.uvarint(e.length).raw(e);
  // Sized exactly up front, so the writer's buffer is the message itself.
  return out.buf.length === out.pos ? out.buf : out.finish();
}

function invalid(what: string, at: number): BadRequestError {
  return new BadRequestError(`invalid batch group: ${what} at byte ${at}`);
}

function isGroup(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && GROUP_MAGIC.every((b, i) => bytes[i] === b);
}

/** The batches of a message, in either the single-batch or the group encoding. */
export function decodeBatches(bytes: Uint8Array, opts: DecodeBatchOptions = {}): Batch[] {
  if (!isGroup(bytes)) return [decodeBatch(bytes, opts)];
  let pos = 4;
  if (bytes.length <= pos) throw invalid('truncated', pos);
  const version = bytes[pos++];
  if (version !== GROUP_VERSION) throw invalid(`unsupported version ${version} (this build reads version ${GROUP_VERSION})`, pos - 1);
  const readVarint = (): number => {
    const at = pos;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= bytes.length) throw invalid('truncated varint', at);
      const b = bytes[pos++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw invalid('varint too long', at);
  };
  const count = readVarint();
  // Each member takes at least its length byte and a batch's fixed header.
  if (count === 0 || count > (bytes.length - pos) / (1 + MAGIC.length + 2)) throw invalid(`count ${count} does not fit the ${bytes.length - pos} bytes left`, pos);
  const out: Batch[] = [];
  for (let i = 0; i < count; i++) {
    const at = pos;
    const len = readVarint();
    if (len > bytes.length - pos) throw invalid(`member ${i} of ${len} bytes runs past the end`, at);
    try {
      out.push(decodeBatch(bytes.subarray(pos, pos + len), opts));
    } catch (e) {
      throw new BadRequestError(`invalid batch group: member ${i} (at byte ${pos}): ${(e as Error).message}`);
    }
    pos += len;
  }
  if (pos !== bytes.length) throw invalid(`${bytes.length - pos} bytes after the last member`, pos);
  return out;
}
