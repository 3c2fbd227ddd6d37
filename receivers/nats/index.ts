/**
 * The `nats` receiver: the ingester side of distributed mode. It pulls batches from a durable
 * JetStream consumer shared by every ingester (each message goes to one of them), hands them
 * to the pipeline, and acknowledges a message only once the pipeline has it durably.
 */
import { z } from 'zod';
import { consumerOf, type Consumer, type Consumers, type CreateSettings, type Receiver, type ReceiverFactory } from '../../core/component.ts';
import { connectionSchema, defaultConnectionConfig, type ConnectionConfig } from '../../core/nats/connection.ts';
import { SUBJECT_PREFIX } from '../../core/nats/subject.ts';
import { Ingester } from './ingester.ts';

export interface DeadLetterConfig {
  /** Where poison messages go, with headers saying why. Must lie outside the profile stream's subjects. */
  subject: string;
  /** A stream created to keep dead letters; empty: publish only to live subscribers (nothing kept). */
  stream: string;
  /** How long the dead-letter stream keeps a message; 0 keeps them until deleted. */
  max_age_seconds: number;
}

export interface NatsReceiverConfig extends ConnectionConfig {
  /** The stream the `nats` exporters publish to. */
  stream: string;
  /** Durable consumer name, the same on every ingester that shares the work. */
  consumer: string;
  /** Only messages on these subjects (e.g. `hearth.profiles.team-a.>`); empty: the whole stream. */
  filter_subject: string;
  /** Messages requested per pull. */
  fetch_batch: number;
  /** How long one pull waits for messages before the next one is sent. */
  fetch_expires_ms: number;
  /** Messages this process works on at once (decoding, in the pipeline, awaiting an ack), and batches of them in the pipeline at once. */
  max_in_flight: number;
  /** MiB of messages (as received) this process works on at once; 0: only max_in_flight bounds them. */
  max_in_flight_mib: number;
  /** Unacknowledged messages the server allows across all ingesters of the consumer. */
  max_ack_pending: number;
  /** Unacknowledged for this long, a message is sent to another ingester. In-flight messages are kept alive meanwhile. */
  ack_wait_ms: number;
  /** Deliveries of a poison message before it is dead-lettered. */
  max_deliver: number;
  /** First delay before a failed message is delivered again; it doubles per delivery. */
  retry_backoff_ms: number;
  retry_backoff_max_ms: number;
  dead_letter: DeadLetterConfig;
  /** How often consumer info (lag) is read for /metrics; 0 turns it off. */
  lag_poll_interval_ms: number;
}

const schema = z
  .strictObject({
    ...connectionSchema,
    stream: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must hold only letters, digits, "-" and "_"'),
    consumer: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must hold only letters, digits, "-" and "_"'),
    filter_subject: z.string().regex(/^$|^[^\s]+$/, 'must not contain spaces'),
    fetch_batch: z.number().int().min(1).max(10_000),
    fetch_expires_ms: z.number().int().min(1_000).max(60_000),
    max_in_flight: z.number().int().min(1).max(100_000),
    max_in_flight_mib: z.number().int().nonnegative(),
    max_ack_pending: z.number().int().min(1),
    ack_wait_ms: z.number().int().min(1_000),
    max_deliver: z.number().int().min(1).max(1_000),
    retry_backoff_ms: z.number().int().min(0),
    retry_backoff_max_ms: z.number().int().min(0),
    dead_letter: z.strictObject({
      subject: z.string().regex(SUBJECT_PREFIX, 'must be dot-separated tokens of letters, digits, "-" and "_" (no wildcards)'),
      stream: z.string().regex(/^$|^[A-Za-z0-9_-]+$/, 'must hold only letters, digits, "-" and "_"'),
      max_age_seconds: z.number().int().nonnegative(),
    }),
    lag_poll_interval_ms: z.number().int().nonnegative(),
  })
  .superRefine((c, ctx) => {
    if (c.retry_backoff_max_ms < c.retry_backoff_ms) {
      ctx.addIssue({ code: 'custom', path: ['retry_backoff_max_ms'], message: 'must be at least retry_backoff_ms' });
    }
  });

export function defaultConfig(): NatsReceiverConfig {
  return {
    ...defaultConnectionConfig(),
    stream: 'HEARTH_PROFILES',
    consumer: 'hearth-ingesters',
    filter_subject: '',
    fetch_batch: 128,
    fetch_expires_ms: 2_000,
    max_in_flight: 512,
    max_in_flight_mib: 128,
    max_ack_pending: 4_096,
    ack_wait_ms: 30_000,
    max_deliver: 5,
    retry_backoff_ms: 1_000,
    retry_backoff_max_ms: 30_000,
    dead_letter: { subject: 'hearth.deadletter.profiles', stream: 'HEARTH_DEADLETTER', max_age_seconds: 14 * 24 * 3600 },
    lag_poll_interval_ms: 5_000,
  };
}

export const factory: ReceiverFactory<NatsReceiverConfig> = {
  type: 'nats',
  kind: 'receiver',
  stability: 'alpha',
  signals: ['profiles'],
  schema: schema as z.ZodType<NatsReceiverConfig>,
  defaultConfig,
  create(settings: CreateSettings, config: NatsReceiverConfig, next: Consumers): Receiver {
    return new Ingester(settings, config, consumerOf(next, 'profiles', settings.id));
  },
};

export default factory;
