/**
 * Every API route runs its store queries inside a query scope (core/limits/query.ts): the
 * scope is aborted when the client goes away or the tenant's `query_timeout` passes, and the
 * query engine then stops the store queries it started for the request.
 */
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import { tenantOf } from '../core/http.ts';
import { openQueryScope, runInQueryScope } from '../core/limits/query.ts';
import type { TenantLimits } from '../core/limits/index.ts';
import { DEFAULT_TENANT } from '../core/model.ts';

/** Wraps each route registered on `scope` from now on. */
export function scopeQueries(scope: FastifyInstance, limitsFor: (tenant: string) => TenantLimits): void {
  scope.addHook('onRoute', (route) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function scoped(this: FastifyInstance, req, reply) {
      let tenant = DEFAULT_TENANT;
      try {
        tenant = tenantOf(req.headers);
      } catch {
        // The handler refuses the header itself, with its own message.
      }
      const q = openQueryScope(limitsFor(tenant).queryTimeoutMs);
      const gone = () => {
        if (!reply.raw.writableFinished) q.abort('the client went away before the answer');
      };
      reply.raw.once('close', gone);
      return runInQueryScope(q.scope, async () => {
        try {
          return await handler.call(this, req, reply);
        } finally {
          q.close();
        }
      });
    } as RouteHandlerMethod;
  });
}
