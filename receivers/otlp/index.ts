/**
 * The `otlp` receiver: OTLP profiles and traces over gRPC and HTTP, configured like the
 * OpenTelemetry Collector's otlp receiver. A protocol with an endpoint gets its own server on that
 * address; a protocol listed without one is served on the shared HTTP port (which also speaks
 * cleartext HTTP/2, so gRPC works there too).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { authenticatorIds, authSettingsSchema, isAuthenticator, type AuthSettings } from '../../core/auth.ts';
import { guardRoutes } from '../../core/auth-guard.ts';
import type { Consumers, CreateSettings, Endpoint, Host, Receiver, ReceiverFactory } from '../../core/component.ts';
import { createHttpServer, parseEndpoint } from '../../core/http.ts';
import { DEFAULT_EXCLUDED_ATTRIBUTES } from '../../formats/otlp/index.ts';
import { registerGrpcRoutes } from './grpc.ts';
import { registerHttpRoutes } from './http.ts';
import { OtlpIntake } from './intake.ts';

const endpoint = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]*):\d{1,5}$/, 'an endpoint is host:port');
const protocol = z.strictObject({ endpoint: endpoint.optional(), auth: authSettingsSchema.optional() }).nullable().optional();
const positiveInt = z.number().int().positive();

export const schema = z
  .strictObject({
    protocols: z.strictObject({ grpc: protocol, http: protocol }),
    /** Which binary layout of OTLP profiles senders use: v1.10 (and later), or the older v1.9 / v1.8. */
    profiles_wire: z.enum(['v1.10', 'v1.9', 'v1.8']),
    /** Largest request, compressed and after inflating. */
    max_request_bytes: positiveInt,
    /** Attribute keys kept out of series labels. */
    exclude_attributes: z.array(z.string().min(1)),
    max_label_names_per_series: positiveInt,
    max_label_value_length: positiveInt,
  })
  .refine((c) => c.protocols.grpc !== undefined || c.protocols.http !== undefined, {
    message: 'enable at least one protocol (protocols.grpc or protocols.http)',
    path: ['protocols'],
  })
  .superRefine((c, ctx) => {
    const { grpc, http } = c.protocols;
    for (const [name, p] of [['grpc', grpc], ['http', http]] as const) {
      if (p?.auth && p.endpoint === undefined) {
        ctx.addIssue({ code: 'custom', path: ['protocols', name, 'auth'], message: 'auth guards the protocol\'s own server (set its endpoint); on the shared port, service.http.auth guards it' });
      }
    }
    if (grpc?.endpoint !== undefined && grpc.endpoint === http?.endpoint && JSON.stringify(grpc.auth ?? null) !== JSON.stringify(http.auth ?? null)) {
      ctx.addIssue({ code: 'custom', path: ['protocols', 'http', 'auth'], message: 'grpc and http share one server on this endpoint, so they need the same auth' });
    }
  });

export type OtlpReceiverConfig = z.infer<typeof schema>;

export function defaultConfig(): OtlpReceiverConfig {
  return {
    protocols: {},
    profiles_wire: 'v1.10',
    max_request_bytes: 64 * 1024 * 1024,
    exclude_attributes: [...DEFAULT_EXCLUDED_ATTRIBUTES],
    max_label_names_per_series: 30,
    max_label_value_length: 2048,
  };
}

interface OwnServer {
  protocol: 'grpc' | 'http';
  endpoint: string;
  app: FastifyInstance;
  /** Behind its protocol's `auth`. */
  guarded: boolean;
  /** host:port once listening. */
  bound?: string;
}

const OTLP_PATHS = {
  // gRPC clients are given a host and port, not a path, so one entry covers both services.
  grpc: [['/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export', 'OTLP profiles and traces (gRPC)']],
  http: [
    ['/v1development/profiles', 'OTLP profiles (HTTP, protobuf or JSON)'],
    ['/v1/traces', 'OTLP traces (HTTP, protobuf or JSON)'],
  ],
} as const;

