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

/** Span IDs are up to 16 hex characters: parsed as two 32-bit halves, without a regex. */
function parseSpan(hex: string): Id64 | undefined {
  const n = hex.length;
  if (n === 0 || n > 16) return undefined;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < n; i++) {
    const c = hex.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return undefined;
    // Shift the 64-bit (hi, lo) pair left by one hex digit.
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
  }
  return { hi, lo };
}

function parseTrace(hex: string | undefined): Uint8Array | undefined {
  if (!hex || !/^[0-9a-fA-F]{32}$/.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** A sample's span and trace, parsed once per distinct pair. */
interface SpanRef {
  span: Id64 | undefined;
  trace: Uint8Array | undefined;
}

/** Batch labels win over sample labels on a clash, as in Pyroscope; `__name__` is not a series label. */
function mergeLabels(sampleLabels: Labels, labels: Labels): Labels {
  const merged: Labels = {};
  for (const k in sampleLabels) if (k !== '__name__') merged[k] = sampleLabels[k];
  for (const k in labels) if (k !== '__name__') merged[k] = labels[k];
  return merged;
}

/**
 * Samples are summed per (label set, stack, span, trace), as Pyroscope dedupes them. The
 * entries live in flat typed arrays indexed by entry number rather than as an object each:
 * a profile has hundreds of samples and this runs for every profile received.
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
  const hashStack = (i: number): void => {
    const frames = profile.stacks[i];
    const h = new Hasher();
    const ids: Id64[] = new Array(frames.length);
    for (let j = 0; j < frames.length; j++) {
      const n = frames[j];
      let fid = nameIds[n];
      if (!fid) {
        fid = functionId(profile.names[n], caches);
        nameIds[n] = fid;
      }
      ids[j] = fid;
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
    if (!caches.stacks.has(id) && listed.add(id)) stacks.push({ id, frames: ids });
  };

  const types = profile.sampleTypes.map((st) => profileTypeId(name, st, profile.periodType));
  const nTypes = types.length;
  const samples = profile.samples;
  // Distinct (span, trace) pairs; index 0 is "neither".
  const spanRefs: SpanRef[] = [{ span: undefined, trace: undefined }];
  const spanIndex = new Map<string, number>();
  // Entries: one per distinct (label set, stack, span pair), in the order first seen.
  const entryStack = new Int32Array(samples.length);
  const entrySpan = new Int32Array(samples.length);
  const entryValues = new Float64Array(samples.length * nTypes);
  let entries = 0;
  const groups = new Map<number, { byKey: Map<number, number>; list: number[] }>();
  for (const s of samples) {
    let group = groups.get(s.labelSet);
    if (!group) {
      group = { byKey: new Map(), list: [] };
      groups.set(s.labelSet, group);
    }
    let spanRef = 0;
    if (s.spanId || s.traceId) {
      const k = s.traceId ? `${s.spanId ?? ''}\u0000${s.traceId}` : s.spanId!;
      let found = spanIndex.get(k);
      if (found === undefined) {
        found = spanRefs.length;
        spanRefs.push({ span: s.spanId ? parseSpan(s.spanId) : undefined, trace: parseTrace(s.traceId) });
        spanIndex.set(k, found);
      }
      spanRef = found;
    }
    const key = spanRef * nStacks + s.stack;
    let e = group.byKey.get(key);
    if (e === undefined) {
      e = entries++;
      group.byKey.set(key, e);
      group.list.push(e);
      entryStack[e] = s.stack;
      entrySpan[e] = spanRef;
      if (!stackKnown[s.stack]) hashStack(s.stack);
    }
    const at = e * nTypes;
    for (let t = 0; t < nTypes; t++) entryValues[at + t] += s.values[t] ?? 0;
  }

  const series: PendingSeries[] = [];
  // Series are cached per (tenant, fingerprint, date): the shared prefix is hashed once.
  const seriesPrefix = new Hasher().string(tenant).int(utcDay(dateMs));
  const w = new RowBinaryWriter(16 * 1024);
  let rowCount = 0;
  const byStackId = (a: number, b: number) => {
    const sa = entryStack[a];
    const sb = entryStack[b];
    return stackHi[sa] - stackHi[sb] || stackLo[sa] - stackLo[sb];
  };
  for (const [labelSet, group] of groups) {
    const merged = mergeLabels(profile.sampleLabelSets[labelSet], labels);
    const sortedKeys = Object.keys(merged).sort();
    // Stable: entries of one stack keep the order their spans were first seen in.
    const sorted = group.list.sort(byStackId);
    let withSpans = false;
    let withTraces = false;
    for (const e of sorted) {
      const ref = spanRefs[entrySpan[e]];
      if (ref.span || ref.trace) withSpans = true;
      if (ref.trace) withTraces = true;
    }
    for (let t = 0; t < nTypes; t++) {
      let n = 0;
      let total = 0;
      for (const e of sorted) {
        const v = entryValues[e * nTypes + t];
        if (v !== 0) {
          n++;
          total += v;
        }
      }
      if (!n) continue;
      const fp = fingerprintOfSorted(types[t], merged, sortedKeys);
      const skey = seriesPrefix.clone().id(fp).digest();
      if (!caches.series.has(skey)) series.push({ key: skey, tenant, profileType: types[t], service, fingerprint: fp, dateMs, labels: merged });
      // Span and trace arrays stay empty for the common profile without spans; a row has them
      // when any of its entries (of any sample type) has one.
      const rowSpans = withSpans && sorted.some((e) => entryValues[e * nTypes + t] !== 0 && (spanRefs[entrySpan[e]].span || spanRefs[entrySpan[e]].trace));
      const rowTraces = withTraces && sorted.some((e) => entryValues[e * nTypes + t] !== 0 && spanRefs[entrySpan[e]].trace);
      w.string(tenant).string(types[t]).string(service).uint64(fp).dateTime64ms(timeMs).uint64(profileId).int64(total);
      w.varUInt(n);
      for (const e of sorted) if (entryValues[e * nTypes + t] !== 0) w.uint64Parts(stackHi[entryStack[e]], stackLo[entryStack[e]]);
      w.varUInt(n);
      for (const e of sorted) {
        const v = entryValues[e * nTypes + t];
        if (v !== 0) w.int64(v);
      }
      w.varUInt(rowSpans ? n : 0);
      if (rowSpans) for (const e of sorted) if (entryValues[e * nTypes + t] !== 0) w.uint64(spanRefs[entrySpan[e]].span ?? ZERO);
      w.varUInt(rowTraces ? n : 0);
      if (rowTraces) for (const e of sorted) if (entryValues[e * nTypes + t] !== 0) w.fixed(spanRefs[entrySpan[e]].trace ?? NO_TRACE, 16);
      rowCount++;
    }
  }
  return { samples: w.bytes(), rowCount, functions, stacks, series, profileId, timeMs, day: caches.day };
}

const ZERO: Id64 = { hi: 0, lo: 0 };
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
