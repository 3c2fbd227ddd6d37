/**
 * The `nats` exporter: publishes every batch to a JetStream stream, for ingesters (the `nats`
 * receiver) to store. consume() settles once JetStream has acknowledged the message, so the
 * client's 2xx means the profile is durable in the stream. While NATS is away it rejects at
 * once with a 503 and Retry-After, and the connection comes back on its own.
 *
 * A group of batches (consumeMany, from the `batch` processor) goes out as few messages as
 * fit: one group message per subject and max_payload, acknowledged as a whole.
 */
import { z } from 'zod';
import { jetstream, jetstreamManager, type JetStreamClient, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { ExporterFactory } from '../../core/component.ts';
import { PayloadTooLargeError, UnavailableError } from '../../core/errors.ts';
import { counter, gauge, histogram } from '../../core/metrics.ts';
import { Semaphore } from '../../core/semaphore.ts';
import type { Batch } from '../../core/model.ts';
import { createHash } from 'node:crypto';
import { encodeBatch, encodeBatchGroup, GROUP_MEMBER_OVERHEAD_BYTES, GROUP_OVERHEAD_BYTES } from '../../formats/batch/index.ts';
import { connectionSchema, defaultConnectionConfig, natsLocation, NatsLink, type ConnectionConfig } from '../../core/nats/connection.ts';
import { SUBJECT_PREFIX, profileSubject } from '../../core/nats/subject.ts';
import { ensureStream, type WantedStream } from '../../core/nats/stream.ts';

export interface StreamSettings {
  name: string;
  /** Create the stream, or update it to these settings, at every (re)connect. */
  manage: boolean;
  retention: 'limits' | 'workqueue' | 'interest';
  storage: 'file' | 'memory';
  /** 0: no age limit. */
  max_age_seconds: number;
  /** -1: no size limit. */
  max_bytes: number;
  discard: 'old' | 'new';
  replicas: number;
  duplicate_window_seconds: number;
}

export interface NatsExporterConfig extends ConnectionConfig {
  subject_prefix: string;
  stream: StreamSettings;
  /** Longest wait for JetStream's acknowledgement of one publish. */
  publish_timeout_ms: number;
  /** Publishes awaiting their acknowledgement at once; further batches wait for room. */
  max_pending_publishes: number;
  /** Bodies larger than this are deflated before publishing. */
  compress_above_bytes: number;
  /** Retry-After, in seconds, sent with a 503 while NATS is unavailable. */
  retry_after_seconds: number;
}

const schema = z.strictObject({
  ...connectionSchema,
  subject_prefix: z.string().regex(SUBJECT_PREFIX, 'must be dot-separated tokens of letters, digits, "-" and "_" (no wildcards)'),
  stream: z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must hold only letters, digits, "-" and "_"'),
    manage: z.boolean(),
    retention: z.enum(['limits', 'workqueue', 'interest']),
    storage: z.enum(['file', 'memory']),
    max_age_seconds: z.number().int().nonnegative(),
    max_bytes: z.number().int().min(-1),
    discard: z.enum(['old', 'new']),
    replicas: z.number().int().min(1).max(5),
    duplicate_window_seconds: z.number().int().min(1),
  }),
  publish_timeout_ms: z.number().int().min(100).max(120_000),
  max_pending_publishes: z.number().int().min(1).max(65_536),
  compress_above_bytes: z.number().int().nonnegative(),
  retry_after_seconds: z.number().int().min(1).max(3_600),
});

export function defaultConfig(): NatsExporterConfig {
  return {
    ...defaultConnectionConfig(),
    subject_prefix: 'hearth.profiles',
    stream: {
      name: 'HEARTH_PROFILES',
      manage: true,
      retention: 'workqueue',
      storage: 'file',
      max_age_seconds: 7 * 24 * 3600,
      max_bytes: 10 * 1024 ** 3,
      discard: 'new',
      replicas: 1,
      duplicate_window_seconds: 120,
    },
    publish_timeout_ms: 5_000,
    max_pending_publishes: 512,
    compress_above_bytes: 32 * 1024,
    retry_after_seconds: 1,
  };
}

/** Room left in a message for the headers and protocol line, which count against max_payload too. */
const HEADER_ROOM = 1024;

