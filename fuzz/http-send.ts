/**
 * Sends one request body the way a well-behaved client does: a 429 or 503 is load shedding, so
 * the same body is sent again after the server's Retry-After, a few times. Every attempt is timed
 * on its own: the wait a client is told to take is not the server being slow.
 */
export interface Sent {
  /** The last answer's status; 0 when there was no answer (connection refused or reset, timeout). */
  status: number;
  /** The last answer's body, or the error when there was no answer. */
  text: string;
  /** The slowest attempt, in ms. */
  slowestMs: number;
  /** 429/503 answers that were followed by another attempt. */
  retried: number;
  /** No answer within ANSWER_TIMEOUT_MS: slow, not a dropped connection. */
  timedOut: boolean;
}

export const RETRY_ATTEMPTS = 6;
/** A Retry-After longer than this is cut to it: a fuzz run stops on its own. */
const MAX_RETRY_WAIT_MS = 10_000;
const DEFAULT_RETRY_WAIT_MS = 1_000;
const ANSWER_TIMEOUT_MS = 30_000;

export function isRetryable(status: number): boolean {
  return status === 429 || status === 503;
}

function retryWaitMs(header: string | null): number {
  if (!header) return DEFAULT_RETRY_WAIT_MS;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Math.min(MAX_RETRY_WAIT_MS, Math.max(0, Number.isFinite(ms) ? ms : DEFAULT_RETRY_WAIT_MS));
}

export async function send(url: string, headers: Record<string, string>, body: Uint8Array): Promise<Sent> {
  const out: Sent = { status: 0, text: '', slowestMs: 0, retried: 0, timedOut: false };
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    let retryAfter: string | null = null;
    try {
      const res = await fetch(url, { method: 'POST', headers, body: new Blob([body as Uint8Array<ArrayBuffer>]), signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
      out.status = res.status;
      retryAfter = res.headers.get('retry-after');
      out.text = await res.text();
    } catch (err) {
      out.status = 0;
      out.text = (err as Error).message;
      out.timedOut = (err as Error).name === 'TimeoutError';
    }
    out.slowestMs = Math.max(out.slowestMs, performance.now() - started);
    if (!isRetryable(out.status) || attempt === RETRY_ATTEMPTS) return out;
    out.retried++;
    await new Promise((r) => setTimeout(r, retryWaitMs(retryAfter)));
  }
}
