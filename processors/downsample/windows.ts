/**
 * Open windows: one merged profile per (tenant, series, profile type, window), with the
 * callers whose batches it holds. A window is handed on once it is closed and `max_delay` has
 * passed for late profiles, counted from the window's end or, for profiles stamped long ago,
 * from when its first profile arrived. Every caller's promise settles with its window's export.
 */
import { createHash } from 'node:crypto';
import type { Batch } from '../../core/model.ts';
import type { Downstream } from '../../core/component.ts';
import { ProfileMerger } from './merge.ts';

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface OpenWindow {
  key: string;
  first: Batch;
  startNanos: bigint;
  merger: ProfileMerger;
  memberKeys: string[];
  waiters: Waiter[];
  next: Downstream<Batch>;
  timer: NodeJS.Timeout;
}

export interface WindowStats {
  merged: number;
  emitted: number;
  early: number;
}

/** The series a batch belongs to, profile type included, for grouping. */
export function seriesKey(b: Batch): string {
  const labels = Object.entries(b.labels).sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
  const p = b.profile;
  return JSON.stringify([b.tenant, labels, p.sampleTypes, p.periodType, p.period]);
}

export class Windows {
  private readonly open = new Map<string, OpenWindow>();
  readonly stats: WindowStats = { merged: 0, emitted: 0, early: 0 };

  constructor(
    private readonly maxDelayMs: number,
    private readonly maxSeries: number,
    private readonly dropSpanIds: boolean,
    private readonly onEmit: () => void = () => {},
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Adds the batch to its window; settles once that window's merged profile is durable. */
  add(batch: Batch, windowMs: number, next: Downstream<Batch>, accepted: () => void): Promise<void> {
    const windowNs = BigInt(windowMs) * 1_000_000n;
    const startNanos = (batch.profile.timeNanos / windowNs) * windowNs;
    const key = `${seriesKey(batch)}@${startNanos}`;
    let w = this.open.get(key);
    if (!w) {
      // Beyond max_series the window that has waited longest goes out now, to bound memory.
      while (this.open.size >= this.maxSeries) {
        const oldest = this.open.values().next().value as OpenWindow;
        this.stats.early++;
        this.emit(oldest);
      }
      const closesAt = Number((startNanos + windowNs) / 1_000_000n) + this.maxDelayMs;
      const delay = Math.min(Math.max(closesAt - Date.now(), this.maxDelayMs), windowMs + this.maxDelayMs);
      const created: OpenWindow = {
        key,
        first: batch,
        startNanos,
        merger: new ProfileMerger(this.dropSpanIds),
        memberKeys: [],
        waiters: [],
        next,
        timer: setTimeout(() => this.emit(created), delay),
      };
      w = created;
      this.open.set(key, w);
    }
    w.merger.add(batch.profile);
    w.memberKeys.push(batch.idempotencyKey);
    this.stats.merged++;
    const window = w;
    const done = new Promise<void>((resolve, reject) => window.waiters.push({ resolve, reject }));
    accepted();
    return done;
  }

  /** Hands on every open window; settles when all are durable (or failed). */
  async flushAll(): Promise<void> {
    const all = [...this.open.values()];
    await Promise.allSettled(all.map((w) => this.emit(w)));
  }

  private emit(w: OpenWindow): Promise<void> {
    if (this.open.get(w.key) !== w) return Promise.resolve();
    this.open.delete(w.key);
    clearTimeout(w.timer);
    this.stats.emitted++;
    this.onEmit();
    const merged: Batch = {
      tenant: w.first.tenant,
      labels: w.first.labels,
      profile: w.merger.profile(w.startNanos),
      idempotencyKey: mergedKey(w),
    };
    const waiters = w.waiters;
    return w.next([merged]).then(
      () => {
        for (const x of waiters) x.resolve();
      },
      (e) => {
        for (const x of waiters) x.reject(e);
      },
    );
  }
}

/**
 * Deterministic from the window, the series and the profiles merged: the same group handed on
 * again (a redelivery, a retry of the whole window) is stored once, while a late profile of an
 * already stored window makes a second profile instead of being taken for a duplicate.
 */
function mergedKey(w: OpenWindow): string {
  const h = createHash('sha256').update(w.key).update('\n');
  for (const k of [...w.memberKeys].sort()) h.update(k).update('\n');
  return `downsample:${h.digest('hex').slice(0, 32)}`;
}
