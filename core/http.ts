/**
 * The shared HTTP server. Receivers and the API mount their routes on it during start(),
 * the way Pyroscope serves ingest and query on one port.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { BadRequestError, HearthError } from './errors.ts';
import { createH2cServer } from './h2c.ts';
import { installRequestTracing } from './tracing.ts';

export interface HttpOptions {
  /** host:port; a bare ":port" listens on every interface. */
  endpoint: string;
  /** Largest request body accepted, before any decompression. */
  maxBodyBytes: number;
  logger: Logger;
}

export function createHttpServer(opts: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'http' }),
    // Per-request log lines would dominate the logs at ingest rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Profiles are pushed with every content type clients ever used (binary/octet-stream,
    // multipart, text/plain, application/x-protobuf…); handlers decide what they accept.
    return503OnClosing: true,
    // HTTP/1.1 and cleartext HTTP/2 on one port: gRPC clients reach the same routes.
    serverFactory: (handler, o) => {
      const server = createH2cServer(handler as Parameters<typeof createH2cServer>[0]);
      // The settings Fastify gives the server it builds itself.
      const t = o as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      if (t.keepAliveTimeout !== undefined) server.keepAliveTimeout = t.keepAliveTimeout;
      if (t.requestTimeout !== undefined) server.requestTimeout = t.requestTimeout;
      if (t.connectionTimeout !== undefined) server.setTimeout(t.connectionTimeout);
      return server;
    },
  });
  installRequestTracing(app as unknown as FastifyInstance);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof HearthError) {
      if (err.retryAfter !== undefined) reply.header('Retry-After', String(err.retryAfter));
      if (err.status >= 500) req.log.warn({ err: err.message, url: req.url }, 'request failed');
      return reply.status(err.status).send({ code: err.status, message: err.message });
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    // Fastify's own validation and body-limit errors carry a 4xx statusCode.
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ code: e.statusCode, message: e.message ?? 'bad request' });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ code: 500, message: 'internal error' });
  });
  return app as unknown as FastifyInstance;
}

export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  if (i < 0) throw new Error(`endpoint "${endpoint}" must be host:port`);
  const host = endpoint.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(endpoint.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`endpoint "${endpoint}" has an invalid port`);
  return { host, port };
}

/** The tenant of a request: Pyroscope's X-Scope-OrgID, `anonymous` when absent. */
export function tenantOf(headers: Record<string, string | string[] | undefined>): string {
  const v = headers['x-scope-orgid'];
  const t = (Array.isArray(v) ? v[0] : v)?.trim();
  if (!t) return 'anonymous';
  // Same rule as Cortex-style tenant IDs: short and safe to use in subjects and paths.
  if (t.length > 150 || !/^[A-Za-z0-9!\-_.*'()]+$/.test(t) || t === '.' || t === '..') {
    throw new BadRequestError(`invalid tenant ID in X-Scope-OrgID: ${JSON.stringify(t.slice(0, 160))}`);
  }
  return t;
}
