/**
 * pprof (google/pprof profile.proto) → the normalized Profile of core/model.ts.
 *
 * This is the ingest hot path, so the decoder never materialises pprof's object graph:
 *  1. one scan of the top-level message records where each sample, location, function,
 *     mapping and string starts, plus the ids of locations and functions (offsets and
 *     numbers only, no objects);
 *  2. samples are decoded in one pass; a location (and the functions of its lines) is
 *     parsed the first time a sample refers to it, and stacks are deduplicated through an
 *     open-addressing hash table.
 * Strings become JS strings only when something needs them (a frame name, a sample type,
 * a label), so unreferenced symbols cost nothing. Intermediate tables live in a scratch
 * arena reused across calls: fresh multi-megabyte typed arrays on every request would make
 * V8 collect far more often than the decoded profile itself requires.
 *
 * Every malformed input ends in a BadRequestError or ProfileTooLargeError; all loops are
 * bounded by the input size and nothing recurses on input-controlled depth.
 */
import { BadRequestError, ProfileTooLargeError } from '../../core/errors.ts';
import type { Labels, Profile, Sample, ValueType } from '../../core/model.ts';
import { normalizeSpanId, normalizeTraceId, PYROSCOPE_SPAN_ID_LABELS, PYROSCOPE_TRACE_ID_LABELS } from '../../core/span-ids.ts';
import { inflateBounded, isGzip } from '../gzip.ts';
import { ProtoReader, truncated, Utf8Slicer } from '../protobuf/reader.ts';

/** Pyroscope's default limit on an uncompressed profile. */
export const DEFAULT_MAX_PPROF_BYTES = 4 * 1024 * 1024;
/** Deeper stacks are rejected: no real profiler produces them, and they cost memory per sample. */
export const MAX_STACK_DEPTH = 16384;
/** String labels per sample; they become series labels, which Pyroscope caps at 30 by default. */
export const MAX_SAMPLE_LABELS = 1024;

export interface DecodePprofOptions {
  /** Limit on the uncompressed profile size, in bytes. Default 4 MiB. */
  maxBytes?: number;
}

/** Decodes a gzipped or raw pprof profile. Throws BadRequestError or ProfileTooLargeError on bad input. */
export function decodePprof(input: Uint8Array, opts: DecodePprofOptions = {}): Profile {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PPROF_BYTES;
  let raw: Uint8Array;
  if (isGzip(input)) {
    raw = inflateBounded(input, maxBytes);
  } else {
    if (input.length > maxBytes) {
      throw new ProfileTooLargeError(`profile is ${input.length} bytes, which exceeds the limit of ${maxBytes} bytes`);
    }
    raw = input;
  }
  if (raw.length === 0) throw new BadRequestError('empty pprof profile');
  try {
    return new PprofDecoder(raw).decode();
  } finally {
    scratch.trim();
  }
}

// ---- scratch arena ---------------------------------------------------------------------

type Typed = Int32Array | Uint32Array | Float64Array | Int8Array;
/** Beyond this, scratch is released after the call instead of being kept for the next one. */
const SCRATCH_KEEP_BYTES = 48 * 1024 * 1024;

/**
 * Reusable typed arrays, keyed by purpose. Arrays come back dirty and possibly longer than
 * asked for: callers initialise what they read and keep logical sizes themselves.
 * Decoding is synchronous, so one arena per thread is never shared by two decodes.
 */
class Scratch {
  private readonly arrays = new Map<string, Typed>();

  i32(key: string, n: number): Int32Array {
    return this.get(key, n, Int32Array);
  }
  u32(key: string, n: number): Uint32Array {
    return this.get(key, n, Uint32Array);
  }
  f64(key: string, n: number): Float64Array {
    return this.get(key, n, Float64Array);
  }
  i8(key: string, n: number): Int8Array {
    return this.get(key, n, Int8Array);
  }

  /** Returns an array of at least `n` elements holding the first `keep` elements of the current one. */
  grow<T extends Typed>(key: string, cur: T, keep: number, n: number): T {
    if (cur.length >= n) return cur;
    const next = new (cur.constructor as new (len: number) => T)(Math.max(n, cur.length * 2));
    next.set(cur.subarray(0, keep) as never);
    this.arrays.set(key, next);
    return next;
  }

  trim(): void {
    let bytes = 0;
    for (const a of this.arrays.values()) bytes += a.byteLength;
    if (bytes > SCRATCH_KEEP_BYTES) this.arrays.clear();
  }

  private get<T extends Typed>(key: string, n: number, ctor: new (len: number) => T): T {
    const have = this.arrays.get(key) as T | undefined;
    if (have !== undefined && have.length >= n) return have;
    const a = new ctor(Math.max(n, 256, have !== undefined ? have.length * 2 : 0));
    this.arrays.set(key, a);
    return a;
  }
}

const scratch = new Scratch();

// ---- decoder ---------------------------------------------------------------------------

// Top-level keys (field << 3 | wire type) of perftools.profiles.Profile.
const K_SAMPLE_TYPE = (1 << 3) | 2;
const K_SAMPLE = (2 << 3) | 2;
const K_MAPPING = (3 << 3) | 2;
const K_LOCATION = (4 << 3) | 2;
const K_FUNCTION = (5 << 3) | 2;
const K_STRING = (6 << 3) | 2;
const K_TIME = (9 << 3) | 0;
const K_DURATION = (10 << 3) | 0;
const K_PERIOD_TYPE = (11 << 3) | 2;
const K_PERIOD = (12 << 3) | 0;
/** Fields whose wire type the schema fixes; another wire type means the bytes are not a pprof. */
const TOP_FIELD_NAMES: Record<number, string> = {
  1: 'sample_type', 2: 'sample', 3: 'mapping', 4: 'location', 5: 'function', 6: 'string_table',
  9: 'time_nanos', 10: 'duration_nanos', 11: 'period_type', 12: 'period',
};

/** Marks multi-frame entries in the location index; far above any position or pool offset. */
const MULTI_FRAME = 2 ** 30;
const FNV_PRIME = 0x01000193;
const LABEL_PLAIN = 1;
const LABEL_SPAN = 2;
const LABEL_TRACE = 3;
const LABEL_SKIP = 4;

/** Location or function id → position, dense (typed array) or sparse (Map). */
interface IdIndex {
  dense: Int32Array | undefined;
  /** Logical length of `dense`; the scratch array may be longer. */
  denseLen: number;
  map: Map<number, number> | undefined;
}

class PprofDecoder {
  private readonly buf: Uint8Array;
  private readonly r: ProtoReader;
  private readonly utf8: Utf8Slicer;
  /**
   * Starting value of the name and stack hashes, random per decode: with a fixed one, a
   * client could craft thousands of names or stacks that share a hash and turn the
   * linear-probing tables quadratic.
   */
  private readonly seed = (Math.random() * 0x100000000) | 0;

  // (start, end) offsets recorded by the top-level scan.
  private sampleOff: Int32Array;
  private nSamples = 0;
  private locOff: Int32Array;
  private nLocs = 0;
  private fnOff: Int32Array;
  private nFns = 0;
  private mapOff: Int32Array;
  private nMaps = 0;
  private strOff: Int32Array;
  private nStrs = 0;

  private locIds: Float64Array;
  private fnIds: Float64Array;
  private anyZeroFnId = false;

  private readonly sampleTypeIdx: number[] = [];
  private periodTypeIdx: [number, number] = [0, 0];
  private period = 0;
  private timeNanos = 0n;
  private durationNanos = 0n;

