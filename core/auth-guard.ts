/**
 * Guards every route of a Fastify server with authenticator extensions: a request without valid
 * credentials gets 401, one whose credential may not do what the route does (or act for the tenant
 * it names) gets 403, in the form its protocol expects (plain HTTP, Connect, gRPC or gRPC-Web).
 *
 * A request that names no tenant is given the credential's tenant as its X-Scope-OrgID, so every
 * route that reads the tenant (tenantOf, tenantOfCall) acts for the authenticated tenant without
 * knowing about authentication, as behind Grafana's gateway.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Code } from '@connectrpc/connect';
import { allows, ForbiddenError, UnauthorizedError, type Authenticator, type Principal, type RouteAuthConfig } from './auth.ts';
import { HearthError } from './errors.ts';

const principals = new WeakMap<object, Principal>();

/** The principal a guarded request was authenticated as; undefined on an unguarded server or an open route. */
export function principalOf(req: FastifyRequest | IncomingMessage): Principal | undefined {
  return principals.get('raw' in req ? req.raw : req);
}

export interface GuardOptions {
  /** The authenticators in the order they are tried; looked up per request, so they may start after the guard is installed. */
  authenticators: () => readonly Authenticator[];
}

/** Installs the guard; call it before any route is added. */
export function guardRoutes(app: FastifyInstance, opts: GuardOptions): void {
  app.addHook('onRequest', async (req, reply) => {
    const route = (req.routeOptions.config ?? {}) as RouteAuthConfig;
    if (route.open) return;
    const authenticators = opts.authenticators();
    try {
      const principal = await authenticate(authenticators, req);
      const access = route.write ? 'write' : 'read';
      if (!allows(principal.role, access)) {
        throw new ForbiddenError(
          access === 'write'
            ? `the credential of ${principal.name} is read-only (role ${principal.role}): it cannot send data`
            : `the credential of ${principal.name} may only send data (role ${principal.role}): it cannot read`,
        );
      }
      const asked = headerValue(req.headers['x-scope-orgid']);
      if (asked === undefined) {
        // Set on the raw request, which both Fastify's headers and Connect's request headers read.
        req.raw.headers['x-scope-orgid'] = principal.tenants[0];
      } else if (!principal.tenants.includes(asked)) {
        throw new ForbiddenError(`the credential of ${principal.name} does not hold tenant ${JSON.stringify(asked.slice(0, 160))} named by X-Scope-OrgID`);
      }
      principals.set(req.raw, principal);
    } catch (err) {
      if (!(err instanceof HearthError)) throw err;
      return refuse(req, reply, err, authenticators);
    }
  });
}

async function authenticate(authenticators: readonly Authenticator[], req: FastifyRequest): Promise<Principal> {
  const header = req.headers.authorization?.trim();
  if (!header) throw new UnauthorizedError('authentication required: send credentials in the Authorization header');
  const scheme = header.split(' ', 1)[0].toLowerCase();
  const mine = authenticators.filter((a) => a.scheme.toLowerCase() === scheme);
  if (mine.length === 0) {
    throw new UnauthorizedError(`the Authorization scheme is not accepted here; use ${authenticators.map((a) => a.scheme).join(' or ')}`);
  }
  let last: unknown;
  for (const a of mine) {
    try {
      return await a.authenticate(req.headers);
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
      last = err;
    }
  }
  throw last;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s : undefined;
}

/** The refusal in the caller's protocol, so gRPC and Connect clients see UNAUTHENTICATED / PERMISSION_DENIED. */
function refuse(req: FastifyRequest, reply: FastifyReply, err: HearthError, authenticators: readonly Authenticator[]): FastifyReply {
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
  const unauthenticated = err.status === 401;
  if (contentType.startsWith('application/grpc')) {
    // Trailers-only: the status travels in the headers of an empty 200 answer, as gRPC and gRPC-Web expect.
    return reply
      .code(200)
      .header('content-type', contentType.startsWith('application/grpc-web') ? 'application/grpc-web+proto' : 'application/grpc')
      .header('grpc-status', String(unauthenticated ? Code.Unauthenticated : Code.PermissionDenied))
      .header('grpc-message', encodeURIComponent(err.message))
      .send();
  }
  // One challenge per header line: browsers then offer their login dialog for a Basic one.
  if (unauthenticated) reply.header('WWW-Authenticate', authenticators.map((a) => a.challenge));
  const connect = req.headers['connect-protocol-version'] !== undefined || contentType.startsWith('application/connect+');
  // Connect clients read a string code; everything else here answers {code: status, message}.
  const code = connect ? (unauthenticated ? 'unauthenticated' : 'permission_denied') : err.status;
  return reply.code(err.status).type('application/json').send({ code, message: err.message });
}
