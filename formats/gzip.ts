/**
 * Bounded gunzip for request bodies.
 *
 * The output limit is enforced by zlib while it inflates, so a gzip bomb is refused
 * after producing at most `maxBytes` of output rather than after exhausting memory.
 */
import { gunzipSync } from 'node:zlib';
import { BadRequestError, ProfileTooLargeError } from '../core/errors.ts';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function inflateBounded(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (!isGzip(bytes)) throw new BadRequestError('not gzip data (missing the 1f 8b magic bytes)');
  if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be a non-negative number, got ${maxBytes}`);
  let out: Uint8Array;
  try {
    // zlib rejects a limit of 0, hence the floor of 1 and the re-check below.
    out = gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ProfileTooLargeError(`decompressed profile exceeds ${maxBytes} bytes`);
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new BadRequestError(`invalid gzip data: ${why}`);
  }
  if (out.length > maxBytes) throw new ProfileTooLargeError(`decompressed profile exceeds ${maxBytes} bytes`);
  return out;
}