  /** Decoded strings by table index; only strings used outside frame names land here. */
  private readonly strCache = new Map<number, string>();
  private stringsKnown = false;

  /** Function id → position + 1 (0: no such function). */
  private fnIndex!: IdIndex;
  /** Frame name index of each function once resolved (0: not yet, or unnamed). */
  private fnFrame!: Int32Array;

  /** Mapping id → string index of its filename. */
  private readonly mapFile = new Map<number, number>();

  /**
   * Location id → what a sample needs, in one lookup:
   *   0                    no location has that id;
   *   > 0                  a resolved location with a single frame: the frame's name index;
   *   -2^30 < v < 0        a location not resolved yet, at position -v - 1;
   *   v <= -2^30           a resolved location with several frames (inlining): `framePool`
   *                        at -v - 2^30 holds their count, then the frames, leaf first.
   */
  private locIndex!: IdIndex;
  private framePool: Uint32Array;
  private nFramePool = 0;
  private lineTmp: Float64Array;

  // Frame names, deduplicated through an open-addressing table keyed by a hash of their
  // code units: cheaper than a Map<string>, and for ASCII names it is computed straight
  // from the string table's bytes, so duplicates are never decoded.
  //
  // Locations are resolved in file order before the samples are read (memory is then read
  // front to back, not in the order samples happen to refer to it), but the profile lists
  // names in the order samples first use them. So interning yields a provisional name id,
  // and a name gets its place in `names` when a sample first reaches it (`finalName`).
  /** Provisional names; slots of `nameSlots` hold their indices, `nameHash` their hashes. */
  private readonly provNames: string[] = [''];
  private nameSlots: Int32Array;
  private nameHash: Int32Array;
  private nameMask: number;
  /** Index in `names` of each provisional name, 0 while no sample has used it. */
  private nameFinal: Int32Array;
  private readonly names: string[] = [''];
  /**
   * Frames of each location as provisional names, by position: 0 when the location was not
   * resolved ahead (a duplicate id, or malformed: such a location is parsed again when a
   * sample refers to it, so that its error surfaces exactly where it used to); > 0 a single
   * frame; < 0 several, at `provPool[-v - 1]` (count, then the frames, leaf first).
   */
  private locProv!: Int32Array;
  private provPool: Int32Array;
  private nProvPool = 0;

  // Unique stacks, stored back to back in `stackPool`; a sample's frames are written at
  // its tail and kept only when the stack is new.
  private stackPool!: Uint32Array;
  private nStackPool = 0;
  private stackStart!: Int32Array;
  private stackLen!: Int32Array;
  private stackHash!: Int32Array;
  private nStacks = 0;
  /**
   * Stack index + 1 per slot (0: empty); see `internStack`. Hashes live in `stackHash`, so
   * that the table is 4 bytes a slot: most stacks of a CPU profile are new, and their probe
   * ends at the first, randomly placed, slot, which is then more often in cache.
   */
  private slots!: Int32Array;
  private slotMask = 0;

