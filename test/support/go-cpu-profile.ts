/**
 * A Go-like CPU profile built with the project's pprof encoder: sample types samples/count and
 * cpu/nanoseconds, period 10 ms, function names as the Go runtime writes them. The stacks and
 * counts are fixed, so tests can compute expected answers from `GO_CPU_STACKS` on their own.
 */
import { gzipSync } from 'node:zlib';
import { encodePprof } from '../../formats/pprof/index.ts';
import type { Profile } from '../../core/model.ts';

export const PERIOD_NS = 10_000_000;

/** Root first; the count is the number of 10 ms samples. */
export const GO_CPU_STACKS: Array<{ stack: string[]; count: number }> = [
  { stack: ['runtime.main', 'main.main', 'main.serve', 'main.handleCheckout', 'encoding/json.Marshal', 'runtime.mallocgc'], count: 37 },
  { stack: ['runtime.main', 'main.main', 'main.serve', 'main.handleCheckout', 'encoding/json.Marshal'], count: 21 },
  { stack: ['runtime.main', 'main.main', 'main.serve', 'main.handleCheckout', 'crypto/sha256.block'], count: 55 },
  { stack: ['runtime.main', 'main.main', 'main.serve', 'main.handleCart', 'runtime.mapaccess2_faststr'], count: 12 },
  { stack: ['runtime.main', 'main.main', 'main.serve', 'main.handleCart', 'main.handleCart', 'runtime.mallocgc'], count: 9 },
  { stack: ['runtime.goexit', 'runtime.gcBgMarkWorker', 'runtime.gcDrain', 'runtime.scanobject'], count: 16 },
];

/** The profile, uncompressed; `scale` multiplies every count (for diffs). */
export function goCpuProfile(timeMs = Date.now(), scale: (name: string[]) => number = () => 1): Uint8Array {
  const names = [''];
  const index = new Map<string, number>();
  const id = (n: string) => {
    let i = index.get(n);
    if (i === undefined) {
      i = names.push(n) - 1;
      index.set(n, i);
    }
    return i;
  };
  const stacks = GO_CPU_STACKS.map((s) => Uint32Array.from([...s.stack].reverse().map(id)));
  const profile: Profile = {
    sampleTypes: [
      { type: 'samples', unit: 'count' },
      { type: 'cpu', unit: 'nanoseconds' },
    ],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: PERIOD_NS,
    timeNanos: BigInt(timeMs) * 1_000_000n,
    durationNanos: 10_000_000_000n,
    names,
    stacks,
    samples: GO_CPU_STACKS.map((s, i) => {
      const n = s.count * scale(s.stack);
      return { stack: i, values: [n, n * PERIOD_NS], labelSet: 0 };
    }),
    sampleLabelSets: [{}],
  };
  return encodePprof(profile);
}

export function goCpuProfileGz(timeMs = Date.now(), scale?: (name: string[]) => number): Buffer {
  return gzipSync(goCpuProfile(timeMs, scale));
}

/** Expected per-function flat and cum in nanoseconds, counted as `go tool pprof -top` does. */
export function expectedGoCpuTotals(scale: (name: string[]) => number = () => 1): Map<string, { flat: number; cum: number }> {
  const out = new Map<string, { flat: number; cum: number }>();
  for (const s of GO_CPU_STACKS) {
    const v = s.count * scale(s.stack) * PERIOD_NS;
    const leaf = s.stack[s.stack.length - 1];
    for (const name of new Set(s.stack)) {
      const e = out.get(name) ?? { flat: 0, cum: 0 };
      e.cum += v;
      if (name === leaf) e.flat += v;
      out.set(name, e);
    }
  }
  return out;
}
