/**
 * Reading OTLP/JSON (protobuf's canonical JSON mapping, as the OTLP spec narrows it): camelCase
 * keys (snake_case accepted too), 64-bit integers as decimal strings or numbers, trace and span
 * IDs as hex, other bytes as base64, enums as numbers. Every helper names the JSON path of
 * what it refused.
 */
import { OtlpDecodeError } from './errors.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A field by its JSON name or its proto name; null counts as absent, as in protojson. */
export function field(o: JsonObject, camel: string, snake?: string): unknown {
  let v = Object.hasOwn(o, camel) ? o[camel] : undefined;
  if (v === undefined && snake !== undefined && Object.hasOwn(o, snake)) v = o[snake];
  return v === null ? undefined : v;
}

export function objectOf(v: unknown, path: string): JsonObject {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new OtlpDecodeError(`${path}: expected an object`);
  return v;
}

export function listOf(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpDecodeError(`${path}: expected a list`);
  return v;
}

export function stringOf(v: unknown, path: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new OtlpDecodeError(`${path}: expected a string`);
  return v;
}

const INT = /^-?\d{1,20}$/;

/** An int64/uint64/fixed64 as a bigint: a decimal string or an integral number. */
export function int64Of(v: unknown, path: string): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INT.test(v)) {
    const b = BigInt(v);
    if (b >= -(1n << 63n) && b < 1n << 64n) return b;
  }
  throw new OtlpDecodeError(`${path}: expected a 64-bit integer (a number or a decimal string)`);
}

/** A 64-bit integer as a Number, refused when it cannot be exact. */
export function safeIntOf(v: unknown, path: string): number {
  const b = int64Of(v, path);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new OtlpDecodeError(`${path}: ${b} is too large to add up exactly`);
  }
  return Number(b);
}

export function int32Of(v: unknown, path: string): number {
  if (v === undefined) return 0;
  const n = typeof v === 'string' && INT.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -2147483648 || n > 4294967295) {
    throw new OtlpDecodeError(`${path}: expected a 32-bit integer`);
  }
  return n | 0;
}

/** An enum: its number, or (as protojson also accepts) its name from `names`. */
export function enumOf(v: unknown, path: string, names: readonly string[]): number {
  if (typeof v === 'string' && !INT.test(v)) {
    const i = names.indexOf(v);
    if (i < 0) throw new OtlpDecodeError(`${path}: unknown value ${JSON.stringify(v.slice(0, 64))}`);
    return i;
  }
  return int32Of(v, path);
}

const HEX = /^[0-9a-fA-F]*$/;

/** A trace or span ID in OTLP/JSON's hex form; "" when absent or empty. */
export function hexIdOf(v: unknown, bytes: number, path: string): string {
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string' || v.length !== bytes * 2 || !HEX.test(v)) {
    throw new OtlpDecodeError(`${path}: expected ${bytes * 2} hex characters`);
  }
  return v.toLowerCase();
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function base64Bytes(v: unknown, path: string): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v)) throw new OtlpDecodeError(`${path}: expected base64 bytes`);
  return new Uint8Array(Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64'));
}

/** Parses a JSON body; the caller has already bounded its size. */
export function parseJson(bytes: Uint8Array, what: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new OtlpDecodeError(`invalid ${what} JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(v)) throw new OtlpDecodeError(`invalid ${what} JSON: expected an object at the top level`);
  return v;
}
