/**
 * The `scrape` receiver: pulls pprof profiles from HTTP endpoints (Go's net/http/pprof and
 * anything serving the same paths), configured with Parca's `scrape_configs`, which are
 * Prometheus' with a `profiling_config`. Cumulative profiles become deltas here, per target and
 * type, as Grafana Alloy's pyroscope.scrape does.
 */
import type { Logger } from 'pino';
import { consumerOf, type Consumer, type Host, type Receiver, type ReceiverFactory } from '../../core/component.ts';
import { formatDuration } from '../../core/duration.ts';
import { compileRules, type CompiledRule } from '../../core/relabel/rules.ts';
import { defaultConfig, schema, type ScrapeConfig, type ScrapeReceiverConfig } from './config.ts';
import { FileDiscovery, type TargetGroup } from './file-sd.ts';
import { ScrapeLoop } from './loop.ts';
import { forgetTarget, scrapeMetrics, type ScrapeMetrics } from './metrics.ts';
import { registerTargets, type ActiveTargetView, type DroppedTargetView } from './targets-api.ts';
import { buildTargets, type DroppedTarget } from './targets.ts';

export type { ScrapeReceiverConfig } from './config.ts';

const NEVER = '0001-01-01T00:00:00Z';

/** One scrape_config: its discovery, its targets and their loops. */
class Job {
  readonly rules: CompiledRule[];
  readonly files: FileDiscovery[];
  readonly loops = new Map<string, ScrapeLoop>();
  dropped: DroppedTarget[] = [];

  constructor(
    readonly config: ScrapeConfig,
    logger: Logger,
    onChange: () => void,
  ) {
    this.rules = compileRules(config.relabel_configs);
    this.files = config.file_sd_configs.map((f) => new FileDiscovery(f, logger.child({ job: config.job_name }), onChange));
  }

  groups(): TargetGroup[] {
    const statics = this.config.static_configs.map((s, i) => ({ source: `static/${i}`, targets: s.targets, labels: s.labels }));
    return [...statics, ...this.files.flatMap((f) => f.groups())];
  }
}

class ScrapeReceiver implements Receiver {
  private readonly jobs: Job[];
  private readonly metrics: ScrapeMetrics;
  private unregister?: () => void;
  private started = false;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly id: string,
    private readonly config: ScrapeReceiverConfig,
    private readonly consumer: Consumer<'profiles'>,
    private readonly logger: Logger,
    metrics: ScrapeMetrics,
  ) {
    this.metrics = metrics;
    this.jobs = config.scrape_configs.map((c) => new Job(c, logger, () => this.requestSync()));
  }

  async start(host: Host): Promise<void> {
    this.unregister = registerTargets(host.http, { active: () => this.activeView(), dropped: () => this.droppedView() });
    this.started = true;
    await Promise.all(this.jobs.flatMap((j) => j.files.map((f) => f.start())));
    this.requestSync();
    await this.syncing;
  }

  async shutdown(): Promise<void> {
    this.started = false;
    for (const j of this.jobs) for (const f of j.files) f.stop();
    await this.syncing;
    await Promise.all(this.jobs.flatMap((j) => [...j.loops.values()].map((l) => l.stop())));
    for (const j of this.jobs) {
      for (const l of j.loops.values()) forgetTarget(this.metrics, l.labelsForMetrics);
      j.loops.clear();
      this.metrics.targets.remove({ receiver: this.id, job: j.config.job_name });
    }
    this.unregister?.();
  }

  private requestSync(): void {
    this.syncing = this.syncing.then(() => this.sync()).catch((err) => this.logger.error({ err }, 'updating scrape targets failed'));
  }

  /** Starts loops for new targets and stops those of targets that are gone; the others keep their baselines. */
  private async sync(): Promise<void> {
    if (!this.started) return;
    for (const job of this.jobs) {
      const set = buildTargets(job.config, job.rules, job.groups());
      job.dropped = set.dropped;
      const wanted = new Map(set.active.map((t) => [t.key, t]));
      const stopping: Promise<void>[] = [];
      for (const [key, loop] of job.loops) {
        if (wanted.has(key)) {
          loop.target = { ...loop.target, discoveredLabels: wanted.get(key)!.discoveredLabels };
          continue;
        }
        job.loops.delete(key);
        stopping.push(loop.stop().then(() => this.forget(loop)));
      }
      for (const [key, target] of wanted) {
        if (job.loops.has(key)) continue;
        const loop = new ScrapeLoop(target, job.config, {
          receiverId: this.id,
          tenant: this.config.tenant,
          consumer: this.consumer,
          logger: this.logger,
          metrics: this.metrics,
        });
        job.loops.set(key, loop);
        loop.start();
      }
      await Promise.all(stopping);
      this.metrics.targets.set({ receiver: this.id, job: job.config.job_name }, job.loops.size);
      this.logger.info({ job: job.config.job_name, targets: job.loops.size, dropped: job.dropped.length }, 'scrape targets updated');
    }
  }

  /** Removes a stopped loop's series, unless another target reports under the same labels (same job, instance and type). */
  private forget(stopped: ScrapeLoop): void {
    const key = JSON.stringify(stopped.labelsForMetrics);
    const shared = this.jobs.some((j) => [...j.loops.values()].some((l) => JSON.stringify(l.labelsForMetrics) === key));
    if (!shared) forgetTarget(this.metrics, stopped.labelsForMetrics);
  }

  private activeView(): ActiveTargetView[] {
    return this.jobs.flatMap((job) =>
      [...job.loops.values()].map((loop) => ({
        discoveredLabels: loop.target.discoveredLabels,
        labels: loop.target.labels,
        scrapePool: job.config.job_name,
        scrapeUrl: loop.target.url,
        globalUrl: loop.target.url,
        lastError: loop.health.lastError,
        lastScrape: loop.health.lastScrape?.toISOString() ?? NEVER,
        lastScrapeDuration: loop.health.lastScrapeDurationSeconds,
        health: loop.health.health,
        scrapeInterval: formatDuration(job.config.scrape_interval_ms),
        scrapeTimeout: formatDuration(loop.timeoutMs),
      })),
    );
  }

  private droppedView(): DroppedTargetView[] {
    return this.jobs.flatMap((job) => job.dropped.map((d) => ({ discoveredLabels: d.discoveredLabels, scrapePool: d.job, reason: d.reason })));
  }
}

export const factory: ReceiverFactory<ScrapeReceiverConfig> = {
  type: 'scrape',
  kind: 'receiver',
  stability: 'alpha',
  signals: ['profiles'],
  schema,
  defaultConfig,
  create(settings, config, next) {
    const consumer = consumerOf(next, 'profiles', settings.id);
    return new ScrapeReceiver(settings.id, config, consumer, settings.logger, scrapeMetrics(settings.metrics));
  },
};

export default factory;
