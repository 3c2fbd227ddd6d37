/**
 * Timelines in the shape of Pyroscope's render response: fixed steps, zero-backfilled.
 */
import type { TimelineSeries } from '../storage/query.ts';

export interface Timeline {
  /** Unix seconds of the first bucket. */
  startTime: number;
  samples: number[];
  /** Seconds per bucket. */
  durationDelta: number;
  watermarks: Record<string, never>;
}

const NICE_STEPS = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** About 1500 points across the range, rounded up to a Grafana-style interval, at least 15 s. */
export function stepFor(fromMs: number, untilMs: number): number {
  const raw = (untilMs - fromMs) / 1000 / 1500;
  // Past a week per point, whole weeks: a range of centuries still makes about 1500 points.
  return NICE_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / 604800) * 604800;
}

export function toTimeline(series: TimelineSeries | undefined, fromMs: number, untilMs: number, stepSeconds: number): Timeline {
  const stepMs = stepSeconds * 1000;
  const start = Math.floor(fromMs / stepMs) * stepMs;
  const n = Math.max(1, Math.ceil((untilMs - start) / stepMs));
  const samples = new Array<number>(n).fill(0);
  for (const [ts, v] of series?.points ?? []) {
    const i = Math.floor((ts - start) / stepMs);
    if (i >= 0 && i < n) samples[i] += v;
  }
  return { startTime: start / 1000, samples, durationDelta: stepSeconds, watermarks: {} };
}
