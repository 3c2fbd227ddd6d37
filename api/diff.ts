/**
 * Pyroscope's legacy `/pyroscope/render-diff`: two selections of one profile type as a diff
 * flame graph (flamebearer JSON, format "double").
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../core/errors.ts';
import { tenantOf } from '../core/http.ts';
import { diffFlameGraph } from '../formats/flamegraph/index.ts';
import type { QueryEngine } from '../storage/query.ts';
import { maxNodesOf, parseQuery } from './selection.ts';
import { metadataFor } from './units.ts';

type Query = Record<string, string | undefined>;

export function registerDiffRoute(app: FastifyInstance, engine: () => QueryEngine): void {
  app.get('/pyroscope/render-diff', async (req) => {
    const q = req.query as Query;
    const tenant = tenantOf(req.headers);
    const side = (name: 'left' | 'right') => {
      try {
        return parseQuery(tenant, q[`${name}Query`], q[`${name}From`], q[`${name}Until`]);
      } catch (err) {
        if (err instanceof BadRequestError) throw new BadRequestError(`${name}: ${err.message.replace('"query"', `"${name}Query"`)}`);
        throw err;
      }
    };
    const left = side('left');
    const right = side('right');
    if (left.profileType.id !== right.profileType.id) {
      throw new BadRequestError(`profile types must match, got ${left.profileType.id} and ${right.profileType.id}`);
    }
    const maxNodes = maxNodesOf(q.maxNodes ?? q['max-nodes']);
    const db = engine();
    const [l, r] = await Promise.all([db.mergeStacks(left.selection), db.mergeStacks(right.selection)]);
    const fg = diffFlameGraph(l, r, maxNodes);
    return {
      version: 1,
      flamebearer: { names: fg.names, levels: fg.levels, numTicks: fg.total, maxSelf: fg.maxSelf },
      metadata: metadataFor(left.profileType, 'double'),
      leftTicks: fg.leftTicks,
      rightTicks: fg.rightTicks,
      timeline: null,
      groups: null,
      heatmap: null,
    };
  });
}
