/**
 * Trace-to-profile routes: the spans of a trace with the profile totals of each span, and the
 * flame graph of everything a trace ran. Samples belong to a trace by their trace ID or, when
 * they carry only a span ID, by that span being one of the trace's stored spans.
 */
import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../core/http.ts';
import { BadRequestError, HearthError } from '../core/errors.ts';
import { parseAttime } from '../core/attime.ts';
import type { QueryEngine, StoredSpan } from '../storage/query.ts';
import { renderSelection } from './render.ts';
import { maxNodesOf, profileTypeOf, str } from './selection.ts';

type Query = Record<string, string | undefined>;

/**
 * How far around a trace's spans its profiles are looked for. A profile is stamped with its
 * start, up to a profile's length before the spans it covers, and clocks of the profiled and
 * the traced side may differ a little.
 */
export const TRACE_PROFILE_MARGIN_MS = 15 * 60_000;
const DEFAULT_RANGE_MS = 3_600_000;

const TRACE_ID = /^[0-9a-fA-F]{32}$/;

function traceIdOf(raw: unknown): string {
  const id = str(raw);
  if (!TRACE_ID.test(id)) throw new BadRequestError(`trace ID ${JSON.stringify(id.slice(0, 48))} must be 32 hex digits`);
  if (/^0+$/.test(id)) throw new BadRequestError('trace ID must not be all zeros');
  return id.toLowerCase();
}

class NotFoundError extends HearthError {
  constructor(message: string) {
    super(404, message);
  }
}

/** The range to read: from/until when given, else around the trace's spans, else the last hour. */
function rangeOf(q: Query, spans: readonly StoredSpan[], nowMs = Date.now()): { start: number; end: number } {
  let start = nowMs - DEFAULT_RANGE_MS;
  let end = nowMs;
  if (spans.length) {
    start = Infinity;
    end = -Infinity;
    for (const s of spans) {
      const from = Number(BigInt(s.startNanos) / 1_000_000n);
      start = Math.min(start, from);
      end = Math.max(end, from + Number(BigInt(s.durationNanos) / 1_000_000n));
    }
    start -= TRACE_PROFILE_MARGIN_MS;
    end += TRACE_PROFILE_MARGIN_MS;
  }
  if (q.from) start = parseAttime(q.from, nowMs, 'from');
  if (q.until) end = parseAttime(q.until, nowMs, 'until');
  if (end <= start) throw new BadRequestError('until must be after from');
  return { start, end };
}

export function registerTraceRoutes(app: FastifyInstance, engine: () => QueryEngine): void {
  app.get('/api/v1/traces/:traceId', async (req) => {
    const tenant = tenantOf(req.headers);
    const traceId = traceIdOf((req.params as { traceId?: string }).traceId);
    const q = req.query as Query;
    const db = engine();
    const spans = await db.traceSpans(tenant, traceId);
    if (!spans.length) throw new NotFoundError(`trace ${traceId} not found`);
    const { start, end } = rangeOf(q, spans);
    const totals = await db.traceTotals(tenant, traceId, spans, start, end);
    return {
      traceId,
      from: start,
      until: end,
      profileTypes: totals.map((t) => ({ id: t.profileType, total: t.total, unattributed: t.unattributed })),
      spans: spans.map((s) => ({
        spanId: s.spanId,
        parentSpanId: s.parentSpanId,
        service: s.service,
        name: s.name,
        kind: s.kind,
        startTimeUnixNano: s.startNanos,
        durationNanos: s.durationNanos,
        statusCode: s.statusCode,
        profiles: Object.fromEntries(totals.map((t) => [t.profileType, t.spans.get(s.spanId) ?? { self: 0, total: 0 }])),
      })),
    };
  });

  app.get('/api/v1/traces/:traceId/flamegraph', async (req) => {
    const tenant = tenantOf(req.headers);
    const traceId = traceIdOf((req.params as { traceId?: string }).traceId);
    const q = req.query as Query;
    if (!q.profile_type) throw new BadRequestError('missing query parameter "profile_type"');
    const profileType = profileTypeOf(q.profile_type);
    const maxNodes = maxNodesOf(q.maxNodes ?? q['max-nodes'] ?? q.max_nodes);
    const db = engine();
    const spans = await db.traceSpans(tenant, traceId);
    const { start, end } = rangeOf(q, spans);
    // Without stored spans the trace is known only through samples that carry its ID.
    if (!spans.length && !(await db.traceTotals(tenant, traceId, [], start, end)).length) throw new NotFoundError(`trace ${traceId} not found`);
    const selection = { tenant, profileType: profileType.id, matchers: [], start, end, traceIds: [traceId] };
    return renderSelection(db, selection, profileType, { maxNodes, aggregation: 'sum', groupBy: [] });
  });
}
