/**
 * The `nats` exporter: publishes every batch to a JetStream stream, for ingesters (the `nats`
 * receiver) to store. consume() settles once JetStream has acknowledged the message, so the
 * client's 2xx means the profile is durable in the stream. While NATS is away it rejects at
 * once with a 503 and Retry-After, and the connection comes back on its own.
 *
 * Batches of one subject arriving within linger_ms share one message (grouper.ts), as many as
 * max_message_bytes and the server's max_payload allow, acknowledged as a whole; every message
 * gathered is published in one synchronous run, so they leave in one socket write.
 */
import { z } from 'zod';
import { jetstream, jetstreamManager, type JetStreamClient, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { ExporterFactory } from '../../core/component.ts';
import { HearthError, PayloadTooLargeError, UnavailableError } from '../../core/errors.ts';
import { counter, gauge, histogram } from '../../core/metrics.ts';
import type { Batch } from '../../core/model.ts';
import { createHash } from 'node:crypto';
import { encodeBatch, encodeBatchGroup, GROUP_MEMBER_OVERHEAD_BYTES, GROUP_OVERHEAD_BYTES } from '../../formats/batch/index.ts';
import { connectionSchema, defaultConnectionConfig, natsLocation, NatsLink, type ConnectionConfig } from '../../core/nats/connection.ts';
import { SUBJECT_PREFIX, profileSubject } from '../../core/nats/subject.ts';
import { ensureStream, type WantedStream } from '../../core/nats/stream.ts';
import { Grouper, type Member } from './grouper.ts';

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
  /** Messages awaiting their acknowledgement at once; further messages wait for room. */
  max_pending_publishes: number;
  /** Longest a batch waits for others of its subject, to share one message with them. */
  linger_ms: number;
  /** Largest message, in bytes, that batches are gathered into (the server's max_payload caps it too). */
  max_message_bytes: number;
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
  linger_ms: z.number().int().min(0).max(1_000),
  max_message_bytes: z.number().int().min(4_096),
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
    linger_ms: 5,
    max_message_bytes: 1024 * 1024,
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

    let js: JetStreamClient | undefined;
    let maxPayload = 1024 * 1024;
    /** Batches taken and not yet settled: waiting in a group, queued, or in a message awaiting its ack. */
    let open = 0;
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
    /** Bytes one message may carry: the server's max_payload less room for headers, and at most max_message_bytes. */
    const messageRoom = () => Math.min(maxPayload - HEADER_ROOM, config.max_message_bytes);

    const grouper = new Grouper({
      lingerMs: config.linger_ms,
      maxBytes: () => messageRoom() - GROUP_OVERHEAD_BYTES,
      memberOverhead: GROUP_MEMBER_OVERHEAD_BYTES,
      ship: (subject, members) => {
        outbox.push({ subject, members });
        pump();
      },
    });

    /** Messages ready to publish, waiting for room among the publishes awaiting their ack. */
    const outbox: Array<{ subject: string; members: Member[] }> = [];
    let pending = 0;

    /**
     * Publishes queued messages while there is room. It runs synchronously, so the messages
     * shipped together leave in one socket write.
     */
    function pump(): void {
      while (outbox.length && pending < config.max_pending_publishes) {
        const { subject, members } = outbox.shift()!;
        pending++;
        pendingGauge.set(labels, pending);
        void send(subject, members).finally(() => {
          pending--;
          pendingGauge.set(labels, pending);
          pump();
        });
      }
    }

    async function publish(batch: Batch): Promise<void> {
      if (!link.ready || !js) {
        failures.inc({ ...labels, reason: 'unavailable' });
        throw unavailable(link.describe());
      }
      const data = encodeBatch(batch, { compressAbove: config.compress_above_bytes });
      if (data.length + GROUP_OVERHEAD_BYTES + GROUP_MEMBER_OVERHEAD_BYTES > messageRoom()) {
        failures.inc({ ...labels, reason: 'too_large' });
        throw new PayloadTooLargeError(
          `the profile encodes to ${data.length} bytes, more than the NATS server accepts in one message (max_payload ${maxPayload}); raise max_payload on the NATS servers or lower compress_above_bytes`,
        );
      }
      open++;
      try {
        await grouper.add(profileSubject(config.subject_prefix, batch.tenant, batch.labels.service_name ?? ''), batch.idempotencyKey, data);
      } finally {
        if (--open === 0) for (const r of idle.splice(0)) r();
      }
    }

    /** One message: a lone batch as it is, several as a group; every member settles with its ack. */
    async function send(subject: string, members: Member[]): Promise<void> {
      const n = members.length;
      try {
        const client = js;
        if (!link.ready || !client) {
          failures.inc({ ...labels, reason: 'unavailable' }, n);
          throw unavailable(link.describe());
        }
        const data = n === 1 ? members[0].data : encodeBatchGroup(members.map((m) => m.data));
        const msgID = n === 1 ? messageId(members[0].key) : groupId(members.map((m) => m.key));
        const end = latency.startTimer(labels);
        let ack;
        try {
          // A publish can be cut off by a disconnect after JetStream stored it; the client's
          // retry then carries the same message ID, and JetStream drops it as a duplicate.
          ack = await client.publish(subject, data, { msgID, timeout: config.publish_timeout_ms });
        } catch (e) {
          // No stream listens on the subject any more (JetStream answers "no responders"): set it up again.
          if (isNoResponders(e)) link.recheck();
          const reason = link.connected ? 'error' : 'unavailable';
          failures.inc({ ...labels, reason }, n);
          settings.logger.debug({ err: (e as Error).message, subject }, 'publish failed');
          throw unavailable(link.connected ? `JetStream did not acknowledge the profile: ${(e as Error).message}` : link.describe());
        }
        end();
        published.inc(labels, n);
        messages.inc(labels);
        if (ack.duplicate) duplicates.inc(labels);
        for (const m of members) m.settle.resolve();
      } catch (e) {
        for (const m of members) m.settle.reject(e);
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
        // Each batch joins its subject's group; those of one subject mostly share a message.
        const results = await Promise.allSettled(batches.map((b) => publish(b)));
        const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
        // A retryable failure is reported over a permanent one: the retry resends the batches
        // that did go out, and their idempotency keys keep them stored once.
        if (errors.length) throw errors.find((e) => e instanceof HearthError && (e.status === 429 || e.status >= 500)) ?? errors[0];
      },
      async flush() {
        // Nothing waits any more: what is gathered goes out now, and later batches at once.
        grouper.stopLingering();
      },
      async shutdown() {
        grouper.stopLingering();
        if (open > 0) await new Promise<void>((r) => idle.push(r));
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
