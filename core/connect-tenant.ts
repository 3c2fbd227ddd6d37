/**
 * The tenant of a Connect, gRPC or gRPC-Web call: its X-Scope-OrgID metadata, checked by the same
 * rule as an HTTP request's header, so both doors into Hearth agree on who is asking.
 */
import type { HandlerContext } from '@connectrpc/connect';
import { tenantOf } from './http.ts';

export function tenantOfCall(ctx: Pick<HandlerContext, 'requestHeader'>): string {
  return tenantOf({ 'x-scope-orgid': ctx.requestHeader.get('x-scope-orgid') ?? undefined });
}
