/**
 * 64-bit content IDs for functions, stacks and series.
 *
 * IDs are content hashes so that every writer, in any process, derives the same ID for the
 * same function, stack or label set without coordination; that is what lets the stacks and
 * functions tables deduplicate by key. Two independent 32-bit lanes (murmur3-style mixing)
 * give 64 bits without BigInt arithmetic in the hot loop.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 64-bit hash as two unsigned 32-bit halves. */
export class Hasher {
  private a = 0x9747b28c | 0;
  private b = 0x5bd1e995 | 0;
  private n = 0;

  int(v: number): this {
    this.a = mixH(this.a, v | 0);
    this.b = mixH(this.b, (v ^ 0x7f4a7c15) | 0);
    this.n++;
    return this;
  }

  string(s: string): this {
    const len = s.length;
    let i = 0;
    for (; i + 1 < len; i += 2) this.int(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    if (i < len) this.int(s.charCodeAt(i) | 0x10000000);
    // The length terminates the string so that ("ab","c") and ("a","bc") differ.
    return this.int(len ^ 0x5f3759df);
  }

  /** Back to the state of a new Hasher, so that one instance serves many hashes. */
  reset(): this {
    this.a = 0x9747b28c | 0;
    this.b = 0x5bd1e995 | 0;
    this.n = 0;
    return this;
  }

  /** A copy in the same state: a shared prefix is hashed once and continued several ways. */
  clone(): Hasher {
    const h = new Hasher();
    h.a = this.a;
    h.b = this.b;
    h.n = this.n;
    return h;
  }

  /** Feeds an ID produced by another Hasher. */
  id(id: Id64): this {
    return this.int(id.hi).int(id.lo);
  }

  digest(): Id64 {
    const hi = fmix(this.a ^ this.n);
    const lo = fmix(this.b ^ Math.imul(this.n, 0x27d4eb2f) ^ hi);
    return { hi, lo };
  }
}

export interface Id64 {
  hi: number;
  lo: number;
}

/** Decimal text, as ClickHouse expects a UInt64 in TSV and in query parameters. */
export function idToDecimal(id: Id64): string {
  return ((BigInt(id.hi) << 32n) | BigInt(id.lo)).toString();
}

export function hashString(s: string): Id64 {
  return new Hasher().string(s).digest();
}

/**
 * A set of 64-bit IDs kept as (hi, lo) pairs in typed arrays: no string key or object per ID,
 * which is what a Set of ID strings costs on every lookup. Bounded: at `max` entries it starts
 * over, since forgetting an ID only costs writing it again.
 */
export class IdSet {
  private his: Uint32Array;
  private los: Uint32Array;
  private used: Uint8Array;
  private count = 0;

  constructor(private readonly max: number, initialSlots = 1024) {
    this.his = new Uint32Array(initialSlots);
    this.los = new Uint32Array(initialSlots);
    this.used = new Uint8Array(initialSlots);
  }

  get size(): number {
    return this.count;
  }

  has(id: Id64): boolean {
    return this.slot(id.hi, id.lo) >= 0;
  }

  /** Adds the ID; false when it was there already. */
  add(id: Id64): boolean {
    if (this.slot(id.hi, id.lo) >= 0) return false;
    if (this.count >= this.max) this.clear();
    // Kept at most half full, so that probes stay short.
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    this.put(id.hi >>> 0, id.lo >>> 0);
    this.count++;
    return true;
  }

  clear(): void {
    this.used.fill(0);
    this.count = 0;
  }

  /** The slot holding the ID, or -1. IDs are hashes already, so their low bits index directly. */
  private slot(hi: number, lo: number): number {
    hi >>>= 0;
    lo >>>= 0;
    const mask = this.used.length - 1;
    for (let i = (lo ^ hi) & mask; ; i = (i + 1) & mask) {
      if (!this.used[i]) return -1;
      if (this.los[i] === lo && this.his[i] === hi) return i;
    }
  }

  private put(hi: number, lo: number): void {
    const mask = this.used.length - 1;
    let i = (lo ^ hi) & mask;
    while (this.used[i]) i = (i + 1) & mask;
    this.used[i] = 1;
    this.his[i] = hi;
    this.los[i] = lo;
  }

  private grow(): void {
    const { his, los, used } = this;
    this.his = new Uint32Array(used.length * 2);
    this.los = new Uint32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    for (let i = 0; i < used.length; i++) if (used[i]) this.put(his[i], los[i]);
  }
}