  // Labels.
  private labelKind: Int8Array | undefined;
  private labelCanon: Int32Array | undefined;
  private readonly labelStrIds = new Map<string, number>();
  private readonly labelSets: Labels[] = [{}];
  // Distinct label sets by their (canonical key, canonical value) pairs, through an
  // open-addressing table: no string key per sample. Set i (from 1) has `setPairCount[i]`
  // pairs at `setPairs[setPairStart[i]]`.
  private setSlots: Int32Array | undefined;
  private setMask = 0;
  private setHash!: Int32Array;
  private setPairStart!: Int32Array;
  private setPairCount!: Int32Array;
  private setPairs!: Int32Array;
  private nSetPairs = 0;
  private labelBuf: Int32Array;
  private plainBuf: Int32Array;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.r = new ProtoReader(buf);
    this.utf8 = new Utf8Slicer(buf);
    // A rough capacity for the offset tables, so that typical profiles never regrow them.
    const guess = Math.max(1024, buf.length >> 5);
    this.sampleOff = scratch.i32('sampleOff', guess);
    this.locOff = scratch.i32('locOff', guess);
    this.fnOff = scratch.i32('fnOff', guess);
    this.strOff = scratch.i32('strOff', guess);
    this.mapOff = scratch.i32('mapOff', 64);
    this.locIds = scratch.f64('locIds', guess >> 1);
    this.fnIds = scratch.f64('fnIds', guess >> 1);
    this.framePool = scratch.u32('framePool', 1024);
    this.lineTmp = scratch.f64('lineTmp', 64);
    this.nameSlots = scratch.i32('nameSlots', 2048).fill(0, 0, 2048);
    this.nameMask = 2047;
    this.nameHash = scratch.i32('nameHash', 1024);
    this.nameFinal = scratch.i32('nameFinal', 1024);
    this.provPool = scratch.i32('provPool', 1024);
    this.labelBuf = scratch.i32('labelBuf', 64);
    this.plainBuf = scratch.i32('labelPlain', 128);
  }

  decode(): Profile {
    this.scanTop();
    this.checkStrings();
    this.indexFunctions();
    this.parseMappings();
    this.locIndex = buildIndex('locIndex', this.locIds, this.nLocs, -1);
    this.resolveLocationsAhead();
    const samples = this.decodeSamples();

    const st = this.sampleTypeIdx;
    const sampleTypes: ValueType[] = [];
    for (let i = 0; i < st.length; i += 2) sampleTypes.push({ type: this.str(st[i]), unit: this.str(st[i + 1]) });

    // Every stack is a view into one exact-size backing store owned by the result.
    const pool = exactCopy(this.stackPool, this.nStackPool);
    const stacks: Uint32Array[] = [];
    for (let i = 0; i < this.nStacks; i++) stacks.push(new Uint32Array(pool, this.stackStart[i] * 4, this.stackLen[i]));

    return {
      sampleTypes,
      periodType: { type: this.str(this.periodTypeIdx[0]), unit: this.str(this.periodTypeIdx[1]) },
      period: this.period,
      timeNanos: this.timeNanos,
      durationNanos: this.durationNanos,
      names: this.names,
      stacks,
      samples,
      sampleLabelSets: this.labelSets,
    };
  }

  // ---- phase 1: top level -------------------------------------------------------------

  private scanTop(): void {
    const r = this.r;
    const buf = this.buf;
    if (r.pos < r.end) {
      // Most foreign payloads (legacy gperftools profiles, JSON, text) fail on their very
      // first bytes; say so instead of reporting an obscure offset.
      const at = r.pos;
      try {
        const key = r.tag();
        const name = TOP_FIELD_NAMES[key >>> 3];
        if (name !== undefined && !isExpectedWireType(key)) throw new BadRequestError(`field ${name} has wire type ${key & 7}`);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new BadRequestError(`not a pprof protobuf profile (legacy or unknown format): ${why}`);
      }
      r.pos = at;
    }
    while (r.pos < r.end) {
      this.scanEntries();
      if (r.pos >= r.end) break;
      // The bulk of a profile is samples, locations, functions and strings, whose keys are
      // single bytes: handle them without the general key decoding.
      const k = buf[r.pos];
      if (k === K_STRING || k === K_SAMPLE || k === K_LOCATION || k === K_FUNCTION) {
        r.pos++;
        this.recordEntry(k);
        continue;
      }
      const key = r.tag();
      switch (key) {
        case K_MAPPING: {
          const end = r.delimited();
          this.mapOff = pushPair('mapOff', this.mapOff, this.nMaps++, r.pos, end);
          r.pos = end;
          break;
        }
        case K_SAMPLE_TYPE: {
          const vt = this.valueType(r.delimited());
          this.sampleTypeIdx.push(vt[0], vt[1]);
          break;
        }
        case K_PERIOD_TYPE:
          this.periodTypeIdx = this.valueType(r.delimited());
          break;
        case K_PERIOD:
          this.period = r.int64();
          break;
        case K_TIME:
          this.timeNanos = r.int64Big();
          break;
        case K_DURATION:
          this.durationNanos = r.int64Big();
          break;
        default: {
          // Keys of the four entry kinds can only get here in a non-minimal encoding.
          if (key === K_STRING || key === K_SAMPLE || key === K_LOCATION || key === K_FUNCTION) {
            this.recordEntry(key);
            break;
          }
          const name = TOP_FIELD_NAMES[key >>> 3];
          if (name !== undefined) throw new BadRequestError(`invalid pprof: field ${name} has wire type ${key & 7}`);
          r.skipField(key);
        }
      }
    }
  }

  /**
   * Records entries from `r.pos` on for as long as they are strings, samples, locations or
   * functions of less than 16 KiB whose ids (if any) are below 2^21: nearly all of a profile.
   * It stops, without reading it, at any entry that is something else or looks malformed,
   * so the general path handles that one and reports its errors. Tables and counts stay in
   * locals meanwhile, since this runs once per entry of the profile.
   */
  private scanEntries(): void {
    const buf = this.buf;
    const end = this.r.end;
    let pos = this.r.pos;
    let strOff = this.strOff;
    let nStrs = this.nStrs;
    let sampleOff = this.sampleOff;
    let nSamples = this.nSamples;
    let locOff = this.locOff;
    let locIds = this.locIds;
    let nLocs = this.nLocs;
    let fnOff = this.fnOff;
    let fnIds = this.fnIds;
    let nFns = this.nFns;
    let anyZeroFnId = false;
    while (pos + 2 < end) {
      const k = buf[pos];
      if (k !== K_STRING && k !== K_SAMPLE && k !== K_LOCATION && k !== K_FUNCTION) break;
      let len = buf[pos + 1];
      let start = pos + 2;
      if (len >= 0x80) {
        const b = buf[pos + 2];
        if (b >= 0x80) break;
        len = (len & 0x7f) | (b << 7);
        start++;
      }
      const stop = start + len;
      if (stop > end) break;
      if (k === K_STRING) {
        if (2 * nStrs + 2 > strOff.length) strOff = scratch.grow('strOff', strOff, 2 * nStrs, 2 * nStrs + 2);
        strOff[2 * nStrs] = start;
        strOff[2 * nStrs + 1] = stop;
        nStrs++;
      } else if (k === K_SAMPLE) {
        if (2 * nSamples + 2 > sampleOff.length) sampleOff = scratch.grow('sampleOff', sampleOff, 2 * nSamples, 2 * nSamples + 2);
        sampleOff[2 * nSamples] = start;
        sampleOff[2 * nSamples + 1] = stop;
        nSamples++;
      } else {
        // Both messages have the id as field 1, which producers write first.
        if (len < 3 || buf[start] !== ((1 << 3) | 0)) break;
        let id = buf[start + 1];
        if (id >= 0x80) {
          const b = buf[start + 2];
          if (b < 0x80) {
            id = (id & 0x7f) | (b << 7);
          } else {
            // Three bytes: a profile of more than 16383 locations or functions.
            if (len < 4 || buf[start + 3] >= 0x80) break;
            id = (id & 0x7f) | ((b & 0x7f) << 7) | (buf[start + 3] << 14);
          }
        }
        if (k === K_LOCATION) {
          if (2 * nLocs + 2 > locOff.length) locOff = scratch.grow('locOff', locOff, 2 * nLocs, 2 * nLocs + 2);
          if (nLocs === locIds.length) locIds = scratch.grow('locIds', locIds, nLocs, nLocs + 1);
          locOff[2 * nLocs] = start;
          locOff[2 * nLocs + 1] = stop;
          locIds[nLocs++] = id;
        } else {
          if (2 * nFns + 2 > fnOff.length) fnOff = scratch.grow('fnOff', fnOff, 2 * nFns, 2 * nFns + 2);
          if (nFns === fnIds.length) fnIds = scratch.grow('fnIds', fnIds, nFns, nFns + 1);
          fnOff[2 * nFns] = start;
          fnOff[2 * nFns + 1] = stop;
          fnIds[nFns++] = id;
          if (id === 0) anyZeroFnId = true;
        }
      }
      pos = stop;
    }
    this.r.pos = pos;
    this.strOff = strOff;
    this.nStrs = nStrs;
    this.sampleOff = sampleOff;
    this.nSamples = nSamples;
    this.locOff = locOff;
    this.locIds = locIds;
    this.nLocs = nLocs;
    this.fnOff = fnOff;
    this.fnIds = fnIds;
    this.nFns = nFns;
    if (anyZeroFnId) this.anyZeroFnId = true;
  }

  /** Records where a string, sample, location or function (its key just read) lies. */
  private recordEntry(key: number): void {
    const r = this.r;
    const end = r.delimited();
    const start = r.pos;
    if (key === K_STRING) {
      this.strOff = pushPair('strOff', this.strOff, this.nStrs++, start, end);
    } else if (key === K_SAMPLE) {
      this.sampleOff = pushPair('sampleOff', this.sampleOff, this.nSamples++, start, end);
    } else if (key === K_LOCATION) {
      const i = this.nLocs++;
      this.locOff = pushPair('locOff', this.locOff, i, start, end);
      if (i === this.locIds.length) this.locIds = scratch.grow('locIds', this.locIds, i, i + 1);
      this.locIds[i] = this.peekId(end);
    } else {
      const i = this.nFns++;
      this.fnOff = pushPair('fnOff', this.fnOff, i, start, end);
      if (i === this.fnIds.length) this.fnIds = scratch.grow('fnIds', this.fnIds, i, i + 1);
      const id = this.peekId(end);
      this.fnIds[i] = id;
      if (id === 0) this.anyZeroFnId = true;
    }
    r.pos = end;
  }

  /**
   * Reads field 1 (the id, in both Location and Function) of the message from `r.pos` to
   * `end`. Producers write the id first, so usually this is one varint.
   */
  private peekId(end: number): number {
    const r = this.r;
    const outer = r.end;
    r.end = end;
    let id = 0;
    if (r.pos < end && this.buf[r.pos] === ((1 << 3) | 0)) {
      r.pos++;
      id = r.uint64();
    } else {
      while (r.pos < end) {
        const key = r.tag();
        if (key === ((1 << 3) | 0)) {
          id = r.uint64();
          break;
        }
        r.skipField(key);
      }
    }
    r.end = outer;
    return id;
  }

  /** Reads a ValueType message ending at `end` as [type, unit] string indices. */
  private valueType(end: number): [number, number] {
    const r = this.r;
    const outer = r.end;
    r.end = end;
    let type = 0;
    let unit = 0;
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | 0)) type = r.int64();
      else if (key === ((2 << 3) | 0)) unit = r.int64();
      else r.skipField(key);
    }
    r.end = outer;
    this.checkStrIdx(type, 'a sample or period type');
    this.checkStrIdx(unit, 'a sample or period unit');
    return [type, unit];
  }

  // ---- strings --------------------------------------------------------------------------

  private checkStrings(): void {
    if (this.nStrs === 0) throw new BadRequestError('invalid pprof: the string table is missing');
    if (this.strOff[1] !== this.strOff[0]) {
      throw new BadRequestError('invalid pprof: string_table[0] must be the empty string');
    }
    this.stringsKnown = true;
    // Indices read before the table was complete (sample and period types) are checked now.
    for (const i of this.sampleTypeIdx) this.checkStrIdx(i, 'a sample type');
    this.checkStrIdx(this.periodTypeIdx[0], 'the period type');
    this.checkStrIdx(this.periodTypeIdx[1], 'the period unit');
  }

  /** While the top level is being scanned the table size is unknown; `checkStrings` re-checks. */
  private checkStrIdx(i: number, what: string): void {
    if (i < 0 || (this.stringsKnown && i >= this.nStrs)) {
      throw new BadRequestError(`invalid pprof: ${what} refers to string ${i}, outside the string table of ${this.nStrs}`);
    }
  }

  private strIdx(v: number, what: string): number {
    if (v < 0 || v >= this.nStrs) {
      throw new BadRequestError(`invalid pprof: ${what} refers to string ${v}, outside the string table of ${this.nStrs}`);
    }
    return v;
  }

  /** For strings that are typically used once (span and trace ids): not worth a cache entry. */
  private strUncached(i: number): string {
    return this.utf8.slice(this.strOff[2 * i], this.strOff[2 * i + 1]);
  }

  private str(i: number): string {
    let s = this.strCache.get(i);
    if (s === undefined) {
      s = this.utf8.slice(this.strOff[2 * i], this.strOff[2 * i + 1]);
      this.strCache.set(i, s);
    }
    return s;
  }

  // ---- phase 2: functions, mappings, locations ----------------------------------------

  private indexFunctions(): void {
    const n = this.nFns;
    // Some producers (seen from .NET) leave every Function.id at 0 while lines refer to
    // 1..N; numbering by position is the only reading under which such files make sense.
    if (this.anyZeroFnId) for (let i = 0; i < n; i++) this.fnIds[i] = i + 1;
    this.fnFrame = scratch.i32('fnFrame', n).fill(0, 0, n);
    // Most functions become a distinct name; size the name table for them up front.
    const slotCount = nextPow2(2 * n + 2);
    if (slotCount > this.nameMask + 1) {
      this.nameSlots = scratch.i32('nameSlots', slotCount).fill(0, 0, slotCount);
      this.nameMask = slotCount - 1;
    }
    this.fnIndex = buildIndex('fnIndex', this.fnIds, n, 1);
  }

  private parseMappings(): void {
    const r = this.r;
    const off = this.mapOff;
    for (let i = 0; i < this.nMaps; i++) {
      r.pos = off[2 * i];
      r.end = off[2 * i + 1];
      let id = 0;
      let file = 0;
      while (r.pos < r.end) {
        const key = r.tag();
        if (key === ((1 << 3) | 0)) id = r.uint64();
        else if (key === ((5 << 3) | 0)) file = this.strIdx(r.int64(), 'a mapping filename');
        else r.skipField(key);
      }
      if (!this.mapFile.has(id)) this.mapFile.set(id, file);
    }
  }

  // ---- frame names ------------------------------------------------------------------------

  /** Interns the string-table bytes [start, end) as a frame name. */
  private internBytes(start: number, end: number): number {
    const buf = this.buf;
    let h = this.seed;
    let high = 0;
    let j = start;
    // Four bytes a step: names are the bulk of a symbol table, and each is hashed once.
    for (const last = end - 4; j <= last; j += 4) {
      const w = buf[j] | (buf[j + 1] << 8) | (buf[j + 2] << 16) | (buf[j + 3] << 24);
      high |= w;
      h = mixWord(h, w);
    }
    for (; j < end; j++) {
      const c = buf[j];
      high |= c;
      h = mixWord(h, c);
    }
    // Non-ASCII bytes may be invalid UTF-8, and different invalid sequences can decode to
    // the same string, so those names are compared as decoded strings.
    if ((high & 0x80808080) !== 0) return this.internString(this.utf8.slice(start, end));
    h = avalanche(h);
    const len = end - start;
    const names = this.provNames;
    const hashes = this.nameHash;
    const slots = this.nameSlots;
    const mask = this.nameMask;
    let i = h & mask;
    for (;;) {
      const e = slots[i];
      if (e === 0) break;
      if (hashes[e] === h) {
        const cand = names[e];
        if (cand.length === len) {
          let k = 0;
          while (k < len && cand.charCodeAt(k) === buf[start + k]) k++;
          if (k === len) return e;
        }
      }
      i = (i + 1) & mask;
    }
    return this.addName(this.utf8.latin1(start, end), h, i);
  }

  /**
   * Interns a name built in JS. An ASCII string hashes exactly as its bytes do in
   * `internBytes`; any other string can only equal another non-ASCII one, so it may hash
   * differently (one code unit a step).
   */
  private internString(s: string): number {
    let h = this.seed;
    const n = s.length;
    let ascii = true;
    for (let j = 0; j < n; j++) {
      if (s.charCodeAt(j) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      let j = 0;
      for (const last = n - 4; j <= last; j += 4) {
        h = mixWord(h, s.charCodeAt(j) | (s.charCodeAt(j + 1) << 8) | (s.charCodeAt(j + 2) << 16) | (s.charCodeAt(j + 3) << 24));
      }
      for (; j < n; j++) h = mixWord(h, s.charCodeAt(j));
    } else {
      for (let j = 0; j < n; j++) h = mixWord(h, s.charCodeAt(j));
    }
    h = avalanche(h);
    const slots = this.nameSlots;
    const mask = this.nameMask;
    let i = h & mask;
    for (;;) {
      const e = slots[i];
      if (e === 0) break;
      if (this.nameHash[e] === h && this.provNames[e] === s) return e;
      i = (i + 1) & mask;
    }
    return this.addName(s, h, i);
  }

  private addName(s: string, h: number, slot: number): number {
    const idx = this.provNames.length;
    this.provNames.push(s);
    if (idx >= this.nameHash.length) this.nameHash = scratch.grow('nameHash', this.nameHash, idx, idx + 1);
    if (idx >= this.nameFinal.length) this.nameFinal = scratch.grow('nameFinal', this.nameFinal, idx, idx + 1);
    this.nameHash[idx] = h;
    this.nameFinal[idx] = 0;
    this.nameSlots[slot] = idx;
    if (idx * 2 > this.nameMask) {
      // Rehash into a table twice the size, from the hashes kept per name.
      const size = (this.nameMask + 1) * 2;
      const slots = scratch.i32('nameSlots', size).fill(0, 0, size);
      const mask = size - 1;
      const hashes = this.nameHash;
      for (let e = 1; e <= idx; e++) {
        let i = hashes[e] & mask;
        while (slots[i] !== 0) i = (i + 1) & mask;
        slots[i] = e;
      }
      this.nameSlots = slots;
      this.nameMask = mask;
    }
    return idx;
  }

  /** The index in `names` of a provisional name, given one on its first use. */
  private finalName(prov: number): number {
    let f = this.nameFinal[prov];
    if (f === 0) {
      f = this.names.length;
      this.names.push(this.provNames[prov]);
      this.nameFinal[prov] = f;
    }
    return f;
  }

  /** Name for an address with no symbol: `<mapping file basename>+0x<addr>`, or `0x<addr>`. */
  private addressFrame(mapping: number, lo: number, hi: number): number {
    const hex = hex64(lo, hi);
    if (mapping !== 0) {
      const base = this.mappingBase(mapping);
      if (base) return this.internString(`${base}+0x${hex}`);
    }
    return this.internString(`0x${hex}`);
  }

  private mappingBase(id: number): string {
    const file = this.mapFile.get(id);
    if (file === undefined || file === 0) return '';
    const path = this.str(file);
    const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
    return cut >= 0 ? path.slice(cut + 1) : path;
  }

  /**
   * Resolves every location, in file order, to provisional frames (`locProv`). Errors are
   * not raised here: a malformed location that no sample uses must not fail the profile,
   * so it is left to `resolveLocation`, which parses it again if a sample refers to it.
   */
  private resolveLocationsAhead(): void {
    const n = this.nLocs;
    const locProv = (this.locProv = scratch.i32('locProv', n).fill(0, 0, n));
    const idx = this.locIndex;
    for (let i = 0; i < n; i++) {
      const id = this.locIds[i];
      // Only the location a sample would find under its id (the first of duplicates).
      const entry = idx.dense !== undefined ? (id < idx.denseLen ? idx.dense[id] : 0) : idx.map!.get(id) ?? 0;
      if (entry !== -(i + 1)) continue;
      let count: number;
      try {
        count = this.locationFrames(i);
      } catch (err) {
        if (err instanceof BadRequestError) continue;
        throw err;
      }
      const frames = this.lineTmp;
      if (count === 1) {
        locProv[i] = frames[0];
      } else {
        const at = this.nProvPool;
        if (at + count + 1 > this.provPool.length) this.provPool = scratch.grow('provPool', this.provPool, at, at + count + 1);
        const pool = this.provPool;
        pool[at] = count;
        for (let j = 0; j < count; j++) pool[at + 1 + j] = frames[j];
        this.nProvPool = at + count + 1;
        locProv[i] = -(at + 1);
      }
    }
  }

  /**
   * Parses the location at position `loc` and leaves its frames, as provisional names, leaf
   * first, in `lineTmp`; returns their count (at least one).
   */
  private locationFrames(loc: number): number {
    const n = this.locationFramesFast(loc);
    return n > 0 ? n : this.locationFramesSlow(loc);
  }

  /**
   * `locationFrames` for the usual shape of a Location (small ids, lines of small varints,
   * at least one line), reading the bytes in place; returns -1, having changed nothing,
   * for anything else, which `locationFramesSlow` then reads (and reports errors of).
   */
  private locationFramesFast(loc: number): number {
    const buf = this.buf;
    const end = this.locOff[2 * loc + 1];
    let pos = this.locOff[2 * loc];
    let mapping = 0;
    let addrAt = -1;
    let lines = this.lineTmp;
    let nLines = 0;
    while (pos < end) {
      const key = buf[pos++];
      if (key === ((4 << 3) | 2)) {
        const len = shortVarint(buf, pos, end);
        if (len < 0) return -1;
        pos += (len & 3) + 1;
        const lineEnd = pos + (len >>> 2);
        if (lineEnd > end) return -1;
        let fn = 0;
        while (pos < lineEnd) {
          const k = buf[pos++];
          if (k !== ((1 << 3) | 0) && k !== ((2 << 3) | 0) && k !== ((3 << 3) | 0)) return -1;
          const v = shortVarint(buf, pos, lineEnd);
          if (v < 0) return -1;
          pos += (v & 3) + 1;
          if (k === ((1 << 3) | 0)) fn = v >>> 2;
        }
        if (nLines === lines.length) lines = this.lineTmp = scratch.grow('lineTmp', lines, nLines, nLines + 1);
        lines[nLines++] = fn;
      } else if (key === ((3 << 3) | 0)) {
        // Addresses are long varints, needed only for frames without a name: note where.
        addrAt = pos;
        for (let n = 0; ; n++) {
          if (pos >= end || n === 10) return -1;
          if (buf[pos++] < 0x80) break;
        }
      } else if (key === ((1 << 3) | 0) || key === ((2 << 3) | 0) || key === ((5 << 3) | 0)) {
        const v = shortVarint(buf, pos, end);
        if (v < 0) return -1;
        pos += (v & 3) + 1;
        if (key === ((2 << 3) | 0)) mapping = v >>> 2;
      } else {
        return -1;
      }
    }
    if (nLines === 0) return -1;
    let addressFrame = 0;
    for (let j = 0; j < nLines; j++) {
      let frame = this.namedFrame(lines[j]);
      if (frame === 0) {
        if (addressFrame === 0) {
          let lo = 0;
          let hi = 0;
          if (addrAt >= 0) {
            const r = this.r;
            r.pos = addrAt;
            r.end = end;
            r.varint64();
            lo = r.lo;
            hi = r.hi;
          }
          addressFrame = this.addressFrame(mapping, lo, hi);
        }
        frame = addressFrame;
      }
      lines[j] = frame;
    }
    return nLines;
  }

  private locationFramesSlow(loc: number): number {
    const r = this.r;
    const end = this.locOff[2 * loc + 1];
    r.pos = this.locOff[2 * loc];
    r.end = end;
    let mapping = 0;
    let lo = 0;
    let hi = 0;
    let lines = this.lineTmp;
    let nLines = 0;
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((4 << 3) | 2)) {
        const lineEnd = r.delimited();
        r.end = lineEnd;
        let fn = 0;
        while (r.pos < lineEnd) {
          const k = r.tag();
          if (k === ((1 << 3) | 0)) fn = r.uint64();
          else r.skipField(k);
        }
        r.end = end;
        if (nLines === lines.length) lines = this.lineTmp = scratch.grow('lineTmp', lines, nLines, nLines + 1);
        lines[nLines++] = fn;
      } else if (key === ((2 << 3) | 0)) {
        mapping = r.uint64();
      } else if (key === ((3 << 3) | 0)) {
        r.varint64();
        lo = r.lo;
        hi = r.hi;
      } else {
        r.skipField(key);
      }
    }
    if (nLines === 0) {
      lines[0] = this.addressFrame(mapping, lo, hi);
      return 1;
    }
    // Line 0 is the innermost inlined call, i.e. the leaf-most frame. Function ids are
    // replaced by frames in place.
    for (let j = 0; j < nLines; j++) {
      const frame = this.namedFrame(lines[j]);
      lines[j] = frame !== 0 ? frame : this.addressFrame(mapping, lo, hi);
    }
    return nLines;
  }

  /**
   * Gives the location at position `loc` its frames on its first reference by a sample
   * and records them under `id` in `locIndex`; returns the new index entry (see `locIndex`).
   */
  private resolveLocation(loc: number, id: number): number {
    const ahead = this.locProv[loc];
    let frames: Float64Array | Int32Array;
    let first: number;
    let count: number;
    if (ahead > 0) {
      frames = this.locProv;
      first = loc;
      count = 1;
    } else if (ahead < 0) {
      frames = this.provPool;
      first = -ahead;
      count = frames[first - 1];
    } else {
      count = this.locationFrames(loc);
      frames = this.lineTmp;
      first = 0;
    }
    let entry: number;
    if (count === 1) {
      entry = this.finalName(frames[first]);
    } else {
      const start = this.nFramePool;
      if (start + count + 1 > this.framePool.length) {
        this.framePool = scratch.grow('framePool', this.framePool, start, start + count + 1);
      }
      const pool = this.framePool;
      pool[start] = count;
      for (let j = 0; j < count; j++) pool[start + 1 + j] = this.finalName(frames[first + j]);
      this.nFramePool = start + count + 1;
      entry = -(MULTI_FRAME + start);
    }
    const idx = this.locIndex;
    if (idx.dense !== undefined) idx.dense[id] = entry;
    else idx.map!.set(id, entry);
    return entry;
  }

  /**
   * The frame of function `fnId`, or 0 when the function has no name (or the id is 0), in
   * which case the frame is named after the location's address.
   */
  private namedFrame(fnId: number): number {
    if (fnId === 0) return 0;
    const idx = this.fnIndex;
    let f: number;
    if (idx.dense !== undefined) f = fnId < idx.denseLen ? idx.dense[fnId] - 1 : -1;
    else f = (idx.map!.get(fnId) ?? 0) - 1;
    if (f < 0) throw new BadRequestError(`invalid pprof: a location line refers to function id ${fnId}, which does not exist`);
    const cached = this.fnFrame[f];
    if (cached !== 0) return cached;

    const buf = this.buf;
    const end = this.fnOff[2 * f + 1];
    let pos = this.fnOff[2 * f];
    let name = 0;
    let sys = 0;
    // Every field of a Function is a varint, and nearly all are small: read them in place,
    // and leave anything else (from the start again) to the reader.
    while (pos < end) {
      const key = buf[pos];
      if ((key & 7) !== 0 || key < ((1 << 3) | 0) || key > ((5 << 3) | 0)) break;
      const v = shortVarint(buf, pos + 1, end);
      if (v < 0) break;
      pos += (v & 3) + 2;
      if (key === ((2 << 3) | 0)) name = this.strIdx(v >>> 2, 'a function name');
      else if (key === ((3 << 3) | 0)) sys = this.strIdx(v >>> 2, 'a function system name');
    }
    if (pos < end) {
      const r = this.r;
      r.pos = this.fnOff[2 * f];
      r.end = end;
      name = 0;
      sys = 0;
      while (r.pos < end) {
        const key = r.tag();
        if (key === ((2 << 3) | 0)) name = this.strIdx(r.int64(), 'a function name');
        else if (key === ((3 << 3) | 0)) sys = this.strIdx(r.int64(), 'a function system name');
        else r.skipField(key);
      }
    }
    const off = this.strOff;
    let str = name;
    if (off[2 * str] === off[2 * str + 1]) str = sys;
    // Only named frames are cached: an unnamed function's frame depends on the location.
    if (off[2 * str] === off[2 * str + 1]) return 0;
    const frame = this.internBytes(off[2 * str], off[2 * str + 1]);
    this.fnFrame[f] = frame;
    return frame;
  }

  // ---- phase 3: samples -------------------------------------------------------------------

  private decodeSamples(): Sample[] {
    const n = this.nSamples;
    const off = this.sampleOff;
    // At most one unique stack per sample, so the stack tables never regrow; sample
    // messages spend about two bytes per frame, which sizes the frame pool.
    let sampleBytes = 0;
    for (let i = 0; i < n; i++) sampleBytes += off[2 * i + 1] - off[2 * i];
    this.stackStart = scratch.i32('stackStart', n + 1);
    this.stackLen = scratch.i32('stackLen', n + 1);
    this.stackHash = scratch.i32('stackHash', n + 1);
    const slotCount = nextPow2(n + (n >> 1) + 2);
    this.slots = scratch.i32('slots', slotCount).fill(0, 0, slotCount);
    this.slotMask = slotCount - 1;
    let pool = (this.stackPool = scratch.u32('stackPool', Math.max(1024, sampleBytes >> 1)));

    const r = this.r;
    const buf = this.buf;
    const nTypes = this.sampleTypeIdx.length >> 1;
    const samples: Sample[] = [];
    const vals = scratch.f64('values', nTypes + 1);
    let frameBudget = buf.length * 4 + (1 << 20);
    const locDense = this.locIndex.dense;
    const locDenseLen = this.locIndex.denseLen;
    const locMap = this.locIndex.map;
    const seed = this.seed;
    const bufLen = buf.length;

    for (let s = 0; s < n; s++) {
      let pos = off[2 * s];
      const end = off[2 * s + 1];
      const base = this.nStackPool;
      let at = base;
      let hash = seed;
      let nVals = 0;
      let nonZero = false;
      let nLabels = 0;
      // A single-frame location id takes at least one byte of the sample, so this much room
      // lets that (common) path write without checking; multi-frame entries check for themselves.
      if (at + (end - pos) > pool.length) pool = this.stackPool = scratch.grow('stackPool', pool, at, at + (end - pos));

      while (pos < end) {
        // Keys of the hot fields are single bytes; anything else takes the general path.
        const key = buf[pos];
        if (key === ((1 << 3) | 2) || key === ((1 << 3) | 0)) {
          // location_id, packed or one per field (both forms may even be mixed).
          let limit: number;
          let bound: number;
          if (key === ((1 << 3) | 2)) {
            r.pos = pos + 1;
            r.end = end;
            limit = bound = r.delimited();
            pos = r.pos;
          } else {
            pos++;
            if (pos >= end) throw truncated(end);
            limit = pos + 1; // exactly one varint
            bound = end;
          }
          while (pos < limit) {
            // Ids of a large profile take one, two or three bytes in no predictable order, so
            // branching on the length mispredicts often: up to three bytes are decoded without.
            let id = 0;
            let next = -1;
            if (pos + 2 < bufLen) {
              const b0 = buf[pos];
              const b1 = buf[pos + 1];
              const b2 = buf[pos + 2];
              const c1 = b0 >>> 7;
              const c2 = c1 & (b1 >>> 7);
              id = (b0 & 0x7f) | (((b1 & 0x7f) << 7) & -c1) | ((b2 << 14) & -c2);
              next = pos + 1 + c1 + c2;
              if ((c2 & (b2 >>> 7)) !== 0 || next > bound) next = -1;
            }
            if (next < 0) {
              r.pos = pos;
              r.end = bound;
              id = r.uint64();
              next = r.pos;
            }
            pos = next;
            let v: number;
            if (locDense !== undefined) v = id < locDenseLen ? locDense[id] : 0;
            else v = locMap!.get(id) ?? 0;
            if (v <= 0) {
              if (v === 0) {
                throw new BadRequestError(`invalid pprof: sample ${s} refers to location id ${id}, which does not exist`);
              }
              if (v > -MULTI_FRAME) v = this.resolveLocation(-v - 1, id);
            }
            if (v > 0) {
              // The common case: one location, one frame.
              if (at - base === MAX_STACK_DEPTH) throw tooDeep(s);
              pool[at++] = v;
              hash = Math.imul(hash ^ v, FNV_PRIME);
            } else {
              const frames = this.framePool;
              let fp = -v - MULTI_FRAME;
              const cnt = frames[fp++];
              if (at - base + cnt > MAX_STACK_DEPTH) throw tooDeep(s);
              // Inlined lines multiply references; a budget proportional to the input keeps
              // hostile profiles (one location with many lines, referenced everywhere) linear.
              frameBudget -= cnt;
              if (frameBudget < 0) {
                throw new BadRequestError('invalid pprof: stacks expand to too many frames for the size of the profile');
              }
              const room = at + cnt + (end - pos);
              if (room > pool.length) pool = this.stackPool = scratch.grow('stackPool', pool, at, room);
              for (const e = fp + cnt; fp < e; fp++) {
                const f = frames[fp];
                pool[at++] = f;
                hash = Math.imul(hash ^ f, FNV_PRIME);
              }
            }
          }
        } else if (key === ((2 << 3) | 2) || key === ((2 << 3) | 0)) {
          r.pos = pos + 1;
          r.end = end;
          let limit: number;
          if (key === ((2 << 3) | 2)) {
            limit = r.delimited();
            r.end = limit;
          } else {
            limit = r.pos + 1; // exactly one varint
          }
          while (r.pos < limit) {
            const v = r.int64();
            if (nVals === nTypes) {
              throw new BadRequestError(`invalid pprof: sample ${s} has more values than the ${nTypes} sample types`);
            }
            vals[nVals++] = v;
            if (v !== 0) nonZero = true;
          }
          pos = r.pos;
        } else {
          r.pos = pos;
          r.end = end;
          const k = r.tag();
          if (k === ((3 << 3) | 2)) nLabels = this.readLabel(end, nLabels);
          else r.skipField(k);
          pos = r.pos;
        }
      }

      if (nVals !== nTypes) {
        throw new BadRequestError(`invalid pprof: sample ${s} has ${nVals} values but there are ${nTypes} sample types`);
      }
      if (!nonZero) continue;
      let values: number[];
      if (nTypes === 1) values = [vals[0]];
      else if (nTypes === 2) values = [vals[0], vals[1]];
      else {
        values = [];
        for (let k = 0; k < nTypes; k++) values.push(vals[k]);
      }
      const sample: Sample = { stack: this.internStack(at - base, hash), values, labelSet: 0 };
      if (nLabels > 0) this.applyLabels(sample, nLabels);
      samples.push(sample);
    }
    return samples;
  }

  /** Reads one Label (its key consumed) and keeps it in `labelBuf` if it is a string label. */
  private readLabel(sampleEnd: number, nLabels: number): number {
    const r = this.r;
    const labelEnd = r.delimited();
    r.end = labelEnd;
    let k = 0;
    let v = 0;
    while (r.pos < labelEnd) {
      const lk = r.tag();
      if (lk === ((1 << 3) | 0)) k = r.int64();
      else if (lk === ((2 << 3) | 0)) v = r.int64();
      else r.skipField(lk);
    }
    r.end = sampleEnd;
    // Numeric labels (str == 0) are not carried by the model.
    if (v === 0) return nLabels;
    this.strIdx(k, 'a label key');
    this.strIdx(v, 'a label value');
    if (nLabels === MAX_SAMPLE_LABELS) {
      throw new BadRequestError(`invalid pprof: a sample has more than ${MAX_SAMPLE_LABELS} string labels`);
    }
    if (2 * nLabels + 2 > this.labelBuf.length) {
      this.labelBuf = scratch.grow('labelBuf', this.labelBuf, 2 * nLabels, 2 * nLabels + 2);
    }
    this.labelBuf[2 * nLabels] = k;
    this.labelBuf[2 * nLabels + 1] = v;
    return nLabels + 1;
  }

  /** Finds or adds the stack whose `depth` frames sit at the tail of `stackPool`. */
  private internStack(depth: number, h: number): number {
    h = avalanche(h);
    const slots = this.slots;
    const mask = this.slotMask;
    const pool = this.stackPool;
    const at = this.nStackPool;
    let i = h & mask;
    for (;;) {
      const e = slots[i];
      if (e === 0) break;
      const c = e - 1;
      if (this.stackHash[c] === h && this.stackLen[c] === depth) {
        const start = this.stackStart[c];
        let k = 0;
        while (k < depth && pool[start + k] === pool[at + k]) k++;
        if (k === depth) return c;
      }
      i = (i + 1) & mask;
    }
    // The tables hold one stack per sample and twice as many slots, so they never fill up.
    const c = this.nStacks++;
    this.stackStart[c] = at;
    this.stackLen[c] = depth;
    this.stackHash[c] = h;
    this.nStackPool = at + depth;
    slots[i] = c + 1;
    return c;
  }

  // ---- labels ---------------------------------------------------------------------------

  /** Classifies a label key: span and trace ids go to the sample, the rest to a label set. */
  private labelKindOf(k: number): number {
    let kinds = this.labelKind;
    if (kinds === undefined) kinds = this.labelKind = scratch.i8('labelKind', this.nStrs).fill(0, 0, this.nStrs);
    let kind = kinds[k];
    if (kind === 0) {
      const name = this.str(k);
      // As in Pyroscope, the older `profile_id` label (otel-profiling-go) is a span ID too.
      if (PYROSCOPE_SPAN_ID_LABELS.includes(name)) kind = LABEL_SPAN;
      else if (PYROSCOPE_TRACE_ID_LABELS.includes(name)) kind = LABEL_TRACE;
      else if (name === '') kind = LABEL_SKIP;
      else kind = LABEL_PLAIN;
      kinds[k] = kind;
    }
    return kind;
  }

  /** A small id per distinct label string, so that duplicate string-table entries compare equal. */
  private labelCanonOf(i: number): number {
    let canon = this.labelCanon;
    if (canon === undefined) canon = this.labelCanon = scratch.i32('labelCanon', this.nStrs).fill(0, 0, this.nStrs);
    let c = canon[i];
    if (c === 0) {
      const s = this.str(i);
      c = this.labelStrIds.get(s) ?? 0;
      if (c === 0) {
        c = this.labelStrIds.size + 1;
        this.labelStrIds.set(s, c);
      }
      canon[i] = c;
    }
    return c;
  }

  private applyLabels(sample: Sample, n: number): void {
    const buf = this.labelBuf;
    // Per sample, the plain labels as [canonical key, canonical value, key string index, value
    // string index] in a reused scratch array: no allocation per sample but the set's key.
    if (this.plainBuf.length < 4 * n) this.plainBuf = scratch.grow('labelPlain', this.plainBuf, 0, 4 * n);
    const plain = this.plainBuf;
    let m = 0;
    for (let j = 0; j < n; j++) {
      const k = buf[2 * j];
      const v = buf[2 * j + 1];
      // An empty value means no label; string tables may hold "" at several indices.
      if (k === 0 || this.strOff[2 * v] === this.strOff[2 * v + 1]) continue;
      const kind = this.labelKindOf(k);
      if (kind === LABEL_SKIP) continue;
      if (kind === LABEL_SPAN) {
        // Malformed IDs are dropped rather than turned into a high-cardinality label.
        const id = normalizeSpanId(this.strUncached(v));
        if (id !== undefined) sample.spanId = id;
      } else if (kind === LABEL_TRACE) {
        const id = normalizeTraceId(this.strUncached(v));
        if (id !== undefined) sample.traceId = id;
      } else {
        // Insertion in key order, after every equal key: ordered by key, then by position, so
        // that the last of duplicate keys wins deterministically.
        const ck = this.labelCanonOf(k);
        let at = m;
        while (at > 0 && plain[4 * (at - 1)] > ck) {
          plain.copyWithin(4 * at, 4 * (at - 1), 4 * at);
          at--;
        }
        plain[4 * at] = ck;
        plain[4 * at + 1] = this.labelCanonOf(v);
        plain[4 * at + 2] = k;
        plain[4 * at + 3] = v;
        m++;
      }
    }
    if (m === 0) return;
    // Of equal keys only the last is kept (see above): `j` is kept when the next key differs.
    let h = this.seed;
    let kept = 0;
    for (let j = 0; j < m; j++) {
      if (j + 1 < m && plain[4 * (j + 1)] === plain[4 * j]) continue;
      h = Math.imul(Math.imul(h ^ plain[4 * j], FNV_PRIME) ^ plain[4 * j + 1], FNV_PRIME);
      kept++;
    }
    h = avalanche(h);
    if (this.setSlots === undefined) this.initLabelSetTable();
    const slots = this.setSlots!;
    let i = h & this.setMask;
    for (;;) {
      const e = slots[i];
      if (e === 0) break;
      if (this.setHash[e] === h && this.setPairCount[e] === kept && this.samePairs(e, m)) {
        sample.labelSet = e;
        return;
      }
      i = (i + 1) & this.setMask;
    }
    const entries: Array<readonly [string, string]> = [];
    for (let j = 0; j < m; j++) {
      if (j + 1 < m && plain[4 * (j + 1)] === plain[4 * j]) continue;
      entries.push([this.str(plain[4 * j + 2]), this.str(plain[4 * j + 3])]);
    }
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const labels: Labels = {};
    for (const [k, v] of entries) {
      // Plain assignment of `__proto__` would hit the prototype setter and drop the label.
      if (k === '__proto__') Object.defineProperty(labels, k, { value: v, enumerable: true, writable: true, configurable: true });
      else labels[k] = v;
    }
    const set = this.labelSets.length;
    this.labelSets.push(labels);
    this.storeSetPairs(set, h, kept, m);
    slots[i] = set;
    if (set * 2 > this.setMask) this.growLabelSetTable();
    sample.labelSet = set;
  }

  private initLabelSetTable(): void {
    this.setSlots = scratch.i32('setSlots', 256).fill(0, 0, 256);
    this.setMask = 255;
    this.setHash = scratch.i32('setHash', 64);
    this.setPairStart = scratch.i32('setPairStart', 64);
    this.setPairCount = scratch.i32('setPairCount', 64);
    this.setPairs = scratch.i32('setPairs', 256);
  }

  /** Whether set `e` holds the pairs kept from the first `m` entries of `plainBuf`. */
  private samePairs(e: number, m: number): boolean {
    const plain = this.plainBuf;
    const pairs = this.setPairs;
    let at = this.setPairStart[e];
    for (let j = 0; j < m; j++) {
      if (j + 1 < m && plain[4 * (j + 1)] === plain[4 * j]) continue;
      if (pairs[at] !== plain[4 * j] || pairs[at + 1] !== plain[4 * j + 1]) return false;
      at += 2;
    }
    return true;
  }

  private storeSetPairs(set: number, h: number, kept: number, m: number): void {
    if (set >= this.setHash.length) {
      this.setHash = scratch.grow('setHash', this.setHash, set, set + 1);
      this.setPairStart = scratch.grow('setPairStart', this.setPairStart, set, set + 1);
      this.setPairCount = scratch.grow('setPairCount', this.setPairCount, set, set + 1);
    }
    this.setHash[set] = h;
    this.setPairStart[set] = this.nSetPairs;
    this.setPairCount[set] = kept;
    if (this.nSetPairs + 2 * kept > this.setPairs.length) {
      this.setPairs = scratch.grow('setPairs', this.setPairs, this.nSetPairs, this.nSetPairs + 2 * kept);
    }
    const plain = this.plainBuf;
    const pairs = this.setPairs;
    let at = this.nSetPairs;
    for (let j = 0; j < m; j++) {
      if (j + 1 < m && plain[4 * (j + 1)] === plain[4 * j]) continue;
      pairs[at++] = plain[4 * j];
      pairs[at++] = plain[4 * j + 1];
    }
    this.nSetPairs = at;
  }

  /** Doubles the label-set table, rehashing from the kept hashes; sets run from 1. */
  private growLabelSetTable(): void {
    const size = (this.setMask + 1) * 2;
    const slots = scratch.i32('setSlots', size).fill(0, 0, size);
    const mask = size - 1;
    for (let e = 1; e < this.labelSets.length; e++) {
      let i = this.setHash[e] & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = e;
    }
    this.setSlots = slots;
    this.setMask = mask;
  }
}

