/**
 * The `pyroscope` receiver: Pyroscope's push endpoints (legacy /ingest and the push.v1 Connect
 * service) mounted on the shared HTTP server.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import { consumerOf, type Consumer, type Consumers, type CreateSettings, type Endpoint, Host, type Receiver, type ReceiverFactory } from '../../core/component.ts';
import { RequestGate, deliverAll } from '../../core/intake.ts';
import type { Batch } from '../../core/model.ts';
import { registerIngestRoutes } from './ingest.ts';
import type { LabelLimits } from './labels.ts';
import { registerPushService } from './push.ts';

const positiveInt = z.number().int().positive();

export const schema = z.strictObject({
  /** Largest uncompressed profile accepted (Pyroscope's max-profile-size-bytes). */
  max_profile_bytes: positiveInt,
  max_label_names_per_series: positiveInt,
  max_label_name_length: positiveInt,
  max_label_value_length: positiveInt,
  paths: z.strictObject({
    /** Routes of the legacy ingest handler; an empty list turns it off. */
    ingest: z.array(z.string().regex(/^\/\S*$/, 'a path must start with "/" and contain no spaces')),
  }),
});

export type PyroscopeReceiverConfig = z.infer<typeof schema>;

export function defaultConfig(): PyroscopeReceiverConfig {
  return {
    max_profile_bytes: 4 * 1024 * 1024,
    max_label_names_per_series: 30,
    max_label_name_length: 1024,
    max_label_value_length: 2048,
    paths: { ingest: ['/ingest', '/pyroscope/ingest'] },
  };
}

/** What the route handlers need from the receiver. */
export interface Intake {
  readonly maxProfileBytes: number;
  readonly limits: LabelLimits;
  /** Runs a request unless the receiver is shutting down, and tracks it until it settles. */
  admit<T>(fn: () => Promise<T>): Promise<T>;
  /** Hands every batch to the pipeline at once; resolves when all of them are durable. */
  deliver(batches: Batch[]): Promise<void>;
}

class PyroscopeReceiver implements Receiver, Intake {
  readonly maxProfileBytes: number;
  readonly limits: LabelLimits;
  private readonly gate = new RequestGate('the pyroscope receiver');

  constructor(
    private readonly config: PyroscopeReceiverConfig,
    private readonly next: Consumer<'profiles'>,
    private readonly logger: Logger,
  ) {
    this.maxProfileBytes = config.max_profile_bytes;
    this.limits = {
      maxLabelNamesPerSeries: config.max_label_names_per_series,
      maxLabelNameLength: config.max_label_name_length,
      maxLabelValueLength: config.max_label_value_length,
    };
  }

  async start(host: Host): Promise<void> {
    registerIngestRoutes(host.http, this.config.paths.ingest, this);
    await registerPushService(host.http, this);
  }

  endpoints(): Endpoint[] {
    return [
      ...this.config.paths.ingest.map((path): Endpoint => ({ role: 'ingest', path, what: 'Pyroscope SDKs and agents (pprof, folded)' })),
      { role: 'ingest', path: '/push.v1.PusherService/Push', what: 'Pyroscope Push API (Connect, gRPC)' },
    ];
  }

  async shutdown(): Promise<void> {
    await this.gate.close();
  }

  admit<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.admit(fn);
  }

  deliver(batches: Batch[]): Promise<void> {
    return deliverAll(
      batches.map((b) => () => this.next.consume(b)),
      this.logger,
    );
  }
}

export const factory: ReceiverFactory<PyroscopeReceiverConfig> = {
  type: 'pyroscope',
  kind: 'receiver',
  stability: 'beta',
  signals: ['profiles'],
  schema,
  defaultConfig,
  create(settings: CreateSettings, config: PyroscopeReceiverConfig, next: Consumers): Receiver {
    return new PyroscopeReceiver(config, consumerOf(next, 'profiles', settings.id), settings.logger);
  },
};

export default factory;
