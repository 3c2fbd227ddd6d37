/**
 * The scrape loop of one target and profile type: scrapes at a fixed offset within the interval
 * (so that targets are spread, not synchronized), never two at once, each bounded by a timeout.
 * A failure is recorded and the target is tried again at its next slot; it never holds up
 * another target's loop.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Consumer } from '../../core/component.ts';
import type { Batch, Profile } from '../../core/model.ts';
import { cumulativeDelta, decodePprof, type CumulativeBaseline } from '../../formats/pprof/index.ts';
import type { ScrapeConfig } from './config.ts';
import { fetchProfile, ScrapeError } from './fetch.ts';
import type { ScrapeMetrics, TargetMetricLabels } from './metrics.ts';
import { cumulativeIndices } from './profile-types.ts';
import type { ScrapeTarget } from './targets.ts';

export type Health = 'unknown' | 'up' | 'down';

export interface TargetHealth {
  health: Health;
  /** Start of the last scrape; undefined before the first one. */
  lastScrape?: Date;
  lastScrapeDurationSeconds: number;
  lastError: string;
}

export interface LoopDeps {
  receiverId: string;
  tenant: string;
  consumer: Consumer<'profiles'>;
  logger: Logger;
  metrics: ScrapeMetrics;
}

/** Profiles stamped before this are treated as unstamped (Go leaves some at 0). */
const START_OF_1971_NS = 31_536_000_000_000_000n;

/** Where in the interval this target scrapes: stable per target, uniform across targets. */
export function scrapeOffsetMs(key: string, intervalMs: number): number {
  const h = createHash('sha256').update(key).digest();
  return Number(h.readBigUInt64BE(0) % BigInt(intervalMs));
}

export class ScrapeLoop {
  readonly health: TargetHealth = { health: 'unknown', lastScrapeDurationSeconds: 0, lastError: '' };
  private baseline?: CumulativeBaseline;
  private timer?: NodeJS.Timeout;
  private readonly stopping = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private readonly metricLabels: TargetMetricLabels;
  private readonly logger: Logger;

  constructor(
    public target: ScrapeTarget,
    private readonly job: ScrapeConfig,
    private readonly deps: LoopDeps,
  ) {
    this.metricLabels = {
      receiver: deps.receiverId,
      job: target.job,
      instance: target.labels.instance ?? '',
      profile: target.profileType.name,
    };
    this.logger = deps.logger.child({ job: target.job, target: target.url });
  }

  get labelsForMetrics(): TargetMetricLabels {
    return this.metricLabels;
  }

  /** The time budget of one scrape: the timeout, plus the profiling window of windowed types. */
  get timeoutMs(): number {
    const t = this.target.profileType;
    return this.job.scrape_timeout_ms + (t.delta ? t.seconds * 1000 : 0);
  }

  start(): void {
    const interval = this.job.scrape_interval_ms;
    const now = Date.now();
    // Anchored on the epoch, so that a target keeps its slot when it is rediscovered.
    const offset = scrapeOffsetMs(this.target.key, interval);
    let first = now - (now % interval) + offset;
    if (first <= now) first += interval;
    this.schedule(first);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.stopping.abort(new Error('target removed or receiver stopping'));
    await this.running;
  }

  private schedule(at: number): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.scrape().finally(() => {
        // A scrape that ran past its slot skips the slots it missed instead of bunching up.
        let next = at + this.job.scrape_interval_ms;
        const now = Date.now();
        while (next <= now) next += this.job.scrape_interval_ms;
        this.schedule(next);
      });
    }, Math.max(0, at - Date.now()));
  }

  private async scrape(): Promise<void> {
    const started = Date.now();
    const m = this.deps.metrics;
    try {
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.timeoutMs)]);
      const body = await fetchProfile(this.target.url, signal, this.job.body_size_limit);
      const outcome = this.toDeliver(body, started);
      if (outcome.profile) {
        await this.deps.consumer.consume(this.batchOf(outcome.profile, body));
        m.profiles.inc(this.metricLabels);
      }
      // Only once delivered: a delta that could not be delivered is folded into the next one.
      if (outcome.baseline) this.baseline = outcome.baseline;
      this.health.health = 'up';
      this.health.lastError = '';
      m.up.set(this.metricLabels, 1);
      m.lastSuccess.set(this.metricLabels, Date.now() / 1000);
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      const message = err instanceof ScrapeError ? err.message : `delivering the profile: ${(err as Error).message}`;
      this.health.health = 'down';
      this.health.lastError = message;
      m.up.set(this.metricLabels, 0);
      m.failures.inc(this.metricLabels);
      this.logger.warn({ err: message }, 'scrape failed');
    } finally {
      const seconds = (Date.now() - started) / 1000;
      this.health.lastScrape = new Date(started);
      this.health.lastScrapeDurationSeconds = seconds;
      if (!this.stopping.signal.aborted) m.duration.set(this.metricLabels, seconds);
    }
  }

  /** The profile to deliver for this scrape (none for a first cumulative scrape) and the next baseline. */
  private toDeliver(body: Uint8Array, startedMs: number): { profile: Profile | null; baseline?: CumulativeBaseline } {
    let profile: Profile;
    try {
      profile = decodePprof(body, { maxBytes: this.job.body_size_limit });
    } catch (err) {
      throw new ScrapeError(`the response is not a valid pprof profile: ${(err as Error).message}`);
    }
    if (profile.timeNanos < START_OF_1971_NS) profile = { ...profile, timeNanos: BigInt(startedMs) * 1_000_000n };
    const cumulative = cumulativeIndices(this.target.profileType, profile.sampleTypes);
    if (cumulative.length === 0) return { profile: profile.samples.length > 0 ? profile : null };
    const r = cumulativeDelta(this.baseline, profile, cumulative);
    if (r.kind === 'reset') {
      this.deps.metrics.resets.inc(this.metricLabels);
      this.logger.info('counters went down (target restarted); starting a new baseline');
    }
    return { profile: r.kind === 'delta' ? r.profile : null, baseline: r.baseline };
  }

  private batchOf(profile: Profile, body: Uint8Array): Batch {
    const labels = this.target.labels;
    const h = createHash('sha256');
    h.update(JSON.stringify(['scrape', this.deps.tenant, this.target.key, String(profile.timeNanos)]));
    h.update('\0');
    h.update(body);
    return { tenant: this.deps.tenant, labels: { ...labels }, profile, idempotencyKey: h.digest('hex') };
  }
}
