/**
 * The `memory_limiter` processor, with the OpenTelemetry Collector's keys. Above the soft limit
 * (the limit minus the spike margin) it refuses every batch with a 429 (RESOURCE_EXHAUSTED over
 * gRPC) and Retry-After until memory drops below it again; above the hard limit it also forces
 * a garbage collection. Put it first in a pipeline so that nothing else is spent on a refusal.
 */
import { z } from 'zod';
import type { Processor, ProcessorFactory } from '../../core/component.ts';
import { TooManyRequestsError } from '../../core/errors.ts';
import { counter, gauge } from '../../core/metrics.ts';
import { parseDuration } from '../../core/duration.ts';
import { availableBytes, forcedGc, inUseBytes, residentBytes } from './memory.ts';

export interface MemoryLimiterConfig {
  check_interval: string;
  limit_mib: number;
  spike_limit_mib: number;
  limit_percentage: number;
  spike_limit_percentage: number;
}

const MIB = 1024 * 1024;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export const schema = z
  .strictObject({
    check_interval: z.string().superRefine((text, ctx) => {
      try {
        const ms = parseDuration(text);
        if (ms < 10 || ms > 60_000) ctx.addIssue({ code: 'custom', message: 'must be between 10ms and 1m' });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
    limit_mib: z.number().int().nonnegative(),
    spike_limit_mib: z.number().int().nonnegative(),
    limit_percentage: z.number().int().min(0).max(100),
    spike_limit_percentage: z.number().int().min(0).max(100),
  })
  .superRefine((c, ctx) => {
    if (c.limit_mib > 0 && c.limit_percentage > 0) ctx.addIssue({ code: 'custom', path: ['limit_percentage'], message: 'set limit_mib or limit_percentage, not both' });
    if (c.limit_mib === 0 && c.limit_percentage === 0) ctx.addIssue({ code: 'custom', path: ['limit_mib'], message: 'set limit_mib (or limit_percentage): the memory the process may use' });
    if (c.limit_mib > 0 && c.spike_limit_mib >= c.limit_mib) ctx.addIssue({ code: 'custom', path: ['spike_limit_mib'], message: 'must be below limit_mib' });
    if (c.limit_percentage > 0 && c.spike_limit_percentage >= c.limit_percentage) {
      ctx.addIssue({ code: 'custom', path: ['spike_limit_percentage'], message: 'must be below limit_percentage' });
    }
  });

export function defaultConfig(): MemoryLimiterConfig {
  return { check_interval: '1s', limit_mib: 0, spike_limit_mib: 0, limit_percentage: 0, spike_limit_percentage: 0 };
}

/** Hard and soft limits in bytes; the spike margin defaults to 20% of the limit, as in the Collector. */
export function limitsOf(c: MemoryLimiterConfig, available = availableBytes()): { hard: number; soft: number } {
  const hard = c.limit_mib > 0 ? c.limit_mib * MIB : Math.floor((available * c.limit_percentage) / 100);
  const spike = c.limit_mib > 0 ? (c.spike_limit_mib > 0 ? c.spike_limit_mib * MIB : hard * 0.2) : c.spike_limit_percentage > 0 ? (available * c.spike_limit_percentage) / 100 : hard * 0.2;
  return { hard, soft: Math.floor(hard - spike) };
}

export const factory: ProcessorFactory<MemoryLimiterConfig> = {
  type: 'memory_limiter',
  kind: 'processor',
  stability: 'alpha',
  signals: ['profiles', 'traces'],
  schema: schema as z.ZodType<MemoryLimiterConfig>,
  defaultConfig,
  create(settings, config): Processor {
    const intervalMs = parseDuration(config.check_interval);
    const { hard, soft } = limitsOf(config);
    const retryAfter = Math.max(1, Math.ceil(intervalMs / 1000));
    const labels = { processor: settings.id };
    const resident = gauge(settings.metrics, 'hearth_processor_memory_limiter_memory_bytes', 'Memory in use at the last check: the resident set of the process, which the limits apply to.', ['processor']);
    const inUse = gauge(settings.metrics, 'hearth_processor_memory_limiter_heap_bytes', 'Live JavaScript heap plus buffers outside it at the last check (part of the resident set).', ['processor']);
    const limit = gauge(settings.metrics, 'hearth_processor_memory_limiter_limit_bytes', 'The soft (refusing) and hard (forcing GC) limits.', ['processor', 'limit']);
    const refused = counter(settings.metrics, 'hearth_processor_memory_limiter_refused_total', 'Batches refused because memory was above the soft limit.', ['processor']);
    const gcs = counter(settings.metrics, 'hearth_processor_memory_limiter_forced_gc_total', 'Garbage collections forced because memory was above the hard limit.', ['processor']);
    const refusing = gauge(settings.metrics, 'hearth_processor_memory_limiter_refusing', 'Whether intake is refused now: 1 or 0.', ['processor']);
    const gc = forcedGc();
    let timer: NodeJS.Timeout | undefined;
    let above = false;
    let lastGc = 0;
    let warned = false;

    /**
     * Measures the resident set, which is what a container limit or the OOM killer counts.
     * Above the soft limit it refuses, and collects garbage at most once per interval: an idle
     * Node process would otherwise keep freed memory and never drop below the limit. Above the
     * hard limit that collection is the point; below it, it lets intake resume.
     */
    const check = (): boolean => {
      let rss = residentBytes();
      if (rss > soft && Date.now() - lastGc >= intervalMs) {
        lastGc = Date.now();
        if (gc) {
          gc();
          if (rss > hard) gcs.inc(labels);
          rss = residentBytes();
        } else if (rss > hard && !warned) {
          warned = true;
          settings.logger.warn('memory is above the hard limit and garbage collection cannot be forced in this runtime');
        }
      }
      const was = above;
      above = rss > soft;
      resident.set(labels, rss);
      inUse.set(labels, inUseBytes());
      refusing.set(labels, above ? 1 : 0);
      if (above !== was) settings.logger.warn({ rssMiB: Math.round(rss / MIB), softMiB: Math.round(soft / MIB) }, above ? 'memory above the soft limit: refusing data' : 'memory below the soft limit again: accepting data');
      return above;
    };

    const admit = <T>(item: T): T => {
      if (!check()) return item;
      refused.inc(labels);
      throw new TooManyRequestsError(`memory in use is above the soft limit of ${Math.round(soft / MIB)} MiB; retry later`, retryAfter);
    };

    return {
      async start(host) {
        // Refuse before a request's body is read, not only once it is decoded: under a flood,
        // bodies in flight are most of the memory. gRPC calls are left to the pipeline's
        // refusal, which answers them with RESOURCE_EXHAUSTED rather than an HTTP status.
        host.http.addHook('onRequest', async (req, reply) => {
          if (!above || !BODY_METHODS.has(req.method) || String(req.headers['content-type'] ?? '').startsWith('application/grpc')) return;
          refused.inc(labels);
          // The body is read and thrown away as it arrives, never held: the connection can
          // then carry the client's next request.
          req.raw.resume();
          reply.header('Retry-After', String(retryAfter));
          await reply.status(429).send({ code: 429, message: `memory in use is above the soft limit of ${Math.round(soft / MIB)} MiB; retry later` });
          return reply;
        });
        limit.set({ ...labels, limit: 'soft' }, soft);
        limit.set({ ...labels, limit: 'hard' }, hard);
        check();
        timer = setInterval(check, intervalMs);
        timer.unref();
      },
      async shutdown() {
        if (timer) clearInterval(timer);
      },
      async process(batch) {
        return admit(batch);
      },
      async processTraces(batch) {
        return admit(batch);
      },
    };
  },
};

export default factory;
