/**
 * The running service: builds components from a resolved config, wires pipelines, owns the
 * shared HTTP server and the lifecycle.
 *
 * Start order is extensions → exporters → processors → receivers → listen, so nothing can
 * accept data before the path behind it is ready. Shutdown runs the other way: stop
 * listening, let receivers finish their requests, drain pipelines, flush exporters.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics, Gauge } from 'prom-client';
import type { Component, Consumers, CreateSettings, Exporter, Extension, Host, Processor, Receiver, Signal } from './component.ts';
import { isAuthenticator, OPEN_ROUTE, type Authenticator } from './auth.ts';
import { guardRoutes } from './auth-guard.ts';
import type { ResolvedConfig } from './config.ts';
import { createHttpServer, parseEndpoint } from './http.ts';
import { Limits } from './limits/index.ts';
import { createLogger, STARTED, startFacts } from './logging.ts';
import { Pipeline, fanOut } from './pipeline.ts';
import { startSelfTracing, type SelfTracing } from './telemetry.ts';

export interface ServiceOptions {
  logger?: Logger;
  /** Overrides service.http.endpoint, e.g. for tests that want port 0. */
  endpoint?: string;
}

export class Service {
  readonly logger: Logger;
  readonly metrics = new Registry();
  readonly http: FastifyInstance;
  readonly pipelines: Pipeline<Signal>[] = [];
  /** Per-tenant limits (service.limits), checked on every receiver's profiles and by the API. */
  readonly limits: Limits;
  private readonly extensions = new Map<string, Extension>();
  private readonly exporters = new Map<string, Exporter>();
  private readonly processors: Processor[] = [];
  private readonly receivers = new Map<string, Receiver>();
  private started: Component[] = [];
  private ready = false;
  private stopping: Promise<void> | undefined;
  private selfTracing: SelfTracing | undefined;

  constructor(
    readonly config: ResolvedConfig,
    private readonly opts: ServiceOptions = {},
  ) {
    this.logger = opts.logger ?? createLogger({ level: config.service.logLevel, format: config.service.logFormat });
    collectDefaultMetrics({ register: this.metrics, prefix: 'hearth_' });
    this.limits = new Limits(config.service.limits, this.logger.child({ component: 'limits' }));
    this.http = createHttpServer({ endpoint: opts.endpoint ?? config.service.http.endpoint, maxBodyBytes: config.service.http.maxBodyBytes, logger: this.logger });
    const auth = config.service.http.auth;
    // Before any route exists, so that every route of the shared port is behind it.
    if (auth) guardRoutes(this.http, { authenticators: () => auth.authenticators.map((id) => this.authenticator(id)) });
    this.build();
  }

  private authenticator(id: string): Authenticator {
    const a = this.extensions.get(id);
    // Config loading already checked the reference; this is a bug if it fails.
    if (!isAuthenticator(a)) throw new Error(`extension ${id} is not an authenticator`);
    return a;
  }

  private settings(id: string): CreateSettings {
    return { id, logger: this.logger.child({ component: id }), metrics: this.metrics, resources: this.config.resources };
  }

  private build(): void {
    const c = this.config;
    for (const [id, e] of c.extensions) this.extensions.set(id, (e.factory as any).create(this.settings(id), e.config));
    for (const [id, e] of c.exporters) this.exporters.set(id, (e.factory as any).create(this.settings(id), e.config));
    const byReceiver = new Map<string, Pipeline<Signal>[]>();
    for (const p of c.pipelines) {
      // Like the Collector, each pipeline gets its own processor instances.
      const processors = p.processors.map((id) => {
        const def = c.processors.get(id)!;
        const proc: Processor = (def.factory as any).create(this.settings(`${id} in ${p.id}`), def.config);
        this.processors.push(proc);
        return proc;
      });
      const pipeline = new Pipeline<Signal>(p.id, processors, p.exporters.map((id) => this.exporters.get(id)!), undefined, undefined, p.signal);
      this.pipelines.push(pipeline);
      for (const r of p.receivers) byReceiver.set(r, [...(byReceiver.get(r) ?? []), pipeline]);
    }
    for (const [id, r] of c.receivers) {
      const next: Consumers = {};
      const feeding = byReceiver.get(id) ?? [];
      for (const signal of new Set(feeding.map((p) => p.signal))) {
        (next as Record<Signal, unknown>)[signal] = fanOut(feeding.filter((p) => p.signal === signal));
      }
      // One place every receiver's profiles pass, whatever protocol brought them.
      if (next.profiles) next.profiles = this.limits.guard(next.profiles);
      this.receivers.set(id, (r.factory as any).create(this.settings(id), r.config, next));
    }
    this.registerTelemetry();
  }

