/**
 * Deltas of cumulative pprof profiles (Go's allocs, mutex and block profiles count from process
 * start), computed by the collector the way Grafana Alloy does for pull mode: each scrape is
 * compared with the previous one of the same target and type, and only what happened in between
 * is kept.
 *
 * Samples are matched by content (function names of the stack and the sample's labels), not by
 * pprof IDs, which are only meaningful inside one profile. A target that restarted reports
 * smaller counters than the baseline; that scrape becomes the new baseline and yields nothing,
 * so a restart can never produce a negative sample.
 */
import type { Profile, Sample } from '../../core/model.ts';

/** What is remembered of the previous scrape: its cumulative values per sample key. */
export interface CumulativeBaseline {
  /** `type/unit` of every sample type, to notice a target that changed what it reports. */
  readonly layout: string;
  readonly timeNanos: bigint;
  /** Per cumulative sample type (in `cumulative` order), the profile's total. */
  readonly totals: number[];
  readonly values: ReadonlyMap<string, number[]>;
}

export type DeltaResult =
  /** No baseline yet (first scrape, or a layout change): nothing to emit. */
  | { kind: 'baseline'; baseline: CumulativeBaseline }
  /** Counters went down: the target restarted. Nothing to emit; this scrape is the new baseline. */
  | { kind: 'reset'; baseline: CumulativeBaseline }
  /** What happened since the baseline; `profile` is null when nothing did. */
  | { kind: 'delta'; baseline: CumulativeBaseline; profile: Profile | null };

interface Grouped {
  /** One representative sample per key, values summed over every sample with that key. */
  samples: Map<string, Sample>;
}

function sampleKey(profile: Profile, sample: Sample): string {
  const stack = profile.stacks[sample.stack];
  let key = '';
  for (let i = 0; i < stack.length; i++) key += profile.names[stack[i]] + '\x00';
  const labels = profile.sampleLabelSets[sample.labelSet];
  if (labels) {
    for (const name of Object.keys(labels).sort()) key += `\x01${name}\x02${labels[name]}`;
  }
  if (sample.spanId) key += `\x03${sample.spanId}`;
  if (sample.traceId) key += `\x04${sample.traceId}`;
  return key;
}

function group(profile: Profile): Grouped {
  const samples = new Map<string, Sample>();
  for (const s of profile.samples) {
    const key = sampleKey(profile, s);
    const seen = samples.get(key);
    if (seen) for (let i = 0; i < seen.values.length; i++) seen.values[i] += s.values[i] ?? 0;
    else samples.set(key, { ...s, values: [...s.values] });
  }
  return { samples };
}

function layoutOf(profile: Profile): string {
  return profile.sampleTypes.map((t) => `${t.type}/${t.unit}`).join(',');
}

function baselineOf(profile: Profile, grouped: Grouped, cumulative: readonly number[]): CumulativeBaseline {
  const values = new Map<string, number[]>();
  const totals = cumulative.map(() => 0);
  for (const [key, s] of grouped.samples) {
    const v = cumulative.map((i) => s.values[i] ?? 0);
    v.forEach((x, j) => (totals[j] += x));
    values.set(key, v);
  }
  return { layout: layoutOf(profile), timeNanos: profile.timeNanos, totals, values };
}

/**
 * Compares `current` with `previous`. `cumulative` lists the indices of the sample types that
 * count from process start (for Go's allocs profile: alloc_objects and alloc_space); the other
 * sample types (inuse_*) are snapshots and pass through unchanged.
 */
export function cumulativeDelta(previous: CumulativeBaseline | undefined, current: Profile, cumulative: readonly number[]): DeltaResult {
  const grouped = group(current);
  const baseline = baselineOf(current, grouped, cumulative);
  if (!previous || previous.layout !== baseline.layout) return { kind: 'baseline', baseline };

  // A restarted process starts its counters again from zero, so some total drops below the
  // baseline's, or stacks that had counts are gone.
  if (baseline.totals.some((t, j) => t < previous.totals[j])) return { kind: 'reset', baseline };
  for (const [key, v] of previous.values) {
    if (!baseline.values.has(key) && v.some((x) => x !== 0)) return { kind: 'reset', baseline };
  }

  const samples: Sample[] = [];
  for (const [key, s] of grouped.samples) {
    const before = previous.values.get(key);
    const values = [...s.values];
    cumulative.forEach((i, j) => {
      // Go scales sampled counts by their average size, so one stack's estimate can dip slightly
      // while the totals grow; a dip means "nothing new", never a negative amount.
      const d = (values[i] ?? 0) - (before ? before[j] : 0);
      values[i] = d > 0 ? d : 0;
    });
    if (values.some((x) => x !== 0)) samples.push({ ...s, values });
  }
  if (samples.length === 0) return { kind: 'delta', baseline, profile: null };
  const elapsed = current.timeNanos - previous.timeNanos;
  return {
    kind: 'delta',
    baseline,
    profile: { ...current, samples, durationNanos: elapsed > 0n ? elapsed : current.durationNanos },
  };
}
