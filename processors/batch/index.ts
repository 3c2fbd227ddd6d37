/**
 * The `batch` processor, with the OpenTelemetry Collector's keys: groups small batches so that
 * exporters send fewer, larger messages and inserts. Unlike the Collector's, it does not answer
 * the caller when it takes a batch: each caller waits until the group holding its batch is
 * durable downstream, so a client's 2xx still means stored. The grouping is an rxjs stream:
 * groupBy on the metadata, then bufferTime with a size cap, which is the Collector's
 * "send_batch_size or timeout, whichever comes first".
 */
import { z } from 'zod';
import type { Batch } from '../../core/model.ts';
import type { Downstream, Processor, ProcessorFactory } from '../../core/component.ts';
import { counter, gauge, histogram } from '../../core/metrics.ts';
import { parseDuration } from '../../core/duration.ts';
import { Subject, bufferTime, debounceTime, filter, groupBy, mergeMap, tap } from 'rxjs';

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
  key: string;
  batch: Batch;
  next: Downstream<Batch>;
  resolve: () => void;
  reject: (e: unknown) => void;
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
    const maxChunk = config.send_batch_max_size || Number.POSITIVE_INFINITY;
    // Metadata combinations seen recently; beyond the limit, new ones share one group rather
    // than grow memory and timers without bound.
    const keys = new Set<string>();
    const sending = new Set<Promise<void>>();
    let holding = 0;
    let flushing = false;

    const send = (items: Waiting[], trigger: 'size' | 'timeout' | 'shutdown'): void => {
      holding -= items.length;
      held.set(labels, holding);
      for (let i = 0; i < items.length; i += Math.min(maxChunk, items.length)) {
        const chunk = items.slice(i, i + Math.min(maxChunk, items.length));
        sizes.observe(labels, chunk.length);
        triggers.inc({ ...labels, trigger });
        const sent = chunk[0].next(chunk.map((w) => w.batch)).then(
          () => chunk.forEach((w) => w.resolve()),
          (e) => chunk.forEach((w) => w.reject(e)),
        );
        sending.add(sent);
        void sent.finally(() => sending.delete(sent));
      }
    };

    // One stream of held batches, split by metadata; each group is sent when it reaches
    // send_batch_size or when its timeout passes, whichever comes first. A group idle for a
    // while completes, so that quiet metadata combinations keep no timer running.
    const input = new Subject<Waiting>();
    const idleMs = Math.max(10 * timeoutMs, 1_000);
    const subscription = input
      .pipe(
        groupBy((w) => w.key, {
          duration: (group) =>
            group.pipe(
              debounceTime(idleMs),
              tap(() => keys.delete(group.key)),
            ),
        }),
        mergeMap((group) =>
          group.pipe(
            bufferTime(timeoutMs, null, config.send_batch_size),
            filter((items) => items.length > 0),
          ),
        ),
      )
      .subscribe((items) => send(items, flushing ? 'shutdown' : items.length >= config.send_batch_size ? 'size' : 'timeout'));

    const flushAll = async (): Promise<void> => {
      flushing = true;
      // Completing the stream emits every partly filled group at once.
      input.complete();
      subscription.unsubscribe();
      await Promise.allSettled([...sending]);
    };

    return {
      async start() {},
      async process(batch) {
        return batch;
      },
      hold(batch, next, accepted) {
        if (flushing) return next([batch]);
        let key = config.metadata_keys.map((k) => metadataValue(batch, k)).join('\u0000');
        if (!keys.has(key)) {
          if (keys.size >= config.metadata_cardinality_limit) key = '\u0001overflow';
          else keys.add(key);
        }
        const done = new Promise<void>((resolve, reject) => {
          holding++;
          held.set(labels, holding);
          input.next({ key, batch, next, resolve, reject });
        });
        accepted();
        return done;
      },
      flush: flushAll,
      shutdown: flushAll,
    };
  },
};

export default factory;
