/**
 * Per-tenant ingestion rate: a token bucket of bytes per tenant, refilled at
 * `ingestion_rate_mb` per second up to `ingestion_burst_size_mb`, as Pyroscope's distributor
 * limits each tenant.
 */
import { LimitExceededError } from './errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

export class IngestionRate {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes `bytes` from the tenant's bucket, or refuses with a 429 saying when to retry. */
  take(tenant: string, bytes: number, ratePerSecond: number, burst: number): void {
    if (!(ratePerSecond > 0)) return;
    const now = this.now();
    let b = this.buckets.get(tenant);
    if (!b) this.buckets.set(tenant, (b = { tokens: burst, at: now }));
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond);
    b.at = now;
    if (bytes > burst) {
      // Never accepted at this limit, so not a 429: a client would retry it forever.
      throw new LimitExceededError(413, 'ingestion_burst_size_mb', `a profile of ${bytes} bytes is larger than the burst of ${burst} bytes; it can never be accepted at this limit`);
    }
    if (b.tokens < bytes) {
      const wait = Math.max(1, Math.ceil((bytes - b.tokens) / ratePerSecond));
      throw new LimitExceededError(429, 'ingestion_rate_mb', `tenant ${JSON.stringify(tenant)} is over ${(ratePerSecond / 1048576).toFixed(2)} MB/s; retry in ${wait} s`, wait);
    }
    b.tokens -= bytes;
  }
}
