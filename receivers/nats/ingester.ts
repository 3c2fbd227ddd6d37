/**
 * The work loop of the `nats` receiver.
 *
 * Pulls: a pull is sent only for as many messages, and as many bytes, as this process has room
 * for (`max_in_flight`, `max_in_flight_mib`), and the server never lets more than `max_ack_pending` go unacknowledged
 * across all ingesters, so memory stays bounded however large the backlog is.
 *
 * Acknowledgement: a message is acked only after `next.consume()` resolved, that is after the
 * insert holding it committed (for a group message, every batch in it). A crash before the ack means redelivery; the store skips a
 * batch whose idempotency key it already has, so the redelivery stores nothing twice.
 *
 * Failures (see README.md, "Failures and dead letters"):
 * - retryable (503, 429: the store is down or saturated): nak with a growing delay, pause
 *   pulling for that long, and never dead-letter — an outage must not empty the stream into
 *   the dead-letter subject;
 * - poison (undecodable, a 4xx from the pipeline, or an unexpected error): nak with a growing
 *   delay until the message has been delivered `max_deliver` times (another ingester, maybe a
 *   newer version during a rolling upgrade, may still take it), then publish it to the
 *   dead-letter subject with headers saying why, and ack it.
 */
import type { Consumer as JsConsumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Consumer, CreateSettings, Endpoint, Receiver } from '../../core/component.ts';
import { HearthError } from '../../core/errors.ts';
import { counter, gauge } from '../../core/metrics.ts';
import { Semaphore } from '../../core/semaphore.ts';
import type { Batch } from '../../core/model.ts';
import { decodeBatches } from '../../formats/batch/index.ts';
import { natsLocation, NatsLink } from '../../core/nats/connection.ts';
import { ensureStream, isNotFound } from '../../core/nats/stream.ts';
import type { NatsReceiverConfig } from './index.ts';

type PoisonReason = 'undecodable' | 'rejected' | 'failed';

/** Headers on a dead-lettered message. */
export const DEAD_LETTER_HEADERS = {
  reason: 'Hearth-Dead-Letter-Reason',
  error: 'Hearth-Dead-Letter-Error',
  status: 'Hearth-Dead-Letter-Status',
  subject: 'Hearth-Original-Subject',
  stream: 'Hearth-Original-Stream',
  sequence: 'Hearth-Original-Sequence',
  deliveries: 'Hearth-Deliveries',
  consumer: 'Hearth-Consumer',
} as const;

const REQUEST_TIMEOUT_MS = 5_000;

type IngesterMetrics = ReturnType<typeof ingesterMetrics>;

function ingesterMetrics(reg: Registry, id: string) {
  const r = ['receiver'] as const;
  return {
    labels: { receiver: id },
    received: counter(reg, 'hearth_nats_received_total', 'Messages pulled from JetStream (redeliveries included).', r),
    acknowledged: counter(reg, 'hearth_nats_acknowledged_total', 'Messages acknowledged to JetStream after their batch was stored.', r),
    ackFailures: counter(reg, 'hearth_nats_ack_failures_total', 'Acknowledgements JetStream did not confirm; the message comes back and is skipped as already stored.', r),
    redelivered: counter(reg, 'hearth_nats_redelivered_total', 'Messages received again (delivery count above 1).', r),
    naks: counter(reg, 'hearth_nats_naks_total', 'Messages handed back for a later delivery, by reason.', ['receiver', 'reason']),
    deadLettered: counter(reg, 'hearth_nats_dead_lettered_total', 'Poison messages published to the dead-letter subject and acknowledged, by reason.', ['receiver', 'reason']),
    pending: gauge(reg, 'hearth_nats_consumer_pending', 'Consumer lag: messages in the stream not yet delivered to any ingester (num_pending).', r),
    ackPending: gauge(reg, 'hearth_nats_consumer_ack_pending', 'Messages delivered to ingesters and not yet acknowledged (num_ack_pending).', r),
    inFlight: gauge(reg, 'hearth_nats_in_flight', 'Messages this process is working on.', r),
    ready: gauge(reg, 'hearth_nats_ready', 'Whether the component is connected to NATS with its stream (and consumer) set up: 1 or 0.', ['component']),
  };
}

/**
 * Hands every batch on; settles once all are stored. After all settled it fails with a
 * retryable error if any failed so (the message is then delivered again rather than poison).
 */
