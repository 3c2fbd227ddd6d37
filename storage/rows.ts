/**
 * Turns a Batch into rows of the storage tables, encoded as RowBinary.
 *
 * One sample row holds one profile of one series: its stack IDs and values as parallel
 * arrays, sorted by stack ID. Consecutive rows of a series then hold nearly the same arrays,
 * which is what lets ClickHouse compress a sample to a byte or two, and a profile costs one
 * row to insert instead of hundreds.
 *
 * Function and stack IDs are content hashes kept as (hi, lo) pairs, so no BigInt or decimal
 * text is needed on the hot path.
 */
import { profileTypeId, type Batch, type Labels } from '../core/model.ts';
import { Hasher, hashString, IdSet, type Id64 } from './ids.ts';
import { RowBinaryWriter } from './rowbinary.ts';

/** Column lists, in RowBinary order; the writer names them in its INSERTs. */
export const SAMPLE_COLUMNS =
  'tenant LowCardinality(String), profile_type LowCardinality(String), service LowCardinality(String), fingerprint UInt64, time DateTime64(3), profile_id UInt64, total Int64, stack_ids Array(UInt64), stack_values Array(Int64), span_ids Array(UInt64), trace_ids Array(FixedString(16))';
export const FUNCTION_COLUMNS = 'id UInt64, name String';
export const STACK_COLUMNS = 'id UInt64, frames Array(UInt64)';
export const SERIES_COLUMNS = 'tenant LowCardinality(String), profile_type LowCardinality(String), service LowCardinality(String), fingerprint UInt64, date Date, labels Map(LowCardinality(String), String)';

export interface PendingFunction {
  id: Id64;
  name: string;
}
export interface PendingStack {
  id: Id64;
  frames: Id64[];
}
export interface PendingSeries {
  /** What the seen-cache knows the series by: tenant, fingerprint and date hashed together. */
  key: Id64;
  tenant: string;
  profileType: string;
  service: string;
  fingerprint: Id64;
  dateMs: number;
  labels: Labels;
}

export interface BatchRows {
  /** RowBinary rows for the samples table. */
  samples: Uint8Array;
  rowCount: number;
  /** Functions, stacks and series not yet known to be stored (as of `day`). */
  functions: PendingFunction[];
  stacks: PendingStack[];
  series: PendingSeries[];
  /** Derived from the idempotency key. */
  profileId: Id64;
  timeMs: number;
  /** The UTC day (days since the epoch) of the seen-caches the lists above were filtered by. */
  day: number;
}

/**
 * What this process has committed, so that it is sent once. Entries are added by the writer
 * after a commit, never before, so a failed insert cannot leave a stack unwritten. The sets start
 * over on every UTC day, so that each function, stack and series still in use is written again
 * at least once a day and the store can tell live ones from those nothing refers to any more.
 */
export interface RowCaches {
  functions: IdSet;
  stacks: IdSet;
  series: IdSet;
  /** Function name → ID, to hash each name once. Not day-bound: an ID never changes. */
  functionIds: Map<string, Id64>;
  /** The UTC day the seen-sets belong to. */
  day: number;
}

const DAY_MS = 86_400_000;

export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

export function newRowCaches(nowMs = Date.now()): RowCaches {
  return { functions: new IdSet(1_000_000), stacks: new IdSet(1_000_000), series: new IdSet(200_000), functionIds: new Map(), day: utcDay(nowMs) };
}

/** Starts the seen-sets over when the UTC day has changed since they began; true if it did. */
export function startDay(caches: RowCaches, nowMs: number): boolean {
  const day = utcDay(nowMs);
  if (day === caches.day) return false;
  caches.day = day;
  caches.functions.clear();
  caches.stacks.clear();
  caches.series.clear();
  return true;
}

export function idKey(id: Id64): string {
  return `${id.hi}:${id.lo}`;
}

const SERIES_HIDDEN = new Set(['__name__']);

export function seriesFingerprint(profileType: string, labels: Labels): Id64 {
  return fingerprintOfSorted(profileType, labels, Object.keys(labels).sort());
}