class OtlpReceiver implements Receiver {
  private readonly intake: OtlpIntake;
  private readonly servers: OwnServer[] = [];

  constructor(
    private readonly id: string,
    private readonly config: OtlpReceiverConfig,
    next: Consumers,
    private readonly logger: Logger,
  ) {
    this.intake = new OtlpIntake(
      id,
      next,
      {
        wire: config.profiles_wire,
        maxRequestBytes: config.max_request_bytes,
        excludeAttributes: config.exclude_attributes,
        maxLabelNames: config.max_label_names_per_series,
        maxLabelValueLength: config.max_label_value_length,
      },
      logger,
    );
  }

  async start(host: Host): Promise<void> {
    const { grpc, http } = this.config.protocols;
    if (grpc !== undefined) registerGrpcRoutes(this.serverFor('grpc', grpc?.endpoint, grpc?.auth, host), this.intake);
    if (http !== undefined) registerHttpRoutes(this.serverFor('http', http?.endpoint, http?.auth, host), this.intake);
    for (const s of this.servers) {
      const { host: h, port } = parseEndpoint(s.endpoint);
      await s.app.listen({ host: h, port });
      const addr = s.app.server.address();
      const bound = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : s.endpoint;
      s.bound = bound;
      this.logger.info({ receiver: this.id, [`otlp_${s.protocol}_address`]: bound }, `OTLP/${s.protocol} listening`);
      if (!s.guarded && !/^(127\.|::1$|localhost$)/.test(h)) {
        this.logger.warn({ receiver: this.id, endpoint: bound }, `OTLP/${s.protocol} listens on a non-loopback address without authentication (set protocols.${s.protocol}.auth)`);
      }
    }
  }

  endpoints(): Endpoint[] {
    const out: Endpoint[] = [];
    for (const protocol of ['grpc', 'http'] as const) {
      const p = this.config.protocols[protocol];
      if (p === undefined) continue;
      const own = p?.endpoint === undefined ? undefined : this.servers.find((s) => s.endpoint === p.endpoint);
      for (const [path, what] of OTLP_PATHS[protocol]) {
        if (!own) out.push({ role: 'ingest', path, what });
        else out.push({ role: 'ingest', location: `${protocol === 'grpc' ? 'grpc' : 'http'}://${own.bound ?? own.endpoint}${protocol === 'http' ? path : ''}`, what });
      }
    }
    return out;
  }

  /** The shared server, or a server of this receiver's own that listens once its routes are on it. */
  private serverFor(protocol: 'grpc' | 'http', endpoint: string | undefined, auth: AuthSettings | undefined, host: Host): FastifyInstance {
    if (endpoint === undefined) {
      this.logger.info({ receiver: this.id }, `OTLP/${protocol} is served on the shared HTTP port`);
      return host.http;
    }
    // Both protocols on one address share a server, as the h2c server answers both.
    const same = this.servers.find((s) => s.endpoint === endpoint);
    if (same) return same.app;
    const app = createHttpServer({ endpoint, maxBodyBytes: this.config.max_request_bytes, logger: this.logger });
    if (auth) {
      const authenticators = authenticatorIds(auth).map((id) => {
        const a = host.extension(id);
        if (!isAuthenticator(a)) throw new Error(`protocols.${protocol}.auth: extension ${id} is not a running authenticator`);
        return a;
      });
      guardRoutes(app, { authenticators: () => authenticators });
    }
    this.servers.push({ protocol, endpoint, app, guarded: auth !== undefined });
    return app;
  }

  async shutdown(): Promise<void> {
    await this.intake.close();
    await Promise.all(this.servers.map((s) => s.app.close()));
  }
}

export const factory: ReceiverFactory<OtlpReceiverConfig> = {
  type: 'otlp',
  kind: 'receiver',
  stability: 'alpha',
  signals: ['profiles', 'traces'],
  schema,
  defaultConfig,
  create(settings: CreateSettings, config: OtlpReceiverConfig, next: Consumers): Receiver {
    return new OtlpReceiver(settings.id, config, next, settings.logger);
  },
};

export default factory;
