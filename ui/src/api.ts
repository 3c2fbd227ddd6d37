/**
 * Calls to Hearth's public APIs. Every request carries the tenant chosen in the page as
 * X-Scope-OrgID, the same header every API route reads.
 */

const TENANT_KEY = 'hearth.tenant';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The tenant: `?tenant=` in the URL wins (so a pasted link shows the same data), else the saved setting. */
export function tenant(): string {
  const fromUrl = new URLSearchParams(location.search).get('tenant');
  if (fromUrl !== null) return fromUrl;
  try {
    return localStorage.getItem(TENANT_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveTenant(t: string): void {
  try {
    if (t) localStorage.setItem(TENANT_KEY, t);
    else localStorage.removeItem(TENANT_KEY);
  } catch {
    // Private windows may refuse storage; the setting then lasts as long as the page.
  }
}

const TOKEN_KEY = 'hearth.token';

/** A bearer token for a Hearth that requires one; kept for the browser session only. */
export function token(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(t: string): void {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // As for the tenant: without storage the token lasts as long as the page.
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const out = { ...extra };
  const t = tenant().trim();
  if (t) out['X-Scope-OrgID'] = t;
  const bearer = token().trim();
  if (bearer) out.Authorization = `Bearer ${bearer}`;
  return out;
}

/** The message of an error answer: Hearth's `{code, message}` JSON, or the body as text. */
async function errorOf(r: Response): Promise<ApiError> {
  const text = await r.text();
  let message = text || r.statusText;
  try {
    const body = JSON.parse(text) as { message?: string; error?: string };
    message = body.message ?? body.error ?? message;
  } catch {
    // Not JSON: the text itself.
  }
  return new ApiError(r.status, message);
}

/** How long a busy Hearth (429, 503) is waited for before its refusal is shown. */
const RETRY_FOR_MS = 60_000;

function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Sends a request; a 429 or 503 is retried after its Retry-After, as any client should. */
async function send(path: string, init: RequestInit): Promise<Response> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (let attempt = 0; ; attempt++) {
    let r: Response;
    try {
      r = await fetch(path, init);
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new ApiError(0, `Hearth did not answer: ${(err as Error).message}`);
    }
    if (r.ok) return r;
    if ((r.status === 429 || r.status === 503) && Date.now() < deadline && !init.signal?.aborted) {
      const after = Number(r.headers.get('Retry-After'));
      await r.body?.cancel();
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 10) * 1000 : Math.min(500 * 2 ** attempt, 5000), init.signal);
      continue;
    }
    throw await errorOf(r);
  }
}

export type Params = Record<string, string | number | undefined>;

export function withParams(path: string, params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function getJson<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const r = await send(withParams(path, params), { headers: headers(), signal });
  return (await r.json()) as T;
}

/** A querier.v1 call over Connect with JSON messages. */
export async function querier<T>(method: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const r = await send(`/querier.v1.QuerierService/${method}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(body),
    signal,
  });
  return (await r.json()) as T;
}

/** Fetches a file with the tenant header (a plain link cannot send one) and saves it. */
export async function download(path: string, params: Params, fallbackName: string): Promise<void> {
  const r = await send(withParams(path, params), { headers: headers() });
  const disposition = r.headers.get('Content-Disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The flamebearer JSON of /pyroscope/render, /pyroscope/render-diff and the trace and profile routes. */
export interface RenderAnswer {
  flamebearer: { names: string[]; levels: number[][]; numTicks: number; maxSelf: number };
  metadata: { format: 'single' | 'double'; units: string; name: string };
  leftTicks?: number;
  rightTicks?: number;
  timeline: Timeline | null;
  groups: Record<string, Timeline> | null;
}

export interface Timeline {
  startTime: number;
  samples: number[];
  durationDelta: number;
}