function fingerprintOfSorted(profileType: string, labels: Labels, sortedKeys: string[]): Id64 {
  const h = new Hasher().string(profileType);
  for (const k of sortedKeys) {
    if (SERIES_HIDDEN.has(k)) continue;
    h.string(k).string(labels[k]);
  }
  return h.digest();
}

/** DateTime64 covers 1900–2299; a profile stamped outside what is plausible is stored at arrival. */
const MIN_TIME_MS = Date.UTC(1971, 0, 1);
const MAX_TIME_MS = Date.UTC(2200, 0, 1);
function storableTime(timeNanos: bigint, nowMs: number): number {
  const ms = Number(timeNanos / 1_000_000n);
  return ms >= MIN_TIME_MS && ms < MAX_TIME_MS ? ms : nowMs;
}

function functionId(name: string, caches: RowCaches): Id64 {
  let id = caches.functionIds.get(name);
  if (!id) {
    if (caches.functionIds.size >= 1_000_000) caches.functionIds.clear();
    id = hashString(name);
    caches.functionIds.set(name, id);
  }
  return id;
}

/**
 * The distinct (span, trace) pairs of a profile's samples, numbered from 1 (0 is "neither"), with
 * their parsed IDs in flat arrays: a profile with span labels has hundreds of them.
 */
class SpanRefs {
  count = 1;
  /** Span ID halves, and whether the pair has a valid span or trace. */
  hi: Uint32Array;
  lo: Uint32Array;
  hasSpan: Uint8Array;
  hasTrace: Uint8Array;
  /** 16 bytes per pair. */
  traces: Uint8Array;
  private readonly index = new Map<string, number>();

  constructor(capacity: number) {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.hasSpan = new Uint8Array(capacity);
    this.hasTrace = new Uint8Array(capacity);
    this.traces = new Uint8Array(16);
  }

  refOf(spanId: string | undefined, traceId: string | undefined): number {
    const k = traceId ? `${spanId ?? ''}\u0000${traceId}` : spanId!;
    let ref = this.index.get(k);
    if (ref !== undefined) return ref;
    ref = this.count++;
    this.index.set(k, ref);
    if (spanId) this.hasSpan[ref] = this.parseSpan(spanId, ref) ? 1 : 0;
    if (traceId && TRACE_HEX.test(traceId)) {
      if (this.traces.length < 16 * (ref + 1)) {
        const grown = new Uint8Array(Math.max(16 * (ref + 1), this.traces.length * 2));
        grown.set(this.traces);
        this.traces = grown;
      }
      this.traces.set(Buffer.from(traceId, 'hex'), 16 * ref);
      this.hasTrace[ref] = 1;
    }
    return ref;
  }

  /** Span IDs are up to 16 hex characters: parsed as two 32-bit halves, without a regex. */
  private parseSpan(hex: string, ref: number): boolean {
    const n = hex.length;
    if (n === 0 || n > 16) return false;
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < n; i++) {
      const c = hex.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) return false;
      // Shift the 64-bit (hi, lo) pair left by one hex digit.
      hi = ((hi << 4) | (lo >>> 28)) >>> 0;
      lo = ((lo << 4) | d) >>> 0;
    }
    this.hi[ref] = hi;
    this.lo[ref] = lo;
    return true;
  }
}

const TRACE_HEX = /^[0-9a-fA-F]{32}$/;

/** Batch labels win over sample labels on a clash, as in Pyroscope; `__name__` is not a series label. */
function mergeLabels(sampleLabels: Labels, labels: Labels): Labels {
  const merged: Labels = {};
  for (const k in sampleLabels) if (k !== '__name__') merged[k] = sampleLabels[k];
  for (const k in labels) if (k !== '__name__') merged[k] = labels[k];
  return merged;
}

/** The smallest power of two of at least `n`. */
function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/**
 * Samples are summed per (label set, stack, span, trace), as Pyroscope dedupes them. The
 * entries live in flat typed arrays indexed by entry number, found through an open-addressing
 * table of entry numbers, rather than as objects and Maps: a profile has hundreds of samples,
 * this runs for every profile received, and its garbage was a third of what ingest allocated.
 */
