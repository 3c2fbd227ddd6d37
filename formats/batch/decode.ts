/**
 * Bytes → Batch (layout in layout.ts). Every read is bounds-checked and every index is
 * validated against its table, so garbage ends in a BadRequestError that names the byte where
 * decoding stopped, never in an out-of-range read, a huge allocation or a hang.
 */
import { inflateRawSync } from 'node:zlib';
import { BadRequestError } from '../../core/errors.ts';
import type { Batch, Labels, Profile, Sample, ValueType } from '../../core/model.ts';
import { Utf8Slicer } from '../protobuf/reader.ts';
import {
  DEFAULT_MAX_BODY_BYTES,
  FLAG_DEFLATE,
  HEADER_FIXED_BYTES,
  ID_AS_STRING,
  ID_SPAN,
  ID_TRACE,
  KNOWN_FLAGS,
  KNOWN_ID_FLAGS,
  MAGIC,
  MAX_VARINT_VALUE,
  VALUES_FLOAT64,
  VALUES_VARINT,
  VERSION,
} from './layout.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** The two lower-case hex digits of each byte value, as character codes. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const digits = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = digits.charCodeAt(0);
  HEX_CODES[2 * i + 1] = digits.charCodeAt(1);
}
/**
 * IDs are spelled into this buffer and sliced out as one flat string: cheaper than joining
 * two-digit strings (which also leaves a rope that every later read must flatten first).
 */
const ID_CHARS = new Uint8Array(64);
const ID_SLICER = new Utf8Slicer(ID_CHARS);

function invalid(what: string, at: number, where = ''): BadRequestError {
  return new BadRequestError(`invalid batch encoding: ${what} at byte ${at}${where}`);
}

