/**
 * The ingest limits, checked in one place that every batch of every receiver passes before its
 * pipeline: the service wraps each receiver's consumer (see Service), so pyroscope, otlp,
 * scrape, ebpf and nats batches obey the same per-tenant limits, sample labels included.
 */
import type { Consumer } from '../component.ts';
import type { Batch, Labels, Profile } from '../model.ts';
import { profileTypeId } from '../model.ts';
import type { SeriesCardinality } from './cardinality.ts';
import { seriesKey } from './cardinality.ts';
import { LimitExceededError } from './errors.ts';
import type { IngestionRate } from './rate.ts';
import type { TenantLimits } from './schema.ts';
import { checkLabelLimits } from './series-labels.ts';

const NS_PER_MS = 1_000_000n;

export interface IngestLimitsDeps {
  limitsFor(tenant: string): TenantLimits;
  rate: IngestionRate;
  series: SeriesCardinality;
  now?: () => number;
}

/** A consumer that checks each batch against its tenant's limits, then hands it on. */
export function limitedConsumer(next: Consumer<'profiles'>, deps: IngestLimitsDeps): Consumer<'profiles'> {
  return {
    async consume(batch) {
      await checkIngestLimits(batch, deps);
      return next.consume(batch);
    },
  };
}

/**
 * Checks a batch; may shorten stacks deeper than the limit (as Pyroscope truncates them rather
 * than refusing the profile). Throws a LimitExceededError naming the limit.
 */
export async function checkIngestLimits(batch: Batch, deps: IngestLimitsDeps): Promise<void> {
  const l = deps.limitsFor(batch.tenant);
  const p = batch.profile;
  checkTime(p, l, deps.now?.() ?? Date.now());
  checkLabelLimits(batch.labels, l);
  // Series before samples: a profile that would create thousands of series says so (422).
  const countSeries = await checkSeries(batch, l, deps.series);
  if (l.maxProfileStacktraceSamples && p.samples.length > l.maxProfileStacktraceSamples) {
    throw new LimitExceededError(400, 'max_profile_stacktrace_samples', `the profile has ${p.samples.length} samples; the limit is ${l.maxProfileStacktraceSamples}`);
  }
  const size = profileSize(p);
  if (l.maxProfileSizeBytes && size > l.maxProfileSizeBytes) {
    throw new LimitExceededError(413, 'max_profile_size_bytes', `the profile takes ${size} bytes decoded; the limit is ${l.maxProfileSizeBytes}`);
  }
  if (l.maxProfileStacktraceDepth) truncateStacks(p, l.maxProfileStacktraceDepth);
  deps.rate.take(batch.tenant, size, l.ingestionRateBytes, l.ingestionBurstBytes);
  countSeries();
}

function checkTime(p: Profile, l: TenantLimits, nowMs: number): void {
  const t = Number(p.timeNanos / NS_PER_MS);
  if (l.rejectOlderThanMs && t < nowMs - l.rejectOlderThanMs) {
    throw new LimitExceededError(400, 'reject_older_than', `the profile is from ${iso(t)}, more than ${l.rejectOlderThanMs / 1000} s ago`);
  }
  if (l.rejectNewerThanMs && t > nowMs + l.rejectNewerThanMs) {
    throw new LimitExceededError(400, 'reject_newer_than', `the profile is from ${iso(t)}, more than ${l.rejectNewerThanMs / 1000} s in the future`);
  }
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString();
}

/**
 * Each distinct label set samples use becomes a series per sample type (storage splits a
 * profile that way): every merged set obeys the label limits, and the new ones count against
 * the tenant's series.
 */
async function checkSeries(batch: Batch, l: TenantLimits, series: SeriesCardinality): Promise<() => void> {
  const p = batch.profile;
  const used = new Set<number>();
  for (const s of p.samples) used.add(s.labelSet);
  const types = p.sampleTypes.map((t) => profileTypeId(batch.labels.__name__ ?? '', t, p.periodType));
  const mergedSets = function* (): Generator<Labels> {
    for (const i of used) {
      const own = p.sampleLabelSets[i];
      if (!own || Object.keys(own).length === 0) {
        yield batch.labels;
        continue;
      }
      const merged = { ...own, ...batch.labels };
      checkLabelLimits(merged, l);
      yield merged;
    }
  };
  if (!l.maxGlobalSeriesPerTenant) {
    for (const _ of mergedSets());
    return () => {};
  }
  const known = await series.known(batch.tenant, l.maxGlobalSeriesPerTenant);
  const keys = function* (): Generator<string> {
    for (const labels of mergedSets()) for (const t of types) yield seriesKey(t, labels);
  };
  return series.admit(batch.tenant, known, keys(), l.maxGlobalSeriesPerTenant);
}

/** What a decoded profile takes: names and labels as characters, frames and values as numbers. */
export function profileSize(p: Profile): number {
  let n = 0;
  for (const name of p.names) n += name.length;
  for (const s of p.stacks) n += s.length * 4;
  n += p.samples.length * (8 * p.sampleTypes.length + 8);
  for (const set of p.sampleLabelSets) for (const k in set) n += k.length + set[k].length;
  return n;
}

/** Keeps the root-most frames of a deeper stack (stacks are leaf first). */
function truncateStacks(p: Profile, depth: number): void {
  for (let i = 0; i < p.stacks.length; i++) {
    const s = p.stacks[i];
    if (s.length > depth) p.stacks[i] = s.subarray(s.length - depth);
  }
}