export function batchToRows(batch: Batch, caches: RowCaches, nowMs = Date.now()): BatchRows {
  startDay(caches, nowMs);
  const { profile, labels, tenant } = batch;
  const name = labels.__name__;
  const service = labels.service_name ?? 'unknown_service';
  const timeMs = storableTime(profile.timeNanos, nowMs);
  const dateMs = Math.floor(timeMs / DAY_MS) * DAY_MS;
  const profileId = hashString(batch.idempotencyKey);

  const functions: PendingFunction[] = [];
  const stacks: PendingStack[] = [];
  const nStacks = profile.stacks.length;
  // Stack IDs by stack index, computed on first use.
  const stackHi = new Uint32Array(nStacks);
  const stackLo = new Uint32Array(nStacks);
  const stackKnown = new Uint8Array(nStacks);
  const nameIds: Array<Id64 | undefined> = new Array(profile.names.length);
  const nameListed = new Uint8Array(profile.names.length);
  // Two indices may name the same function or stack: each is listed once.
  const listed = new IdSet(Infinity, 64);
  const h = new Hasher();
  const hashStack = (i: number): void => {
    const frames = profile.stacks[i];
    h.reset();
    for (let j = 0; j < frames.length; j++) {
      const n = frames[j];
      let fid = nameIds[n];
      if (!fid) {
        fid = functionId(profile.names[n], caches);
        nameIds[n] = fid;
      }
      h.id(fid);
      if (!nameListed[n]) {
        nameListed[n] = 1;
        if (!caches.functions.has(fid) && listed.add(fid)) functions.push({ id: fid, name: profile.names[n] });
      }
    }
    const id = h.digest();
    stackHi[i] = id.hi;
    stackLo[i] = id.lo;
    stackKnown[i] = 1;
    // The frames' IDs are gathered only for a stack that is to be written.
    if (!caches.stacks.has(id) && listed.add(id)) stacks.push({ id, frames: Array.from(frames, (n) => nameIds[n]!) });
  };

  const types = profile.sampleTypes.map((st) => profileTypeId(name, st, profile.periodType));
  const nTypes = types.length;
  const samples = profile.samples;
  const nSamples = samples.length;
  const spans = new SpanRefs(nSamples + 1);
  // Entries: one per distinct (label set, stack, span pair), in the order first seen.
  const entryStack = new Int32Array(nSamples);
  const entrySpan = new Int32Array(nSamples);
  const entrySet = new Int32Array(nSamples);
  const entryValues = new Float64Array(nSamples * nTypes);
  let entries = 0;
  // Entry number + 1 by slot, 0 for an empty slot; kept at most half full.
  const slots = new Int32Array(pow2AtLeast(2 * nSamples));
  const mask = slots.length - 1;
  for (let i = 0; i < nSamples; i++) {
    const s = samples[i];
    const spanRef = s.spanId || s.traceId ? spans.refOf(s.spanId, s.traceId) : 0;
    const set = s.labelSet;
    const stack = s.stack;
    let slot = (Math.imul(stack, 0x9e3779b1) ^ Math.imul(spanRef, 0x85ebca6b) ^ Math.imul(set, 0xc2b2ae35)) & mask;
    let e = -1;
    for (;;) {
      const at = slots[slot];
      if (at === 0) break;
      if (entryStack[at - 1] === stack && entrySpan[at - 1] === spanRef && entrySet[at - 1] === set) {
        e = at - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    if (e < 0) {
      e = entries++;
      slots[slot] = e + 1;
      entryStack[e] = stack;
      entrySpan[e] = spanRef;
      entrySet[e] = set;
      if (!stackKnown[stack]) hashStack(stack);
    }
    const at = e * nTypes;
    for (let t = 0; t < nTypes; t++) entryValues[at + t] += s.values[t] ?? 0;
  }

  // Label sets in the order first seen, each with its entries in the order first seen.
  const groupOf = new Map<number, number[]>();
  for (let e = 0; e < entries; e++) {
    const list = groupOf.get(entrySet[e]);
    if (list) list.push(e);
    else groupOf.set(entrySet[e], [e]);
  }

  const series: PendingSeries[] = [];
  // Series are cached per (tenant, fingerprint, date): the shared prefix is hashed once.
  const seriesPrefix = new Hasher().string(tenant).int(utcDay(dateMs));
  const w = new RowBinaryWriter(16 * 1024);
  let rowCount = 0;
  // Entries of one stack keep the order their spans were first seen in.
  const byStackId = (a: number, b: number) => {
    const sa = entryStack[a];
    const sb = entryStack[b];
    return stackHi[sa] - stackHi[sb] || stackLo[sa] - stackLo[sb] || a - b;
  };
  const { hi: spanHi, lo: spanLo, hasSpan, hasTrace } = spans;
  for (const [labelSet, sorted] of groupOf) {
    const merged = mergeLabels(profile.sampleLabelSets[labelSet], labels);
    const sortedKeys = Object.keys(merged).sort();
    sorted.sort(byStackId);
    for (let t = 0; t < nTypes; t++) {
      let n = 0;
      let total = 0;
      // Span and trace arrays stay empty for the common profile without spans; a row has them
      // when any of its entries with a value has one.
      let rowSpans = false;
      let rowTraces = false;
      for (const e of sorted) {
        const v = entryValues[e * nTypes + t];
        if (v !== 0) {
          n++;
          total += v;
          const ref = entrySpan[e];
          if (hasSpan[ref] || hasTrace[ref]) rowSpans = true;
          if (hasTrace[ref]) rowTraces = true;
        }
      }
      if (!n) continue;
      const fp = fingerprintOfSorted(types[t], merged, sortedKeys);
      const skey = seriesPrefix.clone().id(fp).digest();
      if (!caches.series.has(skey)) series.push({ key: skey, tenant, profileType: types[t], service, fingerprint: fp, dateMs, labels: merged });
      w.string(tenant).string(types[t]).string(service).uint64(fp).dateTime64ms(timeMs).uint64(profileId).int64(total);
      w.varUInt(n);
      for (const e of sorted) if (entryValues[e * nTypes + t] !== 0) w.uint64Parts(stackHi[entryStack[e]], stackLo[entryStack[e]]);
      w.varUInt(n);
      for (const e of sorted) {
        const v = entryValues[e * nTypes + t];
        if (v !== 0) w.int64(v);
      }
      w.varUInt(rowSpans ? n : 0);
      if (rowSpans) {
        for (const e of sorted) {
          if (entryValues[e * nTypes + t] === 0) continue;
          const ref = entrySpan[e];
          if (hasSpan[ref]) w.uint64Parts(spanHi[ref], spanLo[ref]);
          else w.uint64Parts(0, 0);
        }
      }
      w.varUInt(rowTraces ? n : 0);
      if (rowTraces) {
        for (const e of sorted) {
          if (entryValues[e * nTypes + t] === 0) continue;
          const ref = entrySpan[e];
          w.fixed(hasTrace[ref] ? spans.traces.subarray(16 * ref, 16 * ref + 16) : NO_TRACE, 16);
        }
      }
      rowCount++;
    }
  }
  return { samples: w.bytes(), rowCount, functions, stacks, series, profileId, timeMs, day: caches.day };
}

const NO_TRACE = new Uint8Array(16);

export function encodeFunctions(fns: Iterable<PendingFunction>): Uint8Array {
  const w = new RowBinaryWriter();
  for (const f of fns) w.uint64(f.id).string(f.name);
  return w.bytes();
}

export function encodeStacks(stacks: Iterable<PendingStack>): Uint8Array {
  const w = new RowBinaryWriter();
  for (const s of stacks) {
    w.uint64(s.id).varUInt(s.frames.length);
    for (const f of s.frames) w.uint64(f);
  }
  return w.bytes();
}

export function encodeSeries(series: Iterable<PendingSeries>): Uint8Array {
  const w = new RowBinaryWriter();
  for (const s of series) {
    const keys = Object.keys(s.labels);
    w.string(s.tenant).string(s.profileType).string(s.service).uint64(s.fingerprint).date(s.dateMs).varUInt(keys.length);
    for (const k of keys) w.string(k).string(s.labels[k]);
  }
  return w.bytes();
}
