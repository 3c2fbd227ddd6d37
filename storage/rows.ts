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
import { Hasher, hashString, type Id64 } from './ids.ts';
import { RowBinaryWriter } from './rowbinary.ts';

/** Column lists, in RowBinary order; the writer names them in its INSERTs. */
export const SAMPLE_COLUMNS =
  'tenant LowCardinality(String), profile_type LowCardinality(String), service LowCardinality(String), fingerprint UInt64, time DateTime64(3), profile_id UInt64, total Int64, stack_ids Array(UInt64), stack_values Array(Int64), span_ids Array(UInt64), trace_ids Array(FixedString(16))';
export const FUNCTION_COLUMNS = 'id UInt64, name String';
export const STACK_COLUMNS = 'id UInt64, frames Array(UInt64)';
export const SERIES_COLUMNS = 'tenant LowCardinality(String), profile_type LowCardinality(String), service LowCardinality(String), fingerprint UInt64, date Date, labels Map(LowCardinality(String), String)';

export interface PendingFunction {
  key: string;
  id: Id64;
  name: string;
}
export interface PendingStack {
  key: string;
  id: Id64;
  frames: Id64[];
}
export interface PendingSeries {
  key: string;
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
  /** Functions, stacks and series not yet known to be stored. */
  functions: PendingFunction[];
  stacks: PendingStack[];
  series: PendingSeries[];
  /** Derived from the idempotency key. */
  profileId: Id64;
  timeMs: number;
}

/**
 * Remembers which IDs this process has committed, so they are sent once. Bounded: forgetting
 * only costs a harmless re-insert into a ReplacingMergeTree. Entries are added by the writer
 * after a commit, never before, so a failed insert cannot leave a stack unwritten.
 */
export class SeenSet {
  private set = new Set<string>();
  constructor(private readonly max: number) {}
  has(k: string): boolean {
    return this.set.has(k);
  }
  add(k: string): void {
    if (this.set.size >= this.max) this.set.clear();
    this.set.add(k);
  }
}

export interface RowCaches {
  functions: SeenSet;
  stacks: SeenSet;
  series: SeenSet;
  /** Function name → ID, to hash each name once. */
  functionIds: Map<string, FunctionRef>;
}

interface FunctionRef {
  id: Id64;
  key: string;
}

export function newRowCaches(): RowCaches {
  return { functions: new SeenSet(1_000_000), stacks: new SeenSet(1_000_000), series: new SeenSet(200_000), functionIds: new Map() };
}

export function idKey(id: Id64): string {
  return `${id.hi}:${id.lo}`;
}

const SERIES_HIDDEN = new Set(['__name__']);

