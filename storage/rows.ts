/**
 * Turns a Batch into the rows of the storage tables.
 *
 * This is on the ingest hot path: sample rows are emitted straight as TabSeparated text
 * (about four times cheaper for ClickHouse to parse than JSON, and cheaper for us to build),
 * and function/stack IDs are memoized so that a stack already written is never re-sent.
 */
import { profileTypeId, type Batch, type Labels } from '../core/model.ts';
import { Hasher, hashString, idToDecimal, type Id64 } from './ids.ts';

export interface SeriesRow {
  tenant: string;
  profile_type: string;
  service: string;
  fingerprint: string;
  date: string;
  labels: Labels;
}

export interface BatchRows {
  /** TabSeparated rows for the samples table. */
  samples: string;
  sampleCount: number;
  functions: Array<{ id: string; name: string }>;
  stacks: Array<{ id: string; frames: string[] }>;
  series: SeriesRow[];
  /** Decimal UInt64 derived from the idempotency key. */
  profileId: string;
  minTimeMs: number;
  maxTimeMs: number;
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
}

export function newRowCaches(): RowCaches {
  return { functions: new SeenSet(1_000_000), stacks: new SeenSet(1_000_000), series: new SeenSet(200_000) };
}

const SERIES_HIDDEN = new Set(['__name__']);

export function seriesKey(tenant: string, fingerprint: string, date: string): string {
  return `${tenant}\u0000${fingerprint}\u0000${date}`;
}

export function seriesFingerprint(profileType: string, labels: Labels): string {
  const h = new Hasher().string(profileType);
  for (const k of Object.keys(labels).sort()) {
    if (SERIES_HIDDEN.has(k)) continue;
    h.string(k).string(labels[k]);
  }
  return idToDecimal(h.digest());
}

/** TabSeparated escaping of a string field. */
export function tsvEscape(s: string): string {
  return /[\\\t\n\r\0]/.test(s)
    ? s.replace(/[\\\t\n\r\0]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\0'))
    : s;
}

function spanToDecimal(hex: string | undefined): string {
  if (!hex || !/^[0-9a-fA-F]{1,16}$/.test(hex)) return '0';
  return BigInt('0x' + hex).toString();
}

/** DateTime64 covers 1900–2299; a profile stamped outside what is plausible is stored at arrival. */
const MIN_TIME_MS = Date.UTC(1971, 0, 1);
const MAX_TIME_MS = Date.UTC(2200, 0, 1);
function storableTime(timeNanos: bigint, nowMs: number): number {
  const ms = Number(timeNanos / 1_000_000n);
  return ms >= MIN_TIME_MS && ms < MAX_TIME_MS ? ms : nowMs;
}

function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function batchToRows(batch: Batch, caches: RowCaches, nowMs = Date.now()): BatchRows {
  const { profile, labels, tenant } = batch;
  const name = labels.__name__;
  const service = labels.service_name ?? 'unknown_service';
  const timeMs = storableTime(profile.timeNanos, nowMs);
  const timeText = (timeMs / 1000).toFixed(3);
  const date = utcDate(timeMs);
  const profileId = idToDecimal(hashString(batch.idempotencyKey));
  const tenantText = tsvEscape(tenant);
  const serviceText = tsvEscape(service);

  // Functions and stacks, by content. A stack's ID hashes its function IDs, leaf first.
  const functions: BatchRows['functions'] = [];
  const fnIds: Id64[] = new Array(profile.names.length);
  const fnText: string[] = new Array(profile.names.length);
  const stacks: BatchRows['stacks'] = [];
  const stackIds: string[] = new Array(profile.stacks.length);
  const usedStacks = new Uint8Array(profile.stacks.length);
  for (const s of profile.samples) usedStacks[s.stack] = 1;
  for (let i = 0; i < profile.stacks.length; i++) {
    if (!usedStacks[i]) continue;
    const frames = profile.stacks[i];
    const h = new Hasher();
    for (let j = 0; j < frames.length; j++) {
      const f = frames[j];
      if (fnIds[f] === undefined) {
        const id = hashString(profile.names[f]);
        fnIds[f] = id;
        const text = idToDecimal(id);
        fnText[f] = text;
        if (!caches.functions.has(text)) {
          functions.push({ id: text, name: profile.names[f] });
        }
      }
      h.id(fnIds[f]);
    }
    const id = idToDecimal(h.digest());
    stackIds[i] = id;
    if (!caches.stacks.has(id)) {
      stacks.push({ id, frames: Array.from(frames, (f) => fnText[f]) });
    }
  }

  // One series per (sample type, distinct sample label set); batch labels win on a clash,
  // as in Pyroscope.
  const typeIds = profile.sampleTypes.map((st) => profileTypeId(name, st, profile.periodType));
  const series: SeriesRow[] = [];
  const fingerprints: string[][] = profile.sampleLabelSets.map((set) => {
    const merged: Labels = { ...set, ...labels };
    delete merged.__name__;
    return typeIds.map((pt) => {
      const fp = seriesFingerprint(pt, merged);
      if (!caches.series.has(seriesKey(tenant, fp, date))) {
        series.push({ tenant, profile_type: pt, service, fingerprint: fp, date, labels: merged });
      }
      return fp;
    });
  });

  // Samples with the same stack, label set and span are summed, as Pyroscope dedupes them.
  const sums = new Map<string, number[]>();
  const keys: Array<{ stack: number; labelSet: number; span: string; trace: string }> = [];
  for (const s of profile.samples) {
    const span = s.spanId ?? '';
    const trace = s.traceId ?? '';
    const key = `${s.stack}|${s.labelSet}|${span}|${trace}`;
    let acc = sums.get(key);
    if (!acc) {
      acc = new Array(typeIds.length).fill(0);
      sums.set(key, acc);
      keys.push({ stack: s.stack, labelSet: s.labelSet, span, trace });
    }
    for (let t = 0; t < typeIds.length; t++) acc[t] += s.values[t] ?? 0;
  }
  const typeTexts = typeIds.map(tsvEscape);
  let out = '';
  let count = 0;
  let k = 0;
  for (const acc of sums.values()) {
    const { stack, labelSet, span, trace } = keys[k++];
    const spanText = spanToDecimal(span);
    const traceText = /^[0-9a-fA-F]{32}$/.test(trace) ? trace.toLowerCase() : '';
    for (let t = 0; t < typeIds.length; t++) {
      const v = acc[t];
      if (v === 0) continue;
      out += `${tenantText}\t${typeTexts[t]}\t${serviceText}\t${fingerprints[labelSet][t]}\t${timeText}\t${stackIds[stack]}\t${Math.round(v)}\t${spanText}\t${traceText}\t${profileId}\n`;
      count++;
    }
  }
  return { samples: out, sampleCount: count, functions, stacks, series, profileId, minTimeMs: timeMs, maxTimeMs: timeMs };
}
