/**
 * The authenticator contract, after the Collector's `auth` extensions: an extension that turns a
 * request's credentials into a principal (the tenants it may act for and what it may do), and the
 * `auth: { authenticator: ID }` setting with which the shared HTTP server or a receiver's own
 * listener names the extensions that guard it.
 *
 * Routes say what they need through their Fastify route config: a route that stores data is
 * declared `write`, a route anyone may reach (health checks) `open`; every other route reads.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Extension } from './component.ts';
import { HearthError } from './errors.ts';

/** `write`: may send data; `read`: may query; `admin`: both. */
export const ROLES = ['write', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who a request's credentials stand for. */
export interface Principal {
  /** The tenants the credential holds; the first is used when a request names none. */
  tenants: readonly string[];
  role: Role;
  /** Names the credential in logs (a user name, a token's label); never the secret itself. */
  name: string;
}

/** What a route needs of the credential. */
export type Access = 'read' | 'write';

export interface Authenticator extends Extension {
  /** The Authorization scheme it reads, e.g. `Basic` or `Bearer`; requests with another scheme are not its own. */
  readonly scheme: string;
  /** The WWW-Authenticate challenge sent with a 401, e.g. `Basic realm="hearth"`. */
  readonly challenge: string;
  /** The principal of the request's credentials; throws UnauthorizedError when they are missing or wrong. */
  authenticate(headers: IncomingHttpHeaders): Promise<Principal>;
}

export function isAuthenticator(c: unknown): c is Authenticator {
  const a = c as Partial<Authenticator> | null;
  return !!a && typeof a.authenticate === 'function' && typeof a.scheme === 'string' && typeof a.challenge === 'string';
}

export class UnauthorizedError extends HearthError {
  constructor(message: string) {
    super(401, message);
  }
}

export class ForbiddenError extends HearthError {
  constructor(message: string) {
    super(403, message);
  }
}

export function allows(role: Role, access: Access): boolean {
  return role === 'admin' || role === access;
}

/**
 * `auth: { authenticator: ID }`, or a list of IDs tried in order (e.g. basic auth for people and
 * bearer tokens for agents on one port). Config loading finds every block of this shape in any
 * component and checks that each ID is a running authenticator extension.
 */
export const authSettingsSchema = z.strictObject({
  authenticator: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
});
export type AuthSettings = z.infer<typeof authSettingsSchema>;

export function authenticatorIds(s: Pick<AuthSettings, 'authenticator'>): string[] {
  return typeof s.authenticator === 'string' ? [s.authenticator] : [...s.authenticator];
}

/** Route options of a route that stores data: a read-only credential is refused there. */
export const WRITE_ROUTE = { config: { write: true } } as const;
/** Route options of a route that needs no credentials (health and readiness checks). */
export const OPEN_ROUTE = { config: { open: true } } as const;

export interface RouteAuthConfig {
  write?: boolean;
  open?: boolean;
}

/**
 * Declares every route added in `scope` from now on as writing: for plugins that register their
 * routes themselves, such as Connect's. Only affects that encapsulated scope.
 */
export function markWriteRoutes(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object | undefined), write: true } as typeof route.config;
  });
}

/** The credentials after `scheme ` in the Authorization header, or undefined when it uses another scheme. */
export function credentialsOf(headers: IncomingHttpHeaders, scheme: string): string | undefined {
  const h = headers.authorization?.trim();
  if (!h) return undefined;
  const space = h.indexOf(' ');
  if (space < 0 || h.slice(0, space).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return h.slice(space + 1).trim();
}

/** SHA-256 of a secret: a fixed length, so comparisons with timingSafeEqual need no length check that could leak. */
export function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Where a config value holds `auth: { authenticator }` blocks: the path of each `authenticator` key and the IDs it names. */
export function findAuthReferences(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; ids: string[] }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => findAuthReferences(v, [...path, i]));
  if (value === null || typeof value !== 'object') return [];
  const out: { path: (string | number)[]; ids: string[] }[] = [];
  for (const [k, v] of Object.entries(value)) {
    const auth = v as Partial<AuthSettings> | null;
    if (k === 'auth' && auth && typeof auth === 'object' && auth.authenticator !== undefined) {
      out.push({ path: [...path, k, 'authenticator'], ids: authenticatorIds(auth as AuthSettings) });
    } else {
      out.push(...findAuthReferences(v, [...path, k]));
    }
  }
  return out;
}

/** `service.http.auth`: the authenticators of the shared port, and whether /metrics needs credentials too. */
export const serviceAuthSchema = authSettingsSchema.extend({ metrics_auth: z.boolean().default(false) });