class In {
  pos: number;
  private readonly view: DataView;
  private readonly slicer: Utf8Slicer;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    /** Said after a position in error messages: positions in an inflated body are not the message's. */
    private readonly where = '',
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.slicer = new Utf8Slicer(buf);
  }

  get left(): number {
    return this.buf.length - this.pos;
  }

  fail(what: string, at = this.pos): BadRequestError {
    return invalid(what, at, this.where);
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw this.fail('truncated');
    return this.buf[this.pos++];
  }

  /** An unsigned varint up to 2^53. */
  varint(): number {
    const buf = this.buf;
    let b = this.pos < buf.length ? buf[this.pos] : -1;
    if (b >= 0 && b < 0x80) {
      this.pos++;
      return b;
    }
    const at = this.pos;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= buf.length) throw this.fail('truncated varint');
      b = buf[this.pos++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (v > 2 ** 53) throw this.fail('varint out of range', at);
        return v;
      }
      scale *= 128;
    }
    throw this.fail('varint too long', at);
  }

  /** A count of items that each take at least `minBytes`: larger counts cannot be honest. */
  count(what: string, minBytes = 1): number {
    const at = this.pos;
    const n = this.varint();
    if (n * minBytes > this.left) throw this.fail(`${what} count ${n} exceeds the remaining ${this.left} bytes`, at);
    return n;
  }

  index(what: string, size: number): number {
    const at = this.pos;
    const n = this.varint();
    if (n >= size) throw this.fail(`${what} ${n} out of range (${size} entries)`, at);
    return n;
  }

  signed(): number {
    const z = this.varint();
    if (z > MAX_VARINT_VALUE * 2) throw this.fail('value out of range');
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  bigSigned(): bigint {
    const at = this.pos;
    let z = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw this.fail('truncated varint');
      const b = this.buf[this.pos++];
      z |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (z >= 1n << 64n) throw this.fail('varint out of range', at);
        return (z >> 1n) ^ -(z & 1n);
      }
      shift += 7n;
    }
    throw this.fail('varint too long', at);
  }

  float64(): number {
    if (this.left < 8) throw this.fail('truncated float64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  string(): string {
    const at = this.pos;
    const len = this.varint();
    if (len > this.left) throw this.fail(`string of ${len} bytes exceeds the remaining ${this.left} bytes`, at);
    const start = this.pos;
    this.pos += len;
    if (len === 0) return '';
    // Most strings are ASCII: checking that and slicing latin1 is far cheaper than a strict
    // UTF-8 decode, which only the rest need.
    const buf = this.buf;
    let i = start;
    const end = start + len;
    while (i < end && buf[i] < 0x80) i++;
    if (i === end) return this.slicer.latin1(start, end);
    try {
      return utf8.decode(this.buf.subarray(start, start + len));
    } catch {
      throw this.fail('string is not valid UTF-8', start);
    }
  }

  /** `n` bytes (at most 32) as lower-case hex. */
  hex(n: number): string {
    if (this.left < n) throw this.fail('truncated ID');
    const buf = this.buf;
    const at = this.pos;
    for (let i = 0; i < n; i++) {
      const b = buf[at + i];
      ID_CHARS[2 * i] = HEX_CODES[2 * b];
      ID_CHARS[2 * i + 1] = HEX_CODES[2 * b + 1];
    }
    this.pos = at + n;
    return ID_SLICER.latin1(0, 2 * n);
  }

  labels(what: string): Labels {
    const n = this.count(what, 2);
    const out: Labels = {};
    for (let i = 0; i < n; i++) {
      const at = this.pos;
      const k = this.string();
      if (Object.hasOwn(out, k)) throw this.fail(`duplicate ${what} name ${JSON.stringify(k.slice(0, 64))}`, at);
      const v = this.string();
      // A plain assignment to "__proto__" would be dropped (or would change the prototype).
      if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    return out;
  }
}

export interface DecodeBatchOptions {
  /** Limit on an inflated body, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
}

/** The header alone: enough to route or dead-letter a message without decoding the profile. */
export interface BatchHeader {
  tenant: string;
  idempotencyKey: string;
  labels: Labels;
}

export function decodeBatchHeader(bytes: Uint8Array): BatchHeader {
  return readHeader(bytes).header;
}

function readHeader(bytes: Uint8Array): { header: BatchHeader; flags: number; bodyStart: number } {
  if (bytes.length < HEADER_FIXED_BYTES) throw invalid(`${bytes.length} bytes is too short for a batch`, 0);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw invalid('not a Hearth batch (bad magic bytes)', i);
  }
  const version = bytes[MAGIC.length];
  if (version !== VERSION) throw invalid(`unsupported version ${version} (this build reads version ${VERSION})`, MAGIC.length);
  const flags = bytes[MAGIC.length + 1];
  if (flags & ~KNOWN_FLAGS) throw invalid(`unknown flags 0x${flags.toString(16)}`, MAGIC.length + 1);
  const r = new In(bytes, HEADER_FIXED_BYTES);
  const tenant = r.string();
  const idempotencyKey = r.string();
  const labels = r.labels('series label');
  return { header: { tenant, idempotencyKey, labels }, flags, bodyStart: r.pos };
}

export function decodeBatch(bytes: Uint8Array, opts: DecodeBatchOptions = {}): Batch {
  const { header, flags, bodyStart } = readHeader(bytes);
  if (flags & FLAG_DEFLATE) {
    const r = new In(bytes, bodyStart);
    const size = r.varint();
    const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (size > max) throw invalid(`body of ${size} bytes exceeds the limit of ${max}`, bodyStart);
    let body: Uint8Array;
    try {
      body = inflateRawSync(bytes.subarray(r.pos), { maxOutputLength: Math.max(1, size) });
    } catch (e) {
      throw invalid(`cannot inflate the body: ${(e as Error).message}`, r.pos);
    }
    if (body.length !== size) throw invalid(`body inflates to ${body.length} bytes, the header says ${size}`, bodyStart);
    return { ...header, profile: decodeProfile(new In(body, 0, ' of the inflated body'), 'inflated body') };
  }
  return { ...header, profile: decodeProfile(new In(bytes, bodyStart), 'message') };
}

function decodeProfile(r: In, what: string): Profile {
  const nTypes = r.count('sample type', 2);
  const sampleTypes: ValueType[] = [];
  for (let i = 0; i < nTypes; i++) sampleTypes.push({ type: r.string(), unit: r.string() });
  const periodType = { type: r.string(), unit: r.string() };
  const period = r.float64();
  const timeNanos = r.bigSigned();
  const durationNanos = r.bigSigned();

  const nNames = r.count('name', 1);
  if (nNames === 0) throw r.fail('the name table is empty (entry 0 must be "")');
  const names: string[] = new Array(nNames);
  for (let i = 0; i < nNames; i++) names[i] = r.string();
  if (names[0] !== '') throw r.fail('name 0 must be ""');

  const nStacks = r.count('stack', 1);
  // All stacks are views of one array: a typed array of its own per stack costs far more in
  // allocation and GC than the frames themselves. A first pass sizes it.
  const stacksAt = r.pos;
  let totalFrames = 0;
  for (let i = 0; i < nStacks; i++) {
    const depth = r.count('frame', 1);
    for (let d = 0; d < depth; d++) r.varint();
    totalFrames += depth;
  }
  r.pos = stacksAt;
  const frames = new Uint32Array(totalFrames);
  const stacks: Uint32Array[] = new Array(nStacks);
  let next = 0;
  for (let i = 0; i < nStacks; i++) {
    const depth = r.varint();
    const start = next;
    for (let d = 0; d < depth; d++) {
      const at = r.pos;
      const f = r.varint();
      if (f === 0 || f >= nNames) throw r.fail(`frame refers to name ${f} (valid: 1..${nNames - 1})`, at);
      frames[next++] = f;
    }
    stacks[i] = frames.subarray(start, next);
  }

  const nSets = r.count('label set', 1);
  if (nSets === 0) throw r.fail('the label set table is empty (set 0 must be the empty set)');
  const sampleLabelSets: Labels[] = new Array(nSets);
  for (let i = 0; i < nSets; i++) sampleLabelSets[i] = r.labels('sample label');
  if (Object.keys(sampleLabelSets[0]).length !== 0) throw r.fail('label set 0 must be empty');

  const encoding = r.byte();
  if (encoding !== VALUES_VARINT && encoding !== VALUES_FLOAT64) throw r.fail(`unknown value encoding ${encoding}`);
  const asFloat = encoding === VALUES_FLOAT64;
  const nSamples = r.count('sample', 3 + nTypes);
  const samples: Sample[] = new Array(nSamples);
  for (let i = 0; i < nSamples; i++) {
    const stack = r.index('stack', nStacks);
    const labelSet = r.index('label set', nSets);
    const flags = r.byte();
    if (flags & ~KNOWN_ID_FLAGS) throw r.fail(`unknown sample flags 0x${flags.toString(16)}`);
    const sample: Sample = { stack, values: new Array(nTypes), labelSet };
    if (flags & ID_AS_STRING) {
      if (flags & ID_SPAN) sample.spanId = r.string();
      if (flags & ID_TRACE) sample.traceId = r.string();
    } else {
      if (flags & ID_SPAN) sample.spanId = r.hex(8);
      if (flags & ID_TRACE) sample.traceId = r.hex(16);
    }
    const values = sample.values;
    if (asFloat) for (let t = 0; t < nTypes; t++) values[t] = r.float64();
    else for (let t = 0; t < nTypes; t++) values[t] = r.signed();
    samples[i] = sample;
  }
  if (r.left !== 0) throw r.fail(`${r.left} unexpected bytes after the ${what}`);
  return { sampleTypes, periodType, period, timeNanos, durationNanos, names, stacks, samples, sampleLabelSets };
}
