/**
 * The shared HTTP server. Receivers and the API mount their routes on it during start(),
 * the way Pyroscope serves ingest and query on one port.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
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
  /** Timeouts against slow or stalled clients; each defaults to the value in HTTP_TIMEOUTS. */
  timeouts?: Partial<HttpTimeouts>;
}

export interface HttpTimeouts {
  /** From a connection's first byte until the request's headers are complete. */
  headersMs: number;
  /** From a request's first byte until its whole body has arrived: a trickled body ends here. */
  requestMs: number;
  /** A keep-alive connection, or an HTTP/2 session, that carries nothing for this long is closed. */
  idleMs: number;
}

export const HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 60_000, idleMs: 75_000 };

export function createHttpServer(opts: HttpOptions): FastifyInstance {
  const timeouts = { ...HTTP_TIMEOUTS, ...opts.timeouts };
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'http' }),
    // Per-request log lines would dominate the logs at ingest rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Profiles are pushed with every content type clients ever used (binary/octet-stream,
    // multipart, text/plain, application/x-protobuf…); handlers decide what they accept.
    return503OnClosing: true,
    // Fastify's defaults leave a request without any deadline; a stalled body would hold its
    // socket and memory forever.
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.idleMs,
    clientErrorHandler: answerClientError,
    // HTTP/1.1 and cleartext HTTP/2 on one port: gRPC clients reach the same routes.
    serverFactory: (handler, o) => {
      const server = createH2cServer(handler as Parameters<typeof createH2cServer>[0], {
        headersTimeout: timeouts.headersMs,
        requestTimeout: timeouts.requestMs,
        // Node checks the two deadlines above only this often (30 s by default).
        connectionsCheckingInterval: Math.min(1000, timeouts.headersMs),
      }, { idleMs: timeouts.idleMs });
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

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request was not received in time'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'the request headers were not received in time'],
};

/**
 * Answers a request the HTTP parser refused. The connection cannot be used after that, so the
 * answer says `Connection: close`: a keep-alive client then opens a new one for its next request
 * instead of writing into a socket that is going away.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'malformed HTTP request'];
  const body = JSON.stringify({ code: status, message });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A client that never reads its answer must not keep the socket.
  setTimeout(() => socket.destroy(), 5_000).unref();
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
