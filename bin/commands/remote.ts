/**
 * How the CLI talks to a Hearth server: the shared flags (`--url`, `--tenant`, `--token`, `--user`,
 * `--password`), and
 * requests that retry what a server asks to be retried (429 and 503, after `Retry-After`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Remote {
  url: string;
  tenant?: string;
  token?: string;
  /** Basic auth; with Grafana Cloud's convention the user name is the tenant. */
  user?: string;
  password?: string;
}

/** A mistake in how the command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** The server refused or failed a request: printed as is, exit code 1. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const REMOTE_OPTIONS = {
  url: { type: 'string' },
  tenant: { type: 'string' },
  token: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** parseArgs with the shared flags added; unknown flags are usage errors. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...REMOTE_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Flags first, then HEARTH_URL / HEARTH_TENANT / HEARTH_TOKEN / HEARTH_USER / HEARTH_PASSWORD, then the local default. */
export function remoteOf(values: { url?: unknown; tenant?: unknown; token?: unknown; user?: unknown; password?: unknown }, env = process.env): Remote {
  const url = String(values.url ?? env.HEARTH_URL ?? 'http://localhost:4040').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const tenant = (values.tenant ?? env.HEARTH_TENANT) as string | undefined;
  // A credential given as a flag replaces one of the other kind from the environment.
  const token = (values.token ?? (values.user === undefined ? env.HEARTH_TOKEN : undefined)) as string | undefined;
  const user = (values.user ?? (values.token === undefined ? env.HEARTH_USER : undefined)) as string | undefined;
  const password = (values.password ?? env.HEARTH_PASSWORD) as string | undefined;
  if (user?.includes(':')) throw new UsageError('--user cannot contain ":" (basic auth separates user and password with it)');
  if (values.password !== undefined && !user) throw new UsageError('--password needs --user');
  if (user && token) throw new UsageError('give either --token or --user/--password, not both');
  return { url, tenant: tenant || undefined, token: token || undefined, user: user || undefined, password: user ? (password ?? '') : undefined };
}

export interface CallOptions {
  method?: string;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
  /** How long to keep retrying 429 and 503 answers, in all. */
  retryForMs?: number;
  /** Told about each wait, so a progress display can say why it pauses. */
  onRetry?: (reason: string, waitMs: number) => void;
}

const MAX_WAIT_MS = 30_000;
/** A server that keeps answering 429 or 503 for this long is reported as refusing. */
const DEFAULT_RETRY_FOR_MS = 120_000;
/** Attempts when the connection itself fails. */
const CONNECT_ATTEMPTS = 4;

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, nowMs = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** One request with retries; the final response is returned whatever its status. */
export async function call(remote: Remote, path: string, opts: CallOptions = {}): Promise<Response> {
  const retryFor = opts.retryForMs ?? DEFAULT_RETRY_FOR_MS;
  let waited = 0;
  const headers: Record<string, string> = { ...opts.headers };
  if (remote.tenant) headers['X-Scope-OrgID'] = remote.tenant;
  if (remote.token) headers.Authorization = `Bearer ${remote.token}`;
  if (remote.user) headers.Authorization = `Basic ${Buffer.from(`${remote.user}:${remote.password ?? ''}`, 'utf8').toString('base64')}`;
  for (let attempt = 1; ; attempt++) {
    const backoff = Math.min(MAX_WAIT_MS, 250 * 2 ** (attempt - 1));
    let res: Response;
    try {
      res = await fetch(`${remote.url}${path}`, { method: opts.method ?? 'GET', headers, body: opts.body as BodyInit | undefined });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      // A server that is restarting refuses or drops connections for a moment; anything else
      // (a bad URL, a name that does not resolve) will not get better by waiting.
      const transient = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(cause?.code ?? '');
      if (!transient || attempt >= CONNECT_ATTEMPTS) throw new RequestError(0, `cannot reach ${remote.url}: ${reason}`);
      opts.onRetry?.(reason, backoff);
      await sleep(backoff);
      continue;
    }
    const wait = Math.min(MAX_WAIT_MS, retryAfterMs(res.headers.get('retry-after')) ?? backoff);
    if ((res.status === 429 || res.status === 503) && waited + wait <= retryFor) {
      waited += wait;
      await res.arrayBuffer().catch(() => undefined);
      opts.onRetry?.(`${res.status}`, wait);
      await sleep(wait);
      continue;
    }
    return res;
  }
}

/** The server's own words for a refusal: the `message` of a JSON error, else the body text. */
export async function reasonOf(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof j.message === 'string') return j.message;
    if (typeof j.error === 'string') return j.error;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 500) || res.statusText || `HTTP ${res.status}`;
}

/** A request that must succeed: its body as JSON. */
export async function callJson<T>(remote: Remote, path: string, opts: CallOptions = {}): Promise<T> {
  const res = await call(remote, path, opts);
  if (!res.ok) throw new RequestError(res.status, `${res.status} from ${path.split('?')[0]}: ${await reasonOf(res)}`);
  return (await res.json()) as T;
}

/** A Connect unary call in JSON (querier.v1 and friends). */
export function connectCall<T>(remote: Remote, method: string, message: unknown): Promise<T> {
  return callJson<T>(remote, `/${method}`, {
    method: 'POST',
    body: JSON.stringify(message),
    headers: { 'Content-Type': 'application/json' },
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