/** One step of the name hash: a word (or a lone byte) folded into the state. */
function mixWord(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x5bd1e995);
  return h ^ (h >>> 15);
}

/** Final mixing, so that the low bits used as slot indices depend on every input bit. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function isExpectedWireType(key: number): boolean {
  const field = key >>> 3;
  const wt = key & 7;
  return field <= 6 || field === 11 ? wt === 2 : wt === 0;
}

/**
 * Indexes ids (usually 1..N, where a typed array beats a Map; sparse or huge ids fall back
 * to a Map). The entry for the id at position i is `sign * (i + 1)`; 0 (or no Map entry)
 * means no such id. The first of duplicate ids wins.
 */
function buildIndex(key: string, ids: Float64Array, n: number, sign: 1 | -1): IdIndex {
  let max = 0;
  for (let i = 0; i < n; i++) if (ids[i] > max) max = ids[i];
  if (max <= 2 * n + 1024) {
    const len = max + 1;
    const dense = scratch.i32(key, len).fill(0, 0, len);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id !== 0 && dense[id] === 0) dense[id] = sign * (i + 1);
    }
    return { dense, denseLen: len, map: undefined };
  }
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (ids[i] !== 0 && !map.has(ids[i])) map.set(ids[i], sign * (i + 1));
  }
  return { dense: undefined, denseLen: 0, map };
}