export function seriesFingerprint(profileType: string, labels: Labels): Id64 {
  const h = new Hasher().string(profileType);
  for (const k of Object.keys(labels).sort()) {
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

function functionRef(name: string, caches: RowCaches): FunctionRef {
  let ref = caches.functionIds.get(name);
  if (!ref) {
    if (caches.functionIds.size >= 1_000_000) caches.functionIds.clear();
    const id = hashString(name);
    ref = { id, key: idKey(id) };
    caches.functionIds.set(name, ref);
  }
  return ref;
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

interface Entry {
  stack: Id64;
  span: Id64 | undefined;
  trace: Uint8Array | undefined;
  /** One value per sample type. */
  values: Float64Array;
}

export function batchToRows(batch: Batch, caches: RowCaches, nowMs = Date.now()): BatchRows {
  const { profile, labels, tenant } = batch;
  const name = labels.__name__;
  const service = labels.service_name ?? 'unknown_service';
  const timeMs = storableTime(profile.timeNanos, nowMs);
  const dateMs = Math.floor(timeMs / 86_400_000) * 86_400_000;
  const profileId = hashString(batch.idempotencyKey);

  const functions: PendingFunction[] = [];
  const stacks: PendingStack[] = [];
  const seenHere = new Set<string>();
  const stackIds: Id64[] = new Array(profile.stacks.length);
  const stackId = (i: number): Id64 => {
    const known = stackIds[i];
    if (known) return known;
    const frames = profile.stacks[i];
    const h = new Hasher();
    const ids: Id64[] = new Array(frames.length);
    for (let j = 0; j < frames.length; j++) {
      const fname = profile.names[frames[j]];
      const { id: fid, key: fkey } = functionRef(fname, caches);
      ids[j] = fid;
      h.id(fid);
      if (!caches.functions.has(fkey) && !seenHere.has(fkey)) {
        seenHere.add(fkey);
        functions.push({ key: fkey, id: fid, name: fname });
      }
    }
    const id = h.digest();
    stackIds[i] = id;
    const key = idKey(id);
    if (!caches.stacks.has(key) && !seenHere.has(key)) {
      seenHere.add(key);
      stacks.push({ key, id, frames: ids });
    }
    return id;
  };

  // One series per (sample type, distinct sample label set); batch labels win on a clash, as
  // in Pyroscope. Samples with the same stack and span are summed, as Pyroscope dedupes them.
  const types = profile.sampleTypes.map((st) => profileTypeId(name, st, profile.periodType));
  const groups = new Map<number, Map<number | string, Entry>>();
  const spans = new Map<string, Id64 | undefined>();
  for (const s of profile.samples) {
    let entries = groups.get(s.labelSet);
    if (!entries) {
      entries = new Map();
      groups.set(s.labelSet, entries);
    }
    // Most samples carry no span: those are keyed by their stack index alone.
    const key = s.spanId || s.traceId ? `${s.stack}:${s.spanId}:${s.traceId}` : s.stack;
    let e = entries.get(key);
    if (!e) {
      let span: Id64 | undefined;
      if (s.spanId) {
        span = spans.get(s.spanId);
        if (span === undefined && !spans.has(s.spanId)) {
          span = parseSpan(s.spanId);
          spans.set(s.spanId, span);
        }
      }
      e = { stack: stackId(s.stack), span, trace: parseTrace(s.traceId), values: new Float64Array(types.length) };
      entries.set(key, e);
    }
    for (let t = 0; t < types.length; t++) e.values[t] += s.values[t] ?? 0;
  }

  const series: PendingSeries[] = [];
  const w = new RowBinaryWriter(16 * 1024);
  let rowCount = 0;
  for (const [labelSet, group] of groups) {
    const merged: Labels = { ...profile.sampleLabelSets[labelSet], ...labels };
    delete merged.__name__;
    const sorted = [...group.values()].sort((a, b) => a.stack.hi - b.stack.hi || a.stack.lo - b.stack.lo);
    for (let t = 0; t < types.length; t++) {
      const entries = sorted.filter((e) => e.values[t] !== 0);
      if (!entries.length) continue;
      const fp = seriesFingerprint(types[t], merged);
      const skey = `${tenant}\u0000${idKey(fp)}\u0000${dateMs}`;
      if (!caches.series.has(skey)) series.push({ key: skey, tenant, profileType: types[t], service, fingerprint: fp, dateMs, labels: merged });
      const withSpans = entries.some((e) => e.span || e.trace);
      let total = 0;
      for (const e of entries) total += e.values[t];
      w.string(tenant).string(types[t]).string(service).uint64(fp).dateTime64ms(timeMs).uint64(profileId).int64(total);
      w.varUInt(entries.length);
      for (const e of entries) w.uint64(e.stack);
      w.varUInt(entries.length);
      for (const e of entries) w.int64(e.values[t]);
      // Span and trace arrays stay empty for the common profile without spans.
      w.varUInt(withSpans ? entries.length : 0);
      if (withSpans) for (const e of entries) w.uint64(e.span ?? ZERO);
      const withTraces = entries.some((e) => e.trace);
      w.varUInt(withTraces ? entries.length : 0);
      if (withTraces) for (const e of entries) w.fixed(e.trace ?? NO_TRACE, 16);
      rowCount++;
    }
  }
  return { samples: w.bytes(), rowCount, functions, stacks, series, profileId, timeMs };
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
