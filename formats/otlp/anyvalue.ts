/**
 * OTLP attribute values (common.v1.AnyValue, KeyValue), decoded from protobuf or JSON into one
 * shape. String references into a profiles dictionary (`string_value_strindex`, `key_strindex`)
 * stay references until the dictionary is known: it may come after the attributes on the wire.
 */
import { ProtoReader } from '../protobuf/reader.ts';
import { OtlpDecodeError } from './errors.ts';
import { base64Bytes, field, int32Of, int64Of, isObject, listOf, stringOf } from './json.ts';

/** Nesting of arrays and key-value lists deeper than this is refused (no real attribute needs it). */
export const MAX_VALUE_DEPTH = 16;

export interface StrRef {
  strindex: number;
}
export interface KvList {
  kv: KeyValue[];
}
export type AnyValue = string | boolean | bigint | number | Uint8Array | StrRef | KvList | AnyValue[] | null;

export interface KeyValue {
  key: string;
  /** Index into the dictionary's string table; 0 when `key` is used. */
  keyStrindex: number;
  value: AnyValue;
}

// ---- protobuf ---------------------------------------------------------------------------

export function readAnyValue(r: ProtoReader, end: number, depth: number): AnyValue {
  if (depth > MAX_VALUE_DEPTH) throw new OtlpDecodeError(`attribute values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  const outer = r.end;
  r.end = end;
  let v: AnyValue = null;
  while (r.pos < end) {
    const key = r.tag();
    switch (key) {
      case (1 << 3) | 2:
        v = r.string();
        break;
      case (2 << 3) | 0:
        v = r.bool();
        break;
      case (3 << 3) | 0:
        v = r.int64Big();
        break;
      case (4 << 3) | 1:
        v = r.double();
        break;
      case (5 << 3) | 2: {
        const e = r.delimited();
        r.end = e;
        const items: AnyValue[] = [];
        while (r.pos < e) {
          const k = r.tag();
          if (k === ((1 << 3) | 2)) {
            const ve = r.delimited();
            items.push(readAnyValue(r, ve, depth + 1));
            r.end = e;
          } else r.skipField(k);
        }
        v = items;
        break;
      }
      case (6 << 3) | 2: {
        const e = r.delimited();
        r.end = e;
        const kv: KeyValue[] = [];
        while (r.pos < e) {
          const k = r.tag();
          if (k === ((1 << 3) | 2)) {
            const ke = r.delimited();
            kv.push(readKeyValue(r, ke, depth + 1));
            r.end = e;
          } else r.skipField(k);
        }
        v = { kv };
        break;
      }
      case (7 << 3) | 2:
        v = r.bytes();
        break;
      case (8 << 3) | 0:
        v = { strindex: r.int32() };
        break;
      default:
        r.skipField(key);
    }
    r.end = end;
  }
  r.end = outer;
  return v;
}

/** Reads a KeyValue whose payload ends at `end`; leaves `r.end` as it found it. */
export function readKeyValue(r: ProtoReader, end: number, depth = 0): KeyValue {
  const outer = r.end;
  r.end = end;
  const out: KeyValue = { key: '', keyStrindex: 0, value: null };
  while (r.pos < end) {
    const key = r.tag();
    if (key === ((1 << 3) | 2)) out.key = r.string();
    else if (key === ((2 << 3) | 2)) {
      const e = r.delimited();
      out.value = readAnyValue(r, e, depth + 1);
      r.end = end;
    } else if (key === ((3 << 3) | 0)) out.keyStrindex = r.int32();
    else r.skipField(key);
  }
  r.end = outer;
  return out;
}

// ---- JSON -------------------------------------------------------------------------------

export function jsonAnyValue(v: unknown, path: string, depth = 0): AnyValue {
  if (depth > MAX_VALUE_DEPTH) throw new OtlpDecodeError(`${path}: attribute values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new OtlpDecodeError(`${path}: expected an AnyValue object`);
  let x: unknown;
  if ((x = field(v, 'stringValue', 'string_value')) !== undefined) return stringOf(x, `${path}.stringValue`);
  if ((x = field(v, 'boolValue', 'bool_value')) !== undefined) {
    if (typeof x !== 'boolean') throw new OtlpDecodeError(`${path}.boolValue: expected true or false`);
    return x;
  }
  if ((x = field(v, 'intValue', 'int_value')) !== undefined) return int64Of(x, `${path}.intValue`);
  if ((x = field(v, 'doubleValue', 'double_value')) !== undefined) {
    if (typeof x === 'number') return x;
    if (x === 'NaN' || x === 'Infinity' || x === '-Infinity') return Number(x);
    throw new OtlpDecodeError(`${path}.doubleValue: expected a number`);
  }
  if ((x = field(v, 'arrayValue', 'array_value')) !== undefined) {
    const inner = isObject(x) ? field(x, 'values') : undefined;
    return listOf(inner, `${path}.arrayValue.values`).map((e, i) => jsonAnyValue(e, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if ((x = field(v, 'kvlistValue', 'kvlist_value')) !== undefined) {
    const inner = isObject(x) ? field(x, 'values') : undefined;
    return { kv: listOf(inner, `${path}.kvlistValue.values`).map((e, i) => jsonKeyValue(e, `${path}.kvlistValue.values[${i}]`, depth + 1)) };
  }
  if ((x = field(v, 'bytesValue', 'bytes_value')) !== undefined) return base64Bytes(x, `${path}.bytesValue`);
  if ((x = field(v, 'stringValueStrindex', 'string_value_strindex')) !== undefined) return { strindex: int32Of(x, `${path}.stringValueStrindex`) };
  return null;
}

export function jsonKeyValue(v: unknown, path: string, depth = 0): KeyValue {
  if (!isObject(v)) throw new OtlpDecodeError(`${path}: expected a KeyValue object`);
  const key = field(v, 'key');
  const ks = field(v, 'keyStrindex', 'key_strindex');
  return {
    key: key === undefined ? '' : stringOf(key, `${path}.key`),
    keyStrindex: ks === undefined ? 0 : int32Of(ks, `${path}.keyStrindex`),
    value: jsonAnyValue(field(v, 'value'), `${path}.value`, depth + 1),
  };
}

export function jsonKeyValues(v: unknown, path: string): KeyValue[] {
  return listOf(v, path).map((e, i) => jsonKeyValue(e, `${path}[${i}]`));
}

// ---- resolution -------------------------------------------------------------------------

/** Looks a string up in a dictionary's string table, naming what referred to it when out of range. */
export function stringAt(strings: readonly string[], i: number, what: string): string {
  if (i === 0) return '';
  if (!(i > 0 && i < strings.length)) throw new OtlpDecodeError(`${what} refers to string ${i}, outside the string table (${strings.length} strings)`);
  return strings[i];
}

export function keyOf(kv: KeyValue, strings: readonly string[]): string {
  return kv.key !== '' ? kv.key : stringAt(strings, kv.keyStrindex, 'an attribute key');
}

/**
 * The value as a label value, the way Pyroscope's OTLP ingest reads it: strings and integers
 * (and booleans and doubles, which it drops, as their text); a one-element array as its element;
 * anything else is no label ("").
 */
export function labelValueOf(v: AnyValue, strings: readonly string[]): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (v === null || v instanceof Uint8Array) return '';
  if (Array.isArray(v)) return v.length === 1 && !Array.isArray(v[0]) ? labelValueOf(v[0], strings) : '';
  if ('strindex' in v) return stringAt(strings, v.strindex, 'an attribute value');
  return '';
}

/** The value as text for span attributes: scalars as they are, lists and maps as compact JSON. */
export function textOf(v: AnyValue, strings: readonly string[] = []): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (v === null) return '';
  return JSON.stringify(toPlain(v, strings));
}

function toPlain(v: AnyValue, strings: readonly string[]): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map((e) => toPlain(e, strings));
  if (v !== null && typeof v === 'object') {
    if ('strindex' in v) return stringAt(strings, v.strindex, 'an attribute value');
    const o: Record<string, unknown> = {};
    for (const kv of v.kv) o[keyOf(kv, strings)] = toPlain(kv.value, strings);
    return o;
  }
  return v;
}
