/**
 * Spans of Hearth's own work, through the OpenTelemetry API only: with self-tracing off
 * (core/telemetry.ts registers no provider) every call here is a no-op on a non-recording span.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const TRACER_NAME = 'hearth';

/** Runs `fn` inside a new active span, which ends when `fn` settles and records its error. */
export function traced<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Paths whose requests are never traced, and whose work runs with tracing suppressed: OTLP trace
 * intake. When Hearth sends its spans to itself, a span for taking them in would be exported in
 * turn, and so on forever.
 */
const untracedPaths = new Set(['/v1/traces', '/opentelemetry.proto.collector.trace.v1.TraceService/Export']);
let requestTracing = false;

/** Turns the request hooks on (self-tracing started) or off; `intakePath` is the path Hearth's own spans go to. */
export function setRequestTracing(on: boolean, intakePath?: string): void {
  requestTracing = on;
  if (intakePath) untracedPaths.add(intakePath);
}

const SPAN = Symbol('hearth.span');
const CONTEXT = Symbol('hearth.context');
type TracedRequest = FastifyRequest & { [SPAN]?: Span; [CONTEXT]?: Context };

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * One server span per HTTP request, named `METHOD route`, continuing the caller's trace when it
 * sends `traceparent`. The handler runs inside the span's context, so spans started by the work
 * it does (queries, inserts) become its children.
 */
export function installRequestTracing(app: FastifyInstance): void {
  app.addHook('onRequest', (req, _reply, done) => {
    if (!requestTracing) return done();
    const r = req as TracedRequest;
    const path = pathOf(req.url);
    if (untracedPaths.has(path)) {
      r[CONTEXT] = suppressTracing(ROOT_CONTEXT);
      return done();
    }
    const route = req.routeOptions.url;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = trace.getTracer(TRACER_NAME).startSpan(
      route ? `${req.method} ${route}` : req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'url.path': path,
          ...(route ? { 'http.route': route } : {}),
        },
      },
      parent,
    );
    r[SPAN] = span;
    r[CONTEXT] = trace.setSpan(parent, span);
    done();
  });
  // The body is read between onRequest and preHandler, on the socket's own async context, so the
  // span's context is entered here, right before the handler runs.
  app.addHook('preHandler', (req, _reply, done) => {
    const ctx = (req as TracedRequest)[CONTEXT];
    if (ctx === undefined) return done();
    context.with(ctx, done);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const span = (req as TracedRequest)[SPAN];
    if (span !== undefined) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
  app.addHook('onRequestAbort', (req, done) => {
    const span = (req as TracedRequest)[SPAN];
    if (span !== undefined) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the request' });
      span.end();
    }
    done();
  });
}
