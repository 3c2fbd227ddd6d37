/**
 * Individual profiles. Every stored profile of every series is a row of the samples table, so
 * a selection can be listed profile by profile and any one of them opened on its own:
 *
 * - `GET /pyroscope/profiles?query=<type>{matchers}&from=&until=&limit=` lists them, newest first.
 * - `GET /pyroscope/profiles/:id?query=<type>{matchers}&format=json|pprof` opens one, as
 *   flamebearer JSON or as a gzipped pprof file.
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError, HearthError } from '../core/errors.ts';
import { tenantOf } from '../core/http.ts';
import type { QueryEngine } from '../storage/query.ts';
import { fileName } from './download.ts';
import { flameGraphOf } from './flamegraph.ts';
import { gzipPprof, mergedToPprof } from './pprof.ts';
import { maxNodesOf, parseQuery } from './selection.ts';
import { metadataFor } from './units.ts';

type Query = Record<string, string | undefined>;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

export function registerProfileRoutes(app: FastifyInstance, engine: () => QueryEngine): void {
  app.get('/pyroscope/profiles', async (req) => {
    const q = req.query as Query;
    const tenant = tenantOf(req.headers);
    const { selection } = parseQuery(tenant, q.query, q.from, q.until);
    const limit = q.limit === undefined || q.limit === '' ? DEFAULT_LIMIT : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new BadRequestError(`limit must be an integer from 1 to ${MAX_LIMIT}`);
    const profiles = await engine().listProfiles(selection, limit);
    return { profiles: profiles.map((p) => ({ id: p.id, time: p.time, labels: p.labels, total: p.total })) };
  });

  app.get('/pyroscope/profiles/:id', async (req, reply) => {
    const q = req.query as Query;
    const { id } = req.params as { id: string };
    if (!/^[0-9a-fA-F]{16}$/.test(id)) throw new BadRequestError(`profile ID ${JSON.stringify(id.slice(0, 40))} must be 16 hex digits`);
    const tenant = tenantOf(req.headers);
    // The ID names the profile; the range only bounds the search, so by default it is all time.
    const { selection, profileType } = parseQuery(tenant, q.query, q.from || '0', q.until || 'now+1d');
    const sel = { ...selection, profileIds: [id.toLowerCase()] };
    const format = q.format ?? 'json';
    if (format !== 'json' && format !== 'pprof') throw new BadRequestError(`format must be json or pprof, got ${JSON.stringify(format.slice(0, 32))}`);
    const db = engine();
    const [merged, found] = await Promise.all([db.mergeStacks(sel, { rollups: false }), db.listProfiles(sel, 1)]);
    if (!found.length) throw new HearthError(404, `no ${profileType.id} profile with ID ${id} matches the selection`);
    if (format === 'pprof') {
      const body = gzipPprof(mergedToPprof(merged, profileType, found[0].time, found[0].time));
      return reply
        .type('application/octet-stream')
        .header('Content-Disposition', `attachment; filename="${fileName(`${profileType.name}-${id}`, found[0].time)}"`)
        .send(body);
    }
    const fg = await flameGraphOf(merged, maxNodesOf(q.maxNodes ?? q['max-nodes']));
    return {
      version: 1,
      flamebearer: { names: fg.names, levels: fg.levels, numTicks: fg.total, maxSelf: fg.maxSelf },
      metadata: metadataFor(profileType),
      profile: { id: found[0].id, time: found[0].time, labels: found[0].labels },
      timeline: null,
      groups: null,
      heatmap: null,
    };
  });
}