async function consumeAll(next: Consumer<'profiles'>, batches: Batch[], slots: Semaphore): Promise<void> {
  const one = async (b: Batch) => {
    await slots.acquire();
    try {
      await next.consume(b);
    } finally {
      slots.release();
    }
  };
  if (batches.length === 1) return one(batches[0]);
  const results = await Promise.allSettled(batches.map(one));
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (!errors.length) return;
  throw errors.find((e) => e instanceof HearthError && (e.status === 429 || e.status >= 500)) ?? errors[0];
}

export class Ingester implements Receiver {
  private readonly logger: Logger;
  private readonly link: NatsLink;
  private js: JetStreamClient | undefined;
  private consumer: JsConsumer | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private current: ConsumerMessages | undefined;
  /** Messages being worked on, with the time each arrived. */
  private readonly inFlight = new Map<JsMsg, number>();
  /** Bytes of the messages being worked on. */
  private inFlightBytes = 0;
  /** Moving average of message sizes, to size pulls to the byte budget. */
  private averageBytes = 4096;
  private waiters: Array<() => void> = [];
  private pauseUntil = 0;
  private timers: NodeJS.Timeout[] = [];
  private lastWarned = 0;
  private readonly m: IngesterMetrics;
  /**
   * Batches handed to the pipeline at once. A group message holds many, and a pipeline
   * refuses (429) what it cannot queue: more than this wait here instead.
   */
  private readonly batchSlots: Semaphore;

  constructor(
    settings: CreateSettings,
    private readonly config: NatsReceiverConfig,
    private readonly next: Consumer<'profiles'>,
  ) {
    this.logger = settings.logger;
    this.m = ingesterMetrics(settings.metrics, settings.id);
    this.batchSlots = new Semaphore(config.max_in_flight);
    this.link = new NatsLink(config, `hearth ${settings.id}`, settings.logger, (nc) => this.prepare(nc));
    this.link.onReadyChange = (ready) => this.m.ready.set({ component: `receivers/${settings.id}` }, ready ? 1 : 0);
  }

  async start(): Promise<void> {
    this.m.ready.set({ component: `receivers/${this.m.labels.receiver}` }, 0);
    await this.link.start();
    if (!this.link.ready) this.logger.warn({ why: this.link.describe() }, 'the NATS consumer is not ready yet; retrying in the background');
    this.loop = this.run();
    const keepAlive = Math.max(500, Math.floor(this.config.ack_wait_ms / 3));
    this.timers.push(setInterval(() => this.keepAlive(keepAlive), keepAlive));
    if (this.config.lag_poll_interval_ms > 0) {
      this.timers.push(setInterval(() => void this.pollLag(), this.config.lag_poll_interval_ms));
    }
    for (const t of this.timers) t.unref();
  }

  endpoints(): Endpoint[] {
    const c = this.config;
    return [{ role: 'ingest', location: natsLocation(c.url), what: `JetStream stream ${c.stream}, pulled as durable consumer ${c.consumer}` }];
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.wake();
    await this.current?.close().catch(() => {});
    await this.loop;
    while (this.inFlight.size > 0) await new Promise<void>((r) => this.waiters.push(r));
    await this.link.close();
  }

  /** Checks the stream, sets up the dead-letter stream and the durable consumer. */
  private async prepare(nc: NatsConnection): Promise<void> {
    const c = this.config;
    const jsm = await jetstreamManager(nc, { timeout: REQUEST_TIMEOUT_MS });
    try {
      await jsm.streams.info(c.stream);
    } catch (e) {
      if (isNotFound(e)) throw new Error(`stream ${c.stream} does not exist yet (a nats exporter creates it when it connects)`);
      throw e;
    }
    if (c.dead_letter.stream) {
      await ensureStream(
        jsm,
        {
          name: c.dead_letter.stream,
          subjects: [c.dead_letter.subject],
          retention: 'limits',
          storage: 'file',
          max_age: c.dead_letter.max_age_seconds > 0 ? nanos(c.dead_letter.max_age_seconds * 1000) : 0,
          discard: 'old',
        },
        this.logger,
      );
    }
    await this.ensureConsumer(jsm);
    this.js = jetstream(nc, { timeout: REQUEST_TIMEOUT_MS });
    this.consumer = await this.js.consumers.get(c.stream, c.consumer);
  }

