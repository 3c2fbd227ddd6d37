/**
 * What every push receiver does around its decoding: it refuses new requests once it is
 * shutting down (routes cannot be removed from a running Fastify server, so a stopped receiver
 * answers 503 and clients retry elsewhere), waits for the requests in flight at shutdown, and
 * hands a request's batches to the pipelines at once, reporting one error for all of them.
 */
import type { Logger } from 'pino';
import { HearthError, UnavailableError } from './errors.ts';

export class RequestGate {
  private closing = false;
  private inFlight = 0;
  private drained: (() => void)[] = [];

  constructor(private readonly name: string) {}

  /** Runs a request unless the gate is closed, and tracks it until it settles. */
  async admit<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) throw new UnavailableError(`${this.name} is shutting down`);
    this.inFlight++;
    try {
      return await fn();
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.drained.splice(0)) resolve();
    }
  }

  /** Refuses new requests and waits for those in flight. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.drained.push(resolve));
  }
}

export function isRetryable(err: HearthError): boolean {
  return err.status === 429 || err.status >= 500;
}

/**
 * Runs every send at once and resolves when all are durable. When some fail differently, a
 * retryable failure is reported over a permanent one: a retry resends the batches that did
 * succeed, and their idempotency keys keep them stored once.
 */
export async function deliverAll(sends: Array<() => Promise<void>>, logger: Logger): Promise<void> {
  const results = await Promise.allSettled(sends.map((send) => send()));
  let chosen: HearthError | undefined;
  for (const r of results) {
    if (r.status === 'fulfilled') continue;
    const err = r.reason;
    if (!(err instanceof HearthError)) {
      logger.error({ err }, 'a pipeline failed to take a batch');
      chosen = new UnavailableError('storage is unavailable, retry later');
      break;
    }
    if (!chosen || (isRetryable(err) && !isRetryable(chosen))) chosen = err;
  }
  if (chosen) throw chosen;
}
