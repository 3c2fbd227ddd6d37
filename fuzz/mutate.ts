/**
 * Mutators: bit flips, byte edits, truncations, splices with another seed, varint and length-field
 * rewrites, repeated chunks and dictionary tokens. Deterministic in the Rng's seed, so a run
 * can be replayed.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    // xorshift32
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING_VARINTS = [0, 1, 0x7f, 0x80, 0xff, 0x3fff, 0x4000, 0x7fffffff, 0xffffffff, 2 ** 53, 2 ** 63, 2 ** 64 - 1];

function encodeVarint(v: number | bigint): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n && out.length < 10);
  return out;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

/** Finds the varint starting at or after `from` (a protobuf tag's value or a length), if any. */
function varintAt(bytes: Uint8Array, from: number): { at: number; len: number } | undefined {
  for (let i = from; i < bytes.length; i++) {
    let j = i;
    while (j < bytes.length && j - i < 10 && bytes[j] & 0x80) j++;
    if (j < bytes.length) return { at: i, len: j - i + 1 };
  }
  return undefined;
}

export type Mutator = (input: Uint8Array, rng: Rng, other: Uint8Array, dict: readonly Uint8Array[]) => Uint8Array;

export const MUTATORS: Record<string, Mutator> = {
  bitflip(b, rng) {
    if (b.length === 0) return b;
    const out = b.slice();
    const n = 1 + rng.int(4);
    for (let i = 0; i < n; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
    return out;
  },
  byte(b, rng) {
    if (b.length === 0) return Uint8Array.of(rng.int(256));
    const out = b.slice();
    out[rng.int(out.length)] = [0, 0xff, 0x7f, 0x80, rng.int(256)][rng.int(5)];
    return out;
  },
  truncate(b, rng) {
    return b.subarray(0, rng.int(b.length + 1));
  },
  cut(b, rng) {
    const at = rng.int(b.length + 1);
    return splice(b, at, rng.int(Math.min(64, b.length - at) + 1), []);
  },
  splice(b, rng, other) {
    const at = rng.int(b.length + 1);
    const from = rng.int(other.length + 1);
    const piece = other.subarray(from, from + rng.int(256));
    if (rng.int(2)) return splice(b, at, 0, piece);
    // The head of one input on the tail of another.
    const out = new Uint8Array(at + other.length - from);
    out.set(b.subarray(0, at), 0);
    out.set(other.subarray(from), at);
    return out;
  },
  varint(b, rng) {
    const v = varintAt(b, rng.int(b.length + 1));
    if (!v) return b;
    const value = INTERESTING_VARINTS[rng.int(INTERESTING_VARINTS.length)];
    return splice(b, v.at, v.len, encodeVarint(value));
  },
  length(b, rng) {
    // A protobuf length-delimited field (wire type 2) whose length is grown or shrunk.
    for (let tries = 0; tries < 16; tries++) {
      const i = rng.int(b.length);
      if ((b[i] & 7) !== 2 || i + 1 >= b.length) continue;
      const v = varintAt(b, i + 1);
      if (!v || v.at !== i + 1) continue;
      const delta = [-1, 1, -16, 16, 1000, 2 ** 31][rng.int(6)];
      let len = 0;
      for (let k = v.len - 1; k >= 0; k--) len = len * 128 + (b[v.at + k] & 0x7f);
      return splice(b, v.at, v.len, encodeVarint(Math.max(0, len + delta)));
    }
    return b;
  },
  repeat(b, rng) {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    const chunk = b.subarray(at, at + 1 + rng.int(32));
    const times = 1 + rng.int(64);
    const rep = new Uint8Array(chunk.length * times);
    for (let i = 0; i < times; i++) rep.set(chunk, i * chunk.length);
    return splice(b, at, 0, rep);
  },
  token(b, rng, _other, dict) {
    if (dict.length === 0) return b;
    const t = dict[rng.int(dict.length)];
    const at = rng.int(b.length + 1);
    return splice(b, at, rng.int(2) ? 0 : Math.min(t.length, b.length - at), t);
  },
};

const NAMES = Object.keys(MUTATORS);

/** One to three stacked mutations of a seed. */
export function mutate(seed: Uint8Array, rng: Rng, seeds: readonly Uint8Array[], dict: readonly Uint8Array[]): Uint8Array {
  let out = seed;
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const m = MUTATORS[NAMES[rng.int(NAMES.length)]];
    out = m(out, rng, seeds[rng.int(seeds.length)], dict);
    if (out.length > 8 * 1024 * 1024) out = out.subarray(0, 8 * 1024 * 1024);
  }
  return out;
}
