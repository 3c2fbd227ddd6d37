/**
 * Receive times remembered per request content, so that a client's retry is stored once.
 *
 * A profile without its own time (push.v1 `time_nanos` 0, or `/ingest` without `from`/`until`) is
 * stamped with the time it arrived. Stamping a retry again would give it a new time, and so a new
 * identity in storage: the same bytes would be stored twice. Within the window, the same content
 * gets the time its first copy got.
 */
export const RETRY_WINDOW_MS = 10 * 60 * 1000;
/** Bounds the memory: past this many distinct recent uploads, the oldest are forgotten first. */
export const MAX_REMEMBERED = 100_000;

export class RetryStamps {
  /** Insertion order is arrival order, so the oldest entries come first. */
  private readonly stamps = new Map<string, { nowNs: bigint; atMs: number }>();

  constructor(
    private readonly windowMs = RETRY_WINDOW_MS,
    private readonly max = MAX_REMEMBERED,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The receive time for content `key` arriving at `nowNs`: the first arrival's within the window. */
  stamp(key: string, nowNs: bigint): bigint {
    const atMs = this.clock();
    this.expire(atMs);
    const seen = this.stamps.get(key);
    if (seen) return seen.nowNs;
    this.stamps.set(key, { nowNs, atMs });
    if (this.stamps.size > this.max) this.stamps.delete(this.stamps.keys().next().value as string);
    return nowNs;
  }

  private expire(atMs: number): void {
    for (const [key, { atMs: first }] of this.stamps) {
      if (atMs - first < this.windowMs) break;
      this.stamps.delete(key);
    }
  }
}

const byReceiver = new WeakMap<object, RetryStamps>();

/** The stamps of one receiver (any object standing for it), made on first use. */
export function stampsOf(receiver: object): RetryStamps {
  let s = byReceiver.get(receiver);
  if (!s) byReceiver.set(receiver, (s = new RetryStamps()));
  return s;
}