export const factory: ExporterFactory<NatsExporterConfig> = {
  type: 'nats',
  kind: 'exporter',
  stability: 'alpha',
  signals: ['profiles'],
  schema,
  defaultConfig,
  create(settings, config) {
    const labels = { exporter: settings.id };
    const published = counter(settings.metrics, 'hearth_nats_published_total', 'Batches published to JetStream and acknowledged by it (duplicates included).', ['exporter']);
    const messages = counter(settings.metrics, 'hearth_nats_published_messages_total', 'Messages published to JetStream and acknowledged by it; a group message holds several batches.', ['exporter']);
    const duplicates = counter(settings.metrics, 'hearth_nats_publish_duplicates_total', 'Publishes JetStream acknowledged as duplicates of a message it already had (same Nats-Msg-Id).', ['exporter']);
    const failures = counter(settings.metrics, 'hearth_nats_publish_failures_total', 'Batches not published, by reason; each one was answered with an error.', ['exporter', 'reason']);
    const latency = histogram(settings.metrics, 'hearth_nats_publish_seconds', 'Time from publish to JetStream acknowledgement.', ['exporter'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]);
    const pendingGauge = gauge(settings.metrics, 'hearth_nats_publishes_pending', 'Publishes awaiting a JetStream acknowledgement.', ['exporter']);
    const readyGauge = gauge(settings.metrics, 'hearth_nats_ready', 'Whether the component is connected to NATS with its stream (and consumer) set up: 1 or 0.', ['component']);

    const window = new Semaphore(config.max_pending_publishes);
    let js: JetStreamClient | undefined;
    let maxPayload = 1024 * 1024;
    let inFlight = 0;
    const idle: Array<() => void> = [];

    const link = new NatsLink(config, `hearth ${settings.id}`, settings.logger, async (nc: NatsConnection) => {
      if (config.stream.manage) {
        const jsm = await jetstreamManager(nc, { timeout: config.publish_timeout_ms });
        await ensureStream(jsm, streamConfig(config), settings.logger);
      }
      js = jetstream(nc, { timeout: config.publish_timeout_ms });
      maxPayload = nc.info?.max_payload ?? maxPayload;
    });
    link.onReadyChange = (ready) => readyGauge.set({ component: `exporters/${settings.id}` }, ready ? 1 : 0);
    const unavailable = (why: string) => new UnavailableError(why, config.retry_after_seconds);

    async function publish(batch: Batch): Promise<void> {
      const data = encode(batch);
      await send(profileSubject(config.subject_prefix, batch.tenant, batch.labels.service_name ?? ''), data, messageId(batch.idempotencyKey), 1);
    }

    function encode(batch: Batch): Uint8Array {
      if (!link.ready || !js) {
        failures.inc({ ...labels, reason: 'unavailable' });
        throw unavailable(link.describe());
      }
      const data = encodeBatch(batch, { compressAbove: config.compress_above_bytes });
      if (data.length + HEADER_ROOM > maxPayload) {
        failures.inc({ ...labels, reason: 'too_large' });
        throw new PayloadTooLargeError(
          `the profile encodes to ${data.length} bytes, more than the NATS server accepts in one message (max_payload ${maxPayload}); raise max_payload on the NATS servers or lower compress_above_bytes`,
        );
      }
      return data;
    }

    /** Publishes the batches of one subject as group messages, each as large as max_payload allows. */
    async function publishGroup(subject: string, batches: Batch[]): Promise<void> {
      const encoded = batches.map((b) => ({ key: b.idempotencyKey, data: encode(b) }));
      const groups: Array<typeof encoded> = [];
      let current: typeof encoded = [];
      let size = GROUP_OVERHEAD_BYTES + HEADER_ROOM;
      for (const e of encoded) {
        const add = e.data.length + GROUP_MEMBER_OVERHEAD_BYTES;
        if (current.length && size + add > maxPayload) {
          groups.push(current);
          current = [];
          size = GROUP_OVERHEAD_BYTES + HEADER_ROOM;
        }
        current.push(e);
        size += add;
      }
      if (current.length) groups.push(current);
      await Promise.all(
        groups.map((g) =>
          g.length === 1
            ? send(subject, g[0].data, messageId(g[0].key), 1)
            : send(subject, encodeBatchGroup(g.map((e) => e.data)), groupId(g.map((e) => e.key)), g.length),
        ),
      );
    }

    async function send(subject: string, data: Uint8Array, msgID: string, batchCount: number): Promise<void> {
      if (!link.ready || !js) {
        failures.inc({ ...labels, reason: 'unavailable' }, batchCount);
        throw unavailable(link.describe());
      }
      const client = js;
      await window.acquire();
      inFlight++;
      pendingGauge.set(labels, window.inUse);
      const end = latency.startTimer(labels);
      try {
        // A publish can be cut off by a disconnect after JetStream stored it; the retry then
        // carries the same message ID, and JetStream drops it as a duplicate.
        const ack = await client.publish(subject, data, { msgID, timeout: config.publish_timeout_ms });
        end();
        published.inc(labels, batchCount);
        messages.inc(labels);
        if (ack.duplicate) duplicates.inc(labels);
      } catch (e) {
        // No stream listens on the subject any more (JetStream answers "no responders"): set it up again.
        if (isNoResponders(e)) link.recheck();
        const reason = link.connected ? 'error' : 'unavailable';
        failures.inc({ ...labels, reason }, batchCount);
        settings.logger.debug({ err: (e as Error).message, subject }, 'publish failed');
        throw unavailable(link.connected ? `JetStream did not acknowledge the profile: ${(e as Error).message}` : link.describe());
      } finally {
        window.release();
        pendingGauge.set(labels, window.inUse);
        if (--inFlight === 0) for (const r of idle.splice(0)) r();
      }
    }

    return {
      endpoints: () => [
        { role: 'data', location: natsLocation(config.url), what: `JetStream stream ${config.stream.name} (${config.subject_prefix}.>), until a store process writes it` },
      ],
      async start() {
        readyGauge.set({ component: `exporters/${settings.id}` }, 0);
        await link.start();
        if (!link.ready) settings.logger.warn({ why: link.describe() }, 'NATS is not ready yet; answering 503 until it is');
      },
      consume: publish,
      async consumeMany(batches) {
        // One subject per tenant and service, so that consumers can still filter by them.
        const bySubject = new Map<string, Batch[]>();
        for (const b of batches) {
          const subject = profileSubject(config.subject_prefix, b.tenant, b.labels.service_name ?? '');
          const list = bySubject.get(subject);
          if (list) list.push(b);
          else bySubject.set(subject, [b]);
        }
        await Promise.all([...bySubject].map(([subject, list]) => publishGroup(subject, list)));
      },
      async flush() {
        // Nothing is buffered: a batch is either published or in flight.
      },
      async shutdown() {
        if (inFlight > 0) await new Promise<void>((r) => idle.push(r));
        await link.close();
      },
    };

    function streamConfig(c: NatsExporterConfig): WantedStream {
      return {
        name: c.stream.name,
        subjects: [`${c.subject_prefix}.>`],
        retention: c.stream.retention as StreamConfig['retention'],
        storage: c.stream.storage as StreamConfig['storage'],
        max_age: c.stream.max_age_seconds > 0 ? nanos(c.stream.max_age_seconds * 1000) : 0,
        max_bytes: c.stream.max_bytes,
        discard: c.stream.discard as StreamConfig['discard'],
        num_replicas: c.stream.replicas,
        duplicate_window: nanos(c.stream.duplicate_window_seconds * 1000),
      };
    }
  },
};

function isNoResponders(e: unknown): boolean {
  const err = e as { name?: string; cause?: { name?: string } };
  return err?.name === 'JetStreamNotEnabled' || err?.cause?.name === 'NoRespondersError' || /no responders/i.test(String((e as Error)?.message));
}

/** A group's message ID: the same group published again is the same message to JetStream. */
function groupId(keys: string[]): string {
  const h = createHash('sha256');
  for (const k of [...keys].sort()) h.update(k).update('\n');
  return `group:${h.digest('hex')}`;
}

/** Header values cannot hold line breaks; any other key is used as it is. */
function messageId(key: string): string {
  return /[\r\n]/.test(key) ? key.replace(/[\r\n]/g, ' ') : key;
}

export default factory;
