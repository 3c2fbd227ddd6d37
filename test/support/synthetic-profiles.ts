/**
 * Small synthetic CPU profiles with known content, pushed through /ingest as pprof the way a
 * client would (retrying 429/503 after Retry-After), so that tests can sum what they sent.
 */
import type { Batch, Profile, Sample } from '../../core/model.ts';
import { encodePprof } from '../../formats/pprof/encode.ts';

export const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const NAMES = ['', 'main', 'serve', 'handle', 'parse', 'encode', 'gc', 'read', 'write'];

/** What a test pushed: per folded stack (root first), and per span ID, the summed CPU values. */
export class Sent {
  readonly stacks = new Map<string, number>();
  readonly spans = new Map<string, number>();
  total = 0;
  add(p: Profile): void {
    for (const s of p.samples) {
      const v = s.values[0];
      const key = [...p.stacks[s.stack]].reverse().map((i) => p.names[i]).join(';');
      this.stacks.set(key, (this.stacks.get(key) ?? 0) + v);
      if (s.spanId) this.spans.set(s.spanId, (this.spans.get(s.spanId) ?? 0) + v);
      this.total += v;
    }
  }
}

/** A CPU profile (nanoseconds, 10 ms period, 10 s long) stamped at `timeMs`, of the given content. */
export function cpuProfile(timeMs: number, names: string[], stacks: Uint32Array[], samples: Sample[], sampleLabelSets: Profile['sampleLabelSets'] = [{}]): Profile {
  return {
    sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    timeNanos: BigInt(timeMs) * 1_000_000n,
    durationNanos: 10_000_000_000n,
    names,
    stacks,
    samples,
    sampleLabelSets,
  };
}

/** A profile of `samples` samples, deterministic in `seed`, stamped at `timeMs`. */
export function syntheticProfile(seed: number, timeMs: number, samples = 8, withSpans = true): Profile {
  let x = seed * 2654435761 + 1;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const stacks: Uint32Array[] = [];
  const out: Sample[] = [];
  for (let i = 0; i < samples; i++) {
    const depth = 1 + rnd(5);
    const frames = Uint32Array.from({ length: depth }, () => 1 + rnd(NAMES.length - 1));
    stacks.push(frames);
    const s: Sample = { stack: i, values: [(1 + rnd(100)) * 10_000_000], labelSet: 0 };
    if (withSpans && rnd(2) === 0) s.spanId = `00000000000000${(1 + rnd(4)).toString(16).padStart(2, '0')}`;
    out.push(s);
  }
  return cpuProfile(timeMs, NAMES, stacks, out);
}

/**
 * A batch of one service's CPU profile for the store's own tests: one sample per stack (leaf
 * first, indices into `names`) with the value at the same place.
 */
export function cpuBatch(service: string, idempotencyKey: string, timeMs: number, names: string[], stacks: Uint32Array[], values: number[]): Batch {
  return {
    tenant: 'anonymous',
    labels: { __name__: 'process_cpu', service_name: service },
    idempotencyKey,
    profile: cpuProfile(
      timeMs,
      names,
      stacks,
      stacks.map((_, k) => ({ stack: k, values: [values[k]], labelSet: 0 })),
    ),
  };
}

export interface PushResult {
  status: number;
  /** Refusals (429/503) seen before the answer. */
  refused: number;
}

/** Pushes a profile to /ingest, retrying 429 and 503 after Retry-After until `deadlineMs`. */
export async function pushProfile(baseUrl: string, name: string, p: Profile, opts: { tenant?: string; deadlineMs?: number; retry?: boolean } = {}): Promise<PushResult> {
  const body = encodePprof(p);
  const from = Math.floor(Number(p.timeNanos / 1_000_000n) / 1000);
  const url = `${baseUrl}/ingest?name=${encodeURIComponent(name)}&format=pprof&from=${from}&until=${from + 10}`;
  const deadline = Date.now() + (opts.deadlineMs ?? 120_000);
  let refused = 0;
  for (;;) {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'X-Scope-OrgID': opts.tenant ?? 'anonymous', 'Content-Type': 'application/octet-stream' },
      body: new Blob([body as Uint8Array<ArrayBuffer>]),
    });
    await r.arrayBuffer();
    if ((r.status === 429 || r.status === 503) && opts.retry !== false && Date.now() < deadline) {
      refused++;
      const after = Number(r.headers.get('retry-after') ?? '1');
      await new Promise((res) => setTimeout(res, Math.min(5_000, Math.max(100, after * 1000 * (0.5 + Math.random())))));
      continue;
    }
    return { status: r.status, refused };
  }
}

/** GETs JSON from Hearth for a tenant, failing loudly on anything but 200. */
export async function getJson<T = any>(baseUrl: string, path: string, tenant = 'anonymous'): Promise<T> {
  const r = await fetch(baseUrl + path, { headers: { 'X-Scope-OrgID': tenant } });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}
