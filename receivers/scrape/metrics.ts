/**
 * Target health on /metrics, as Prometheus reports its own scrapes (`up`, scrape duration),
 * one series per receiver, job, instance and profile type.
 */
import type { Registry } from 'prom-client';
import { counter, gauge } from '../../core/metrics.ts';

const LABELS = ['receiver', 'job', 'instance', 'profile'] as const;
export type TargetMetricLabels = Record<(typeof LABELS)[number], string>;

export function scrapeMetrics(registry: Registry) {
  return {
    up: gauge(registry, 'hearth_scrape_target_up', '1 if the last scrape of the target succeeded, 0 if it failed.', LABELS),
    duration: gauge(registry, 'hearth_scrape_duration_seconds', 'How long the last scrape of the target took, delivery included.', LABELS),
    lastSuccess: gauge(
      registry,
      'hearth_scrape_last_success_timestamp_seconds',
      'Unix time of the last scrape of the target that succeeded.',
      LABELS,
    ),
    failures: counter(registry, 'hearth_scrape_failures_total', 'Scrapes that failed (unreachable, timeout, HTTP error, bad profile, or not delivered).', LABELS),
    profiles: counter(registry, 'hearth_scrape_profiles_total', 'Profiles delivered to the pipeline.', LABELS),
    resets: counter(
      registry,
      'hearth_scrape_counter_resets_total',
      'Cumulative profiles whose counters went down (the target restarted); they start a new baseline.',
      LABELS,
    ),
    targets: gauge(registry, 'hearth_scrape_targets', 'Targets being scraped, per receiver and job.', ['receiver', 'job'] as const),
  };
}

export type ScrapeMetrics = ReturnType<typeof scrapeMetrics>;

/** Drops a target's series once it is no longer scraped, so /metrics does not keep stale ones. */
export function forgetTarget(m: ScrapeMetrics, labels: TargetMetricLabels): void {
  m.up.remove(labels);
  m.duration.remove(labels);
  m.lastSuccess.remove(labels);
  m.failures.remove(labels);
  m.profiles.remove(labels);
  m.resets.remove(labels);
}
