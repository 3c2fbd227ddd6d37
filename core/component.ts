/**
 * The component contract, after the OpenTelemetry Collector: every receiver, processor,
 * exporter and extension is a folder whose index.ts exports one factory.
 *
 * The core only ever talks to these interfaces; it never imports a component.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Limits } from './limits/index.ts';
import type { Batch, SpanBatch } from './model.ts';

export type Kind = 'receiver' | 'processor' | 'exporter' | 'extension';
export type Signal = 'profiles' | 'traces';
export const SIGNALS: readonly Signal[] = ['profiles', 'traces'];
export type Stability = 'development' | 'alpha' | 'beta' | 'stable';

/** What a pipeline carries for each signal. */
export interface SignalPayload {
  profiles: Batch;
  traces: SpanBatch;
}

/** Takes data in. Resolves only once the data is durable downstream (or deliberately dropped). */
export interface Consumer<S extends Signal = 'profiles'> {
  consume(item: SignalPayload[S]): Promise<void>;
}

/**
 * What a receiver hands its data to: one consumer per signal that some pipeline using the
 * receiver carries. A signal with no pipeline has no consumer, and the receiver should not
 * accept that signal at all.
 */
export type Consumers = { [S in Signal]?: Consumer<S> };

/** Shared services the running process offers to its components. */
export interface Host {
  /** The shared HTTP server (:4040 by default). Routes must be added during start(). */
  readonly http: FastifyInstance;
  readonly logger: Logger;
  readonly metrics: Registry;
  /**
   * Per-tenant limits (service.limits): the API reads the query limits, a store offers its series
   * index. Absent outside a Service (component tests).
   */
  readonly limits?: Limits;
  /** Extensions by component ID, for components that depend on one. */
  extension<T extends Component>(id: string): T | undefined;
}

export interface Component {
  start(host: Host): Promise<void>;
  /** Stops intake and flushes whatever is in flight. */
  shutdown(): Promise<void>;
  /** What a person starting Hearth should know this component offers or keeps; called after start(). */
  endpoints?(): Endpoint[];
}

/** One thing the start banner lists, grouped by role. */
export interface Endpoint {
  /** `ingest`: where clients send data; `query`: where they read it; `ui`: a page to open; `data`: where it is kept. */
  role: 'ingest' | 'query' | 'ui' | 'data';
  /** A path on the shared HTTP server (`/ingest`), shown joined to the server's URL. */
  path?: string;
  /** Anything else: a URL of another server (`nats://…`), a directory. */
  location?: string;
  /** What it is, in a few words. */
  what: string;
}

export interface Receiver extends Component {}

export interface Processor extends Component {
  /** Returns the rewritten batch, or null to drop it. */
  process(batch: Batch): Promise<Batch | null>;
  /** The same for a traces pipeline; only processors whose factory lists `traces` have it. */
  processTraces?(batch: SpanBatch): Promise<SpanBatch | null>;
  /**
   * For a processor that combines batches (merging several into one, or grouping several for
   * one export): a pipeline calls this instead of `process`. The processor keeps the batch, and
   * later hands what it made of it to `next`, alone or with others. The returned promise settles
   * only once `next` settled for what holds this batch, so a client's 2xx still means durable.
   * `accepted` is called once the batch sits in the processor's own bounded memory: the pipeline
   * then stops counting it against its in-flight limit while it waits.
   */
  hold?(batch: Batch, next: Downstream<Batch>, accepted: () => void): Promise<void>;
  /** Called first thing at shutdown: hand on everything held now, and stop holding from then on. */
  flush?(): Promise<void>;
}

/** The rest of a pipeline after a processor: settles once every batch it is given is durable (or dropped). */
export type Downstream<T> = (batches: T[]) => Promise<void>;

export interface Exporter extends Component, Consumer<'profiles'> {
  /**
   * Takes several batches at once, as one message or one insert; settles once all are durable.
   * Without it a group is handed over batch by batch.
   */
  consumeMany?(batches: Batch[]): Promise<void>;
  /** Takes spans; only exporters whose factory lists `traces` have it. Settles once durable. */
  consumeTraces?(batch: SpanBatch): Promise<void>;
  /**
   * Called first thing at shutdown: write out what is buffered now and stop waiting to batch,
   * so that requests in flight complete before the process exits.
   */
  flush?(): Promise<void>;
}

export interface Extension extends Component {}

export interface CreateSettings {
  /** Component ID as written in the config, `type[/name]`. */
  id: string;
  logger: Logger;
  metrics: Registry;
  /**
   * The value the config declares for each process-wide resource (see ResourceClaim) on which
   * every declaring component agrees; a component that only uses a resource reads it here.
   */
  resources?: ReadonlyMap<string, unknown>;
}

/**
 * A process-wide resource that a component's config points at, e.g. a data directory that only
 * one embedded database per process may hold. Config loading compares the claims of all
 * components, so the core checks them without knowing what any resource is.
 */
export interface ResourceClaim {
  /** An opaque name that the factories claiming the same resource agree on. */
  resource: string;
  /** The dotted key inside the component's block that sets it, named in errors; '' for the block itself. */
  key: string;
  /** What the config points the resource at; absent when the component only uses what the process declares. */
  value?: unknown;
  /** At most one value per process: another component declaring a different value is a config error. */
  exclusive?: boolean;
}

interface FactoryBase<Config> {
  readonly type: string;
  readonly stability: Stability;
  /** The zod schema validates a config block after defaults are applied; unknown keys are errors. */
  readonly schema: z.ZodType<Config>;
  defaultConfig(): Config;
  /** The process-wide resources a (validated) config claims; see ResourceClaim. */
  claims?(config: Config): ResourceClaim[];
}

export interface ReceiverFactory<Config = any> extends FactoryBase<Config> {
  readonly kind: 'receiver';
  readonly signals: readonly Signal[];
  create(settings: CreateSettings, config: Config, next: Consumers): Receiver;
}

export interface ProcessorFactory<Config = any> extends FactoryBase<Config> {
  readonly kind: 'processor';
  readonly signals: readonly Signal[];
  create(settings: CreateSettings, config: Config): Processor;
}

export interface ExporterFactory<Config = any> extends FactoryBase<Config> {
  readonly kind: 'exporter';
  readonly signals: readonly Signal[];
  create(settings: CreateSettings, config: Config): Exporter;
}

export interface ExtensionFactory<Config = any> extends FactoryBase<Config> {
  readonly kind: 'extension';
  /** Its instances are Authenticators (core/auth.ts), which `auth: { authenticator: ID }` settings may name. */
  readonly authenticator?: boolean;
  create(settings: CreateSettings, config: Config): Extension;
}

export type Factory = ReceiverFactory | ProcessorFactory | ExporterFactory | ExtensionFactory;

/** A processor with nothing to start or stop only needs `process`. */
export function processorOf(process: Processor['process']): Processor {
  return { process, start: async () => {}, shutdown: async () => {} };
}

/** The consumer of a signal the receiver cannot work without; config validation makes its absence a bug. */
export function consumerOf<S extends Signal>(next: Consumers, signal: S, receiverId: string): Consumer<S> {
  const c = next[signal] as Consumer<S> | undefined;
  if (!c) throw new Error(`receiver ${receiverId} is in no ${signal} pipeline`);
  return c;
}