  private registerTelemetry(): void {
    const pipelines = this.pipelines;
    new Gauge({
      name: 'hearth_pipeline_in_flight_batches',
      help: 'Batches inside a pipeline, not yet durable.',
      labelNames: ['pipeline'],
      registers: [this.metrics],
      collect() {
        for (const p of pipelines) this.set({ pipeline: p.id }, p.stats.inFlight);
      },
    });
    new Gauge({
      name: 'hearth_pipeline_waiting_batches',
      help: 'Batches waiting for room in a pipeline (backpressure).',
      labelNames: ['pipeline'],
      registers: [this.metrics],
      collect() {
        for (const p of pipelines) this.set({ pipeline: p.id }, p.stats.waiting);
      },
    });
    this.http.get('/healthz', OPEN_ROUTE, async () => ({ status: 'ok' }));
    this.http.get('/ready', OPEN_ROUTE, async (_req, reply) => {
      if (!this.ready) return reply.status(503).send('not ready');
      return reply.type('text/plain').send('ready');
    });
    this.http.get('/metrics', { config: { open: !this.config.service.http.auth?.metricsAuth } }, async (_req, reply) => reply.type(this.metrics.contentType).send(await this.metrics.metrics()));
  }

  private host(): Host {
    const extensions = this.extensions;
    return {
      http: this.http,
      logger: this.logger,
      metrics: this.metrics,
      limits: this.limits,
      extension: <T extends Component>(id: string) => extensions.get(id) as T | undefined,
    };
  }

  /** Starts every component, then listens. Returns the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    this.selfTracing ??= startSelfTracing(this.config.service.traces, this.logger);
    const host = this.host();
    this.limits.start();
    const order: Component[] = [...this.extensions.values(), ...this.exporters.values(), ...this.processors, ...this.receivers.values()];
    try {
      for (const c of order) {
        await c.start(host);
        this.started.push(c);
      }
      const { host: h, port } = parseEndpoint(this.opts.endpoint ?? this.config.service.http.endpoint);
      await this.http.listen({ host: h, port });
      if (!this.config.service.http.auth && !isLoopback(h)) {
        this.logger.warn({ endpoint: `${h}:${port}` }, 'listening on a non-loopback address without authentication: anyone who can reach it can read and write every tenant (set service.http.auth)');
      }
    } catch (e) {
      await this.shutdown().catch(() => {});
      throw e;
    }
    this.ready = true;
    const addr = this.http.server.address();
    const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host: '', port: 0 };
    this.logger.info(startFacts(bound, this.config.file, this.pipelines.map((p) => p.id), this.endpoints()), STARTED);
    return bound;
  }

  /** What the components describe of themselves, for the start banner. */
  private endpoints(): Parameters<typeof startFacts>[3] {
    const all: Parameters<typeof startFacts>[3] = [];
    const add = (kind: string, m: Map<string, Component>) => {
      for (const [id, c] of m) for (const endpoint of c.endpoints?.() ?? []) all.push({ component: `${kind}.${id}`, endpoint });
    };
    add('receivers', this.receivers);
    add('exporters', this.exporters);
    add('extensions', this.extensions);
    return all;
  }

  shutdown(): Promise<void> {
    this.stopping ??= this.doShutdown();
    return this.stopping;
  }

  private async doShutdown(): Promise<void> {
    this.ready = false;
    const log = this.logger;
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        log.error({ err: (e as Error).message }, `shutdown: ${what} failed`);
      }
    };
    // In-flight requests wait for their data to be durable: have exporters write out now
    // rather than at their next batching deadline, then let the server finish those requests.
    // Processors holding batches to combine them hand them on now, while the exporters still run.
    await Promise.all([
      ...this.processors.map((p) => step('processor flush', async () => p.flush?.())),
      ...[...this.exporters.values()].map((e) => step('flush', async () => e.flush?.())),
    ]);
    // While the server still listens: Hearth may be the endpoint of its own spans.
    await step('self-tracing', async () => this.selfTracing?.shutdown());
    await step('http', () => this.http.close());
    const started = new Set(this.started);
    const stop = (cs: Iterable<Component>) => Promise.all([...cs].filter((c) => started.has(c)).map((c) => step('component', () => c.shutdown())));
    await stop(this.receivers.values());
    await Promise.all(this.pipelines.map((p) => step(`pipeline ${p.id}`, () => p.drain())));
    await stop(this.processors);
    await stop(this.exporters.values());
    await stop(this.extensions.values());
    this.started = [];
    this.limits.stop();
    log.info('hearth stopped');
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
