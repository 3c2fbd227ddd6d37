/**
 * The error every OTLP codec throws for input it cannot take. It carries the HTTP status the
 * client should see (400 malformed, 413 over a size limit), so receivers need no mapping.
 */
import { HearthError } from '../../core/errors.ts';

export class OtlpDecodeError extends HearthError {
  constructor(message: string, status: 400 | 413 = 400) {
    super(status, message);
  }
}

/** Runs a decoder and turns the protobuf reader's errors (or a stack overflow) into OtlpDecodeErrors. */
export function asOtlpError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw err;
    if (err instanceof HearthError) throw new OtlpDecodeError(`invalid ${what}: ${err.message}`);
    if (err instanceof RangeError) throw new OtlpDecodeError(`invalid ${what}: ${err.message}`);
    throw err;
  }
}

export function checkSize(bytes: Uint8Array, maxBytes: number, what: string): void {
  if (bytes.length > maxBytes) {
    throw new OtlpDecodeError(`${what} is ${bytes.length} bytes, over the limit of ${maxBytes} bytes`, 413);
  }
}