  private async ensureConsumer(jsm: JetStreamManager): Promise<void> {
    const c = this.config;
    // The server must never drop a message on its own (max_deliver there is unlimited): the
    // poison limit is applied here, where a message that fails can be dead-lettered instead.
    const wanted = {
      ack_wait: nanos(c.ack_wait_ms),
      max_ack_pending: c.max_ack_pending,
      max_deliver: -1,
      ...(c.filter_subject ? { filter_subject: c.filter_subject } : {}),
    };
    let info;
    try {
      info = await jsm.consumers.info(c.stream, c.consumer);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await jsm.consumers.add(c.stream, { durable_name: c.consumer, ack_policy: 'explicit', deliver_policy: 'all', max_waiting: 512, ...wanted });
      this.logger.info({ stream: c.stream, consumer: c.consumer }, 'created durable JetStream consumer');
      return;
    }
    const cur = info.config as unknown as Record<string, unknown>;
    const changed = Object.entries(wanted).filter(([k, v]) => cur[k] !== v);
    if (changed.length > 0) {
      await jsm.consumers.update(c.stream, c.consumer, Object.fromEntries(changed));
      this.logger.info({ consumer: c.consumer, changed: changed.map(([k]) => k) }, 'updated durable JetStream consumer');
    }
  }

  private async run(): Promise<void> {
    const c = this.config;
    let failedPulls = 0;
    while (!this.stopping) {
      const consumer = this.consumer;
      if (!this.link.ready || !consumer) {
        await this.sleep(200);
        continue;
      }
      const pause = this.pauseUntil - Date.now();
      if (pause > 0) {
        await this.sleep(Math.min(pause, 1_000));
        continue;
      }
      const room = c.max_in_flight - this.inFlight.size;
      const byteBudget = c.max_in_flight_mib * 1024 * 1024;
      const byteRoom = byteBudget > 0 ? byteBudget - this.inFlightBytes : Infinity;
      if (room <= 0 || byteRoom <= 0) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      try {
        // A pull asks for no more messages than the bytes left hold at the average size seen so
        // far, and at least one: the budget is overshot by at most one pull of such messages.
        const byCount = Math.min(c.fetch_batch, room);
        const byBytes = byteRoom === Infinity ? byCount : Math.max(1, Math.floor(byteRoom / Math.max(1, this.averageBytes)));
        const msgs = await consumer.fetch({ max_messages: Math.min(byCount, byBytes), expires: c.fetch_expires_ms });
        this.current = msgs;
        for await (const m of msgs) {
          if (this.stopping) {
            // Straight back to the stream, for another ingester.
            m.nak();
            this.m.naks.inc({ ...this.m.labels, reason: 'shutdown' });
            continue;
          }
          this.dispatch(m);
        }
        failedPulls = 0;
      } catch (e) {
        if (this.stopping) break;
        this.warn('pulling from JetStream failed', e);
        // Pulls failing while connected usually mean the consumer or stream is gone: set them up again.
        if (++failedPulls >= 3 && this.link.connected) {
          failedPulls = 0;
          this.link.recheck();
        }
        await this.sleep(Math.min(1_000, c.reconnect_wait_ms));
      } finally {
        this.current = undefined;
      }
    }
  }

  private dispatch(m: JsMsg): void {
    this.inFlight.set(m, Date.now());
    this.inFlightBytes += m.data.length;
    this.averageBytes += (m.data.length - this.averageBytes) / 16;
    this.m.inFlight.set(this.m.labels, this.inFlight.size);
    this.m.received.inc(this.m.labels);
    if (m.info.deliveryCount > 1) this.m.redelivered.inc(this.m.labels);
    void this.handle(m)
      .catch((e) => {
        // Unreachable in practice (handle settles every path), but a message must never be left hanging.
        this.logger.error({ err: (e as Error).message }, 'message handling failed');
        m.nak(this.backoff(m.info.deliveryCount));
      })
      .finally(() => {
        this.inFlight.delete(m);
        this.inFlightBytes -= m.data.length;
        this.m.inFlight.set(this.m.labels, this.inFlight.size);
        this.wake();
      });
  }

  private async handle(m: JsMsg): Promise<void> {
    let batches: Batch[];
    try {
      batches = decodeBatches(m.data);
    } catch (e) {
      return this.poison(m, 'undecodable', e);
    }
    try {
      // A group message is acknowledged once every batch in it is stored. If one fails, the
      // whole message comes back, and the batches already stored are skipped as duplicates.
      await consumeAll(this.next, batches, this.batchSlots);
    } catch (e) {
      if (e instanceof HearthError && (e.status === 429 || e.status >= 500)) return this.retry(m, e);
      if (this.stopping) {
        m.nak();
        this.m.naks.inc({ ...this.m.labels, reason: 'shutdown' });
        return;
      }
      return this.poison(m, e instanceof HearthError ? 'rejected' : 'failed', e);
    }
    await this.ack(m);
  }

