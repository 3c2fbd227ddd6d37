/**
 * The `downsample` processor: merges the profiles of one series and profile type that fall in
 * the same time window into one profile (totals exact, stacks merged, values summed).
 *
 * Durability: the processor acknowledges nothing itself. It holds each caller until the merged
 * profile holding its batch is durable downstream, so a client's 2xx (or an ingester's
 * JetStream ack) still means stored, and a crash loses only batches nobody acknowledged.
 */
import { z } from 'zod';
import type { Batch } from '../../core/model.ts';
import type { Processor, ProcessorFactory } from '../../core/component.ts';
import { counter, gauge } from '../../core/metrics.ts';
import { parseDuration } from '../../core/duration.ts';
import { matchesLabels, parseSelector, type Matcher } from '../../core/selector.ts';
import { Windows } from './windows.ts';

export interface DownsampleRule {
  /** A series selector over the batch's series labels, e.g. `{service_name=~"batch-.*"}`. */
  match: string;
  /** Window for the series it matches; `0` passes them through unmerged. */
  window: string;
}

export interface DownsampleConfig {
  window: string;
  max_delay: string;
  max_series: number;
  drop_span_ids: boolean;
  rules: DownsampleRule[];
}

/** The longest window: callers are held that long, and no client or ack timeout waits more. */
const MAX_WINDOW_MS = 3_600_000;

const duration = (max: number) =>
  z.string().superRefine((text, ctx) => {
    try {
      const ms = parseDuration(text);
      if (ms > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max / 1000}s` });
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });

const selector = z.string().superRefine((text, ctx) => {
  try {
    const s = parseSelector(text);
    if (s.metric) ctx.addIssue({ code: 'custom', message: 'write only label matchers in braces, e.g. {service_name="api"}' });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const schema = z.strictObject({
  window: duration(MAX_WINDOW_MS),
  max_delay: duration(MAX_WINDOW_MS),
  max_series: z.number().int().min(1).max(10_000_000),
  drop_span_ids: z.boolean(),
  rules: z.array(z.strictObject({ match: selector, window: duration(MAX_WINDOW_MS) })),
});

export function defaultConfig(): DownsampleConfig {
  return { window: '1m', max_delay: '10s', max_series: 10_000, drop_span_ids: false, rules: [] };
}

export const factory: ProcessorFactory<DownsampleConfig> = {
  type: 'downsample',
  kind: 'processor',
  stability: 'alpha',
  signals: ['profiles'],
  schema,
  defaultConfig,
  create(settings, config): Processor {
    const windowMs = parseDuration(config.window);
    const rules = config.rules.map((r) => ({ matchers: parseSelector(r.match).matchers as Matcher[], windowMs: parseDuration(r.window) }));
    const merged = counter(settings.metrics, 'hearth_processor_downsample_merged_total', 'Profiles taken into a merged profile.', ['processor']);
    const emitted = counter(settings.metrics, 'hearth_processor_downsample_emitted_total', 'Merged profiles handed on.', ['processor']);
    const labels = { processor: settings.id };
    const open = gauge(settings.metrics, 'hearth_processor_downsample_open_windows', 'Merged profiles being built (one per series, profile type and window).', ['processor']);
    const windows = new Windows(parseDuration(config.max_delay), config.max_series, config.drop_span_ids, () => {
      emitted.inc(labels);
      open.set(labels, windows.size);
    });
    let flushing = false;

    const windowOf = (b: Batch): number => {
      for (const r of rules) if (matchesLabels(r.matchers, b.labels)) return r.windowMs;
      return windowMs;
    };
    const alone = (b: Batch): Batch => {
      if (!config.drop_span_ids) return b;
      const samples = b.profile.samples.map(({ spanId: _s, traceId: _t, ...rest }) => rest);
      return { ...b, profile: { ...b.profile, samples } };
    };

    return {
      async start() {},
      async process(batch) {
        return alone(batch);
      },
      hold(batch, next, accepted) {
        const w = windowOf(batch);
        // Shutting down, or a rule that turns merging off: straight through.
        if (flushing || w === 0) return next([alone(batch)]);
        merged.inc(labels);
        const done = windows.add(batch, w, next, accepted);
        open.set(labels, windows.size);
        return done;
      },
      async flush() {
        flushing = true;
        await windows.flushAll();
      },
      async shutdown() {
        flushing = true;
        await windows.flushAll();
      },
    };
  },
};

export default factory;
