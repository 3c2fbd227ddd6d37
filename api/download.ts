/**
 * pprof download of any selection: `GET /pyroscope/pprof?query=<type>{matchers}&from=&until=`
 * answers a gzipped pprof file that `go tool pprof` opens.
 */
import type { FastifyInstance } from 'fastify';
import { tenantOf } from '../core/http.ts';
import type { QueryEngine } from '../storage/query.ts';
import { gzipPprof, mergedToPprof } from './pprof.ts';
import { parseQuery } from './selection.ts';

type Query = Record<string, string | undefined>;

export function registerDownloadRoutes(app: FastifyInstance, engine: () => QueryEngine): void {
  app.get('/pyroscope/pprof', async (req, reply) => {
    const q = req.query as Query;
    const tenant = tenantOf(req.headers);
    const { selection, profileType } = parseQuery(tenant, q.query, q.from, q.until);
    const merged = await engine().mergeStacks(selection);
    const body = gzipPprof(mergedToPprof(merged, profileType, selection.start, selection.end));
    return reply
      .type('application/octet-stream')
      .header('Content-Disposition', `attachment; filename="${fileName(profileType.name, selection.start)}"`)
      .send(body);
  });
}

/** A safe file name: the profile name and the start of the range. */
export function fileName(name: string, startMs: number): string {
  const stamp = new Date(startMs).toISOString().replace(/[:.]/g, '-');
  return `${name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'profile'}-${stamp}.pb.gz`;
}
