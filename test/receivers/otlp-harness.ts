/** An in-process otlp receiver on its own Fastify server, with consumers that keep what they get. */
import pino from 'pino';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Consumers, Host } from '../../core/component.ts';
import { createHttpServer } from '../../core/http.ts';
import type { Batch, SpanBatch } from '../../core/model.ts';
import otlp, { type OtlpReceiverConfig } from '../../receivers/otlp/index.ts';

export interface Harness {
  url: string;
  app: FastifyInstance;
  profiles: Batch[];
  traces: SpanBatch[];
  /** Makes the next consumes fail with this error (until set back to undefined). */
  failWith(err: Error | undefined): void;
  close(): Promise<void>;
}

export async function startReceiver(
  overrides: Partial<OtlpReceiverConfig> = {},
  signals: ('profiles' | 'traces')[] = ['profiles', 'traces'],
): Promise<Harness> {
  const logger = pino({ level: 'silent' });
  const app = createHttpServer({ endpoint: '127.0.0.1:0', maxBodyBytes: 256 * 1024 * 1024, logger });
  const profiles: Batch[] = [];
  const traces: SpanBatch[] = [];
  let failure: Error | undefined;
  const consumers: Consumers = {};
  if (signals.includes('profiles')) {
    consumers.profiles = {
      async consume(b) {
        if (failure) throw failure;
        profiles.push(b);
      },
    };
  }
  if (signals.includes('traces')) {
    consumers.traces = {
      async consume(b) {
        if (failure) throw failure;
        traces.push(b);
      },
    };
  }
  const config: OtlpReceiverConfig = { ...otlp.defaultConfig(), protocols: { grpc: null, http: null }, ...overrides };
  const parsed = otlp.schema.parse(config);
  const receiver = otlp.create({ id: 'otlp', logger, metrics: new Registry() }, parsed, consumers);
  const host: Host = { http: app, logger, metrics: new Registry(), extension: () => undefined };
  await receiver.start(host);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    app,
    profiles,
    traces,
    failWith: (err) => (failure = err),
    async close() {
      await receiver.shutdown();
      await app.close();
    },
  };
}