  private async ack(m: JsMsg): Promise<void> {
    try {
      if (await m.ackAck({ timeout: REQUEST_TIMEOUT_MS })) {
        this.m.acknowledged.inc(this.m.labels);
        return;
      }
    } catch {
      // Counted below.
    }
    this.m.ackFailures.inc(this.m.labels);
  }

  /** The store is down or saturated: try again later, and pull nothing new meanwhile. */
  private retry(m: JsMsg, e: HearthError): void {
    const delay = this.backoff(m.info.deliveryCount);
    m.nak(delay);
    this.m.naks.inc({ ...this.m.labels, reason: 'unavailable' });
    this.pauseUntil = Math.max(this.pauseUntil, Date.now() + delay);
    this.warn('storing a batch failed; it will be delivered again', e);
  }

  private async poison(m: JsMsg, reason: PoisonReason, e: unknown): Promise<void> {
    const deliveries = m.info.deliveryCount;
    if (deliveries < this.config.max_deliver) {
      m.nak(this.backoff(deliveries));
      this.m.naks.inc({ ...this.m.labels, reason });
      this.warn(`message ${m.info.stream}/${m.seq} failed (${reason}, delivery ${deliveries} of ${this.config.max_deliver})`, e);
      return;
    }
    const h = headers();
    const message = String((e as Error)?.message ?? e).replace(/[\r\n]+/g, ' ').slice(0, 1024);
    h.set(DEAD_LETTER_HEADERS.reason, reason);
    h.set(DEAD_LETTER_HEADERS.error, message || 'unknown error');
    h.set(DEAD_LETTER_HEADERS.status, String(e instanceof HearthError ? e.status : 500));
    h.set(DEAD_LETTER_HEADERS.subject, m.subject);
    h.set(DEAD_LETTER_HEADERS.stream, m.info.stream);
    h.set(DEAD_LETTER_HEADERS.sequence, String(m.seq));
    h.set(DEAD_LETTER_HEADERS.deliveries, String(deliveries));
    h.set(DEAD_LETTER_HEADERS.consumer, this.config.consumer);
    const dl = this.config.dead_letter;
    try {
      if (dl.stream) {
        // The ID makes a repeat (after a crash between this publish and the ack) a no-op.
        await this.js!.publish(dl.subject, m.data, { headers: h, msgID: `${m.info.stream}:${m.seq}`, timeout: REQUEST_TIMEOUT_MS });
      } else {
        this.link.nc!.publish(dl.subject, m.data, { headers: h });
        await this.link.nc!.flush();
      }
    } catch (err) {
      m.nak(this.backoff(deliveries));
      this.m.naks.inc({ ...this.m.labels, reason: 'dead_letter_failed' });
      this.warn('publishing a dead letter failed; the message will be delivered again', err);
      return;
    }
    this.m.deadLettered.inc({ ...this.m.labels, reason });
    this.logger.error(
      { stream: m.info.stream, seq: m.seq, subject: m.subject, deliveries, reason, err: message, deadLetterSubject: dl.subject },
      'poison message moved to the dead-letter subject',
    );
    await m.ackAck({ timeout: REQUEST_TIMEOUT_MS }).catch(() => false);
  }

  private backoff(deliveries: number): number {
    const c = this.config;
    return Math.min(c.retry_backoff_max_ms, c.retry_backoff_ms * 2 ** Math.min(Math.max(0, deliveries - 1), 20));
  }

  /** Tells the server that slow messages are still being worked on, so they are not sent elsewhere. */
  private keepAlive(olderThan: number): void {
    const now = Date.now();
    for (const [m, since] of this.inFlight) if (now - since >= olderThan) m.working();
  }

  private async pollLag(): Promise<void> {
    if (!this.link.ready || !this.consumer) return;
    try {
      const info = await this.consumer.info();
      this.m.pending.set(this.m.labels, info.num_pending);
      this.m.ackPending.set(this.m.labels, info.num_ack_pending);
    } catch (e) {
      this.logger.debug({ err: (e as Error).message }, 'consumer info failed');
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private warn(what: string, e: unknown): void {
    const now = Date.now();
    if (now - this.lastWarned < 2_000) return;
    this.lastWarned = now;
    this.logger.warn({ err: (e as Error)?.message ?? String(e) }, what);
  }
}