/**
 * The first `n` elements of `src` in a new buffer of exactly their size. On Node the buffer
 * is not zero-filled first: every byte is overwritten at once, and for megabytes of stacks
 * the zeroing is a measurable share of a decode.
 */
function exactCopy(src: Uint32Array, n: number): ArrayBuffer {
  if (typeof Buffer !== 'function') return src.slice(0, n).buffer;
  const b = Buffer.allocUnsafeSlow(n * 4);
  new Uint32Array(b.buffer, b.byteOffset, n).set(src.subarray(0, n));
  return b.buffer as ArrayBuffer;
}

/**
 * The varint at `buf[pos]` if it has at most four bytes and ends before `end`, as
 * `value << 2 | (length - 1)`; otherwise -1 (the caller then takes the general path).
 */
function shortVarint(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  let b = buf[pos];
  if (b < 0x80) return b << 2;
  if (pos + 1 >= end) return -1;
  let v = b & 0x7f;
  b = buf[pos + 1];
  v |= (b & 0x7f) << 7;
  if (b < 0x80) return (v << 2) | 1;
  if (pos + 2 >= end) return -1;
  b = buf[pos + 2];
  v |= (b & 0x7f) << 14;
  if (b < 0x80) return (v << 2) | 2;
  if (pos + 3 >= end) return -1;
  b = buf[pos + 3];
  v |= (b & 0x7f) << 21;
  if (b < 0x80) return (v << 2) | 3;
  return -1;
}

function tooDeep(sample: number): BadRequestError {
  return new BadRequestError(`invalid pprof: sample ${sample} has a stack deeper than ${MAX_STACK_DEPTH} frames`);
}

function hex64(lo: number, hi: number): string {
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
}

function nextPow2(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
}

function pushPair(key: string, arr: Int32Array, i: number, a: number, b: number): Int32Array {
  if (2 * i + 2 > arr.length) arr = scratch.grow(key, arr, 2 * i, 2 * i + 2);
  arr[2 * i] = a;
  arr[2 * i + 1] = b;
  return arr;
}
