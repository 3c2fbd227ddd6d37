/**
 * `max_global_series_per_tenant`: how many series a tenant may have. The count starts from what
 * the store holds (through a SeriesIndex the store offers, so the core never imports storage)
 * and adds each new series this process admits. Without a store in the process (a collector in
 * front of NATS) only the series this process has seen are counted; the store processes behind
 * it count them all.
 */
import { createHash } from 'node:crypto';
import type { Labels } from '../model.ts';
import { LimitExceededError } from './errors.ts';

export interface StoredSeries {
  profileType: string;
  labels: Labels;
}

/** What a store offers the core for counting series. */
export interface SeriesIndex {
  /** Up to `max` distinct series of the tenant (profile type and labels, `__name__` left out). */
  seriesOf(tenant: string, max: number): Promise<StoredSeries[]>;
}

/** A series' identity, as the store tells series apart: profile type plus labels, `__name__` aside. */
export function seriesKey(profileType: string, labels: Labels): string {
  const h = createHash('sha256').update(profileType);
  for (const k of Object.keys(labels).sort()) {
    if (k === '__name__') continue;
    h.update('\0').update(k).update('\u0001').update(labels[k]);
  }
  return h.digest('base64');
}

interface TenantSeries {
  keys: Set<string>;
  loadedAt: number;
  /** How many series the store was asked for: a count that reached it may be short of the truth. */
  asked: number;
  /** How many it had then, at most `asked`. */
  stored: number;
}

/** The store's count is read again after this long: retention drops series, other processes add some. */
const RELOAD_MS = 5 * 60_000;

export class SeriesCardinality {
  private index: SeriesIndex | undefined;
  private readonly tenants = new Map<string, Promise<TenantSeries>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Called by a store once it is open. */
  useIndex(index: SeriesIndex): void {
    this.index = index;
    this.tenants.clear();
  }

  /** The series the tenant is known to have. */
  async known(tenant: string, limit: number): Promise<Set<string>> {
    let p = this.tenants.get(tenant);
    if (p) {
      const t = await p;
      // A raised limit needs the store counted further than it was.
      const capped = t.stored >= t.asked && limit + 1 > t.asked;
      if (this.now() - t.loadedAt < RELOAD_MS && !capped) return t.keys;
      if (this.tenants.get(tenant) === p) this.tenants.delete(tenant);
      p = undefined;
    }
    p = this.tenants.get(tenant);
    if (!p) {
      p = this.load(tenant, limit);
      this.tenants.set(tenant, p);
      p.catch(() => this.tenants.delete(tenant));
    }
    return (await p).keys;
  }

  private async load(tenant: string, limit: number): Promise<TenantSeries> {
    const keys = new Set<string>();
    // One more than the limit is enough to know the tenant is at it; counting further costs memory.
    if (this.index) for (const s of await this.index.seriesOf(tenant, limit + 1)) keys.add(seriesKey(s.profileType, s.labels));
    return { keys, loadedAt: this.now(), asked: limit + 1, stored: keys.size };
  }

  /**
   * Checks the series of one batch, all or none: refused with a 422 as soon as the new ones would
   * take the tenant over the limit, so that 100,000 new series cost no more than `limit` hashes.
   * Returns what counts them, to call once the batch passed every other limit.
   */
  admit(tenant: string, known: Set<string>, candidates: Iterable<string>, limit: number): () => void {
    const fresh = new Set<string>();
    for (const key of candidates) {
      if (known.has(key) || fresh.has(key)) continue;
      fresh.add(key);
      if (known.size + fresh.size > limit) {
        throw new LimitExceededError(
          422,
          'max_global_series_per_tenant',
          `tenant ${JSON.stringify(tenant)} has ${known.size} series and this profile adds more than ${limit - known.size}; the limit is ${limit} (sample labels make series too)`,
        );
      }
    }
    return () => {
      for (const key of fresh) known.add(key);
    };
  }
}
