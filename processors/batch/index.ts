/**
 * The `batch` processor, with the OpenTelemetry Collector's keys: groups small batches so that
 * exporters send fewer, larger messages and inserts. Unlike the Collector's, it does not answer
 * the caller when it takes a batch: each caller waits until the group holding its batch is
 * durable downstream, so a client's 2xx still means stored.
 */
import { z } from 'zod';
import type { Batch } from '../../core/model.ts';
import type { Downstream, Processor, ProcessorFactory } from '../../core/component.ts';
import { counter, gauge, histogram } from '../../core/metrics.ts';
import { parseDuration } from '../../core/duration.ts';

export interface BatchProcessorConfig {
  send_batch_size: number;
  send_batch_max_size: number;
  timeout: string;
  metadata_keys: string[];
  metadata_cardinality_limit: number;
}

const duration = z.string().superRefine((text, ctx) => {
  try {
    if (parseDuration(text) > 60_000) ctx.addIssue({ code: 'custom', message: 'must be at most 1m: callers wait this long for their 2xx' });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const schema = z
  .strictObject({
    send_batch_size: z.number().int().min(1).max(100_000),
    send_batch_max_size: z.number().int().min(0).max(100_000),
    timeout: duration,
    metadata_keys: z.array(z.string().min(1)),
    metadata_cardinality_limit: z.number().int().min(1),
  })
  .superRefine((c, ctx) => {
    if (c.send_batch_max_size !== 0 && c.send_batch_max_size < c.send_batch_size) {
      ctx.addIssue({ code: 'custom', path: ['send_batch_max_size'], message: 'must be 0 (no limit) or at least send_batch_size' });
    }
  });

export function defaultConfig(): BatchProcessorConfig {
  // Profiles are far larger than the spans the Collector's 8192 was chosen for.
  return { send_batch_size: 512, send_batch_max_size: 0, timeout: '200ms', metadata_keys: [], metadata_cardinality_limit: 1000 };
}

interface Waiting {
  batch: Batch;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Group {
  items: Waiting[];
  next: Downstream<Batch>;
  timer?: NodeJS.Timeout;
}

/** The value a metadata key takes for a batch: the tenant, or a series label. */
function metadataValue(b: Batch, key: string): string {
  return key === 'tenant' || key === 'X-Scope-OrgID' ? b.tenant : (b.labels[key] ?? '');
}

export const factory: ProcessorFactory<BatchProcessorConfig> = {
  type: 'batch',
  kind: 'processor',
  stability: 'alpha',
  signals: ['profiles'],
  schema: schema as z.ZodType<BatchProcessorConfig>,
  defaultConfig,
  create(settings, config): Processor {
    const timeoutMs = parseDuration(config.timeout);
    const labels = { processor: settings.id };
    const sizes = histogram(settings.metrics, 'hearth_processor_batch_send_size', 'Batches per group handed on.', ['processor'], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]);
    const triggers = counter(settings.metrics, 'hearth_processor_batch_sends_total', 'Groups handed on, by what sent them: size, timeout or shutdown.', ['processor', 'trigger']);
    const held = gauge(settings.metrics, 'hearth_processor_batch_held', 'Batches held, waiting for their group to be sent.', ['processor']);
    const groups = new Map<string, Group>();
    let holding = 0;
    let flushing = false;

    const send = (key: string, trigger: 'size' | 'timeout' | 'shutdown'): Promise<void> => {
      const g = groups.get(key);
      if (!g || !g.items.length) return Promise.resolve();
      groups.delete(key);
      if (g.timer) clearTimeout(g.timer);
      holding -= g.items.length;
      held.set(labels, holding);
      const max = config.send_batch_max_size || Infinity;
      const sent: Promise<void>[] = [];
      for (let i = 0; i < g.items.length; i += max === Infinity ? g.items.length : max) {
        const chunk = g.items.slice(i, i + (max === Infinity ? g.items.length : max));
        sizes.observe(labels, chunk.length);
        triggers.inc({ ...labels, trigger });
        sent.push(
          g.next(chunk.map((w) => w.batch)).then(
            () => chunk.forEach((w) => w.resolve()),
            (e) => chunk.forEach((w) => w.reject(e)),
          ),
        );
      }
      return Promise.all(sent).then(() => {});
    };

    return {
      async start() {},
      async process(batch) {
        return batch;
      },
      hold(batch, next, accepted) {
        if (flushing) return next([batch]);
        let key = config.metadata_keys.map((k) => metadataValue(batch, k)).join('\u0000');
        // Beyond the limit, further metadata combinations share one group rather than grow without bound.
        if (!groups.has(key) && groups.size >= config.metadata_cardinality_limit) key = '\u0001overflow';
        let g = groups.get(key);
        if (!g) {
          g = { items: [], next };
          groups.set(key, g);
        }
        const group = g;
        const done = new Promise<void>((resolve, reject) => group.items.push({ batch, resolve, reject }));
        holding++;
        held.set(labels, holding);
        accepted();
        if (group.items.length >= config.send_batch_size) void send(key, 'size');
        else group.timer ??= setTimeout(() => void send(key, 'timeout'), timeoutMs);
        return done;
      },
      async flush() {
        flushing = true;
        await Promise.allSettled([...groups.keys()].map((k) => send(k, 'shutdown')));
      },
      async shutdown() {
        flushing = true;
        await Promise.allSettled([...groups.keys()].map((k) => send(k, 'shutdown')));
      },
    };
  },
};

export default factory;
