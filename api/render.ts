/**
 * Pyroscope's legacy JSON routes: /pyroscope/render and /pyroscope/label-values.
 */
import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../core/http.ts';
import { BadRequestError } from '../core/errors.ts';
import { parseSelector } from '../core/selector.ts';
import { parseAttime } from '../core/attime.ts';
import { defaultLimits, type TenantLimits } from '../core/limits/index.ts';
import { checkTimeMs, limitRange } from '../core/limits/query.ts';
import { resolveLimits } from '../core/limits/schema.ts';
import type { ParsedProfileType } from '../core/model.ts';
import type { Aggregation, QueryEngine, Selection } from '../storage/query.ts';
import { flameGraphOf } from './flamegraph.ts';
import { maxNodesOf, parseQuery } from './selection.ts';
import { stepFor, toTimeline } from './timeline.ts';
import { metadataFor } from './units.ts';

type Query = Record<string, string | undefined>;

const DEFAULT_LIMITS = resolveLimits(defaultLimits());

export interface RenderOptions {
  maxNodes: number;
  aggregation: Aggregation;
  /** Pyroscope uses only the first label. */
  groupBy: string[];
}

/** The flamebearer JSON of a selection, with its timeline, as Pyroscope's /render answers it. */
export async function renderSelection(db: QueryEngine, selection: Selection, profileType: ParsedProfileType, opts: RenderOptions) {
  const { maxNodes, aggregation, groupBy } = opts;
  const step = stepFor(selection.start, selection.end);
  const [merged, total, grouped] = await Promise.all([
    db.mergeStacks(selection, { aggregation, maxNodes }),
    db.timeline(selection, step, { aggregation }),
    groupBy.length ? db.timeline(selection, step, { aggregation, groupBy }) : Promise.resolve([]),
  ]);
  const fb = await flameGraphOf(merged, maxNodes);
  const groups: Record<string, ReturnType<typeof toTimeline>> = {};
  if (groupBy.length) {
    groups['*'] = toTimeline(total[0], selection.start, selection.end, step);
    for (const s of grouped) groups[s.labels[groupBy[0]] || '*'] = toTimeline(s, selection.start, selection.end, step);
  }
  return {
    version: 1,
    flamebearer: { names: fb.names, levels: fb.levels, numTicks: fb.total, maxSelf: fb.maxSelf },
    metadata: metadataFor(profileType),
    timeline: toTimeline(total[0], selection.start, selection.end, step),
    groups: groupBy.length ? groups : null,
    heatmap: null,
  };
}

export function registerRenderRoutes(app: FastifyInstance, engine: () => QueryEngine, limitsFor: (tenant: string) => TenantLimits = () => DEFAULT_LIMITS): void {
  app.get('/pyroscope/render', async (req) => {
    const q = req.query as Query;
    const tenant = tenantOf(req.headers);
    const parsed = parseQuery(tenant, q.query, q.from, q.until);
    const limits = limitsFor(tenant);
    const selection = { ...parsed.selection, ...limitRange(limits, parsed.selection.start, parsed.selection.end) };
    const profileType = parsed.profileType;
    const maxNodes = maxNodesOf(q.maxNodes ?? q['max-nodes'], limits);
    const aggregation = q.aggregation === 'avg' || q.aggregation === 'average' ? 'avg' : q.aggregation === undefined || q.aggregation === 'sum' ? 'sum' : undefined;
    if (!aggregation) throw new BadRequestError(`aggregation must be sum or avg, got ${JSON.stringify(q.aggregation)}`);
    // Pyroscope uses only the first groupBy label.
    const groupBy = (q.groupBy ?? '').split(',').map((s) => s.trim()).filter(Boolean).slice(0, 1);
    return renderSelection(engine(), selection, profileType, { maxNodes, aggregation, groupBy });
  });

  app.get('/pyroscope/label-values', async (req) => {
    const q = req.query as Query;
    const tenant = tenantOf(req.headers);
    const label = q.label;
    if (!label) throw new BadRequestError('missing query parameter "label"');
    const now = Date.now();
    const start = checkTimeMs(parseAttime(q.from || 'now-30d', now, 'from'), 'from');
    const end = checkTimeMs(parseAttime(q.until || 'now', now, 'until'), 'until');
    const db = engine();
    // As in Pyroscope, __name__ lists profile type IDs.
    if (label === '__name__') return db.profileTypes(tenant, start, end);
    const sel = q.query ? parseSelector(q.query) : { metric: '', matchers: [] };
    return db.labelValues(tenant, label, sel.matchers, start, end, sel.metric || undefined);
  });
}
