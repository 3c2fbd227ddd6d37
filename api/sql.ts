/**
 * `POST /api/sql`: read-only ad-hoc SQL over the caller's tenant, through the query engine's
 * tenant views. The body is the query as text, or JSON `{"query": "…"}`.
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../core/errors.ts';
import { tenantOf } from '../core/http.ts';
import type { QueryEngine } from '../storage/query.ts';

export function registerSqlRoute(app: FastifyInstance, engine: () => QueryEngine): void {
  app.post('/api/sql', async (req) => {
    const tenant = tenantOf(req.headers);
    return engine().sql(tenant, queryOf(req.body, req.headers['content-type']));
  });
}

function queryOf(body: unknown, contentType: string | undefined): string {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (!(contentType ?? '').toLowerCase().includes('json')) {
    if (!text.trim()) throw new BadRequestError('the request body must hold a SQL query');
    return text;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequestError('the request body is not valid JSON');
  }
  const query = (parsed as { query?: unknown } | null)?.query;
  if (typeof query !== 'string' || !query.trim()) throw new BadRequestError('JSON body must be {"query": "SELECT …"}');
  return query;
}
