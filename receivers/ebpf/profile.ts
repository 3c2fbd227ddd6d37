/**
 * One process's sampled stacks of one collection → one `process_cpu` profile.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Batch, Labels, Profile, Sample } from '../../core/model.ts';
import type { StackCount } from './bpftrace-output.ts';
import type { FrameNamer } from './symbols.ts';

export const PROFILE_NAME = 'process_cpu';
const CPU_NANOS = { type: 'cpu', unit: 'nanoseconds' };

export interface Window {
  startNanos: bigint;
  endNanos: bigint;
}

/** Nanoseconds of CPU one sample stands for at `sampleRate` Hz. */
export function samplingPeriod(sampleRate: number): number {
  return Math.round(1e9 / sampleRate);
}

/**
 * Builds the profile of one process. Stacks are leaf first: kernel frames (when kept) sit
 * above the user frames that entered the kernel. A sample with no frame at all (bpftrace
 * could not walk either stack) is kept as an empty stack, so the process's total stays right.
 */
export function buildProfile(stacks: readonly StackCount[], namer: FrameNamer, period: number, window: Window, withKernel: boolean): Profile {
  const names: string[] = [''];
  const nameIdx = new Map<string, number>();
  const stackIdx = new Map<string, number>();
  const uniqueStacks: Uint32Array[] = [];
  const values = new Map<number, number>();
  const intern = (name: string): number => {
    let i = nameIdx.get(name);
    if (i === undefined) {
      i = names.length;
      names.push(name);
      nameIdx.set(name, i);
    }
    return i;
  };
  for (const s of stacks) {
    const frames: number[] = [];
    if (withKernel) for (const f of s.kernel) frames.push(intern(namer.kernel(f)));
    for (const f of s.user) frames.push(intern(namer.user(f)));
    const key = frames.join(',');
    let idx = stackIdx.get(key);
    if (idx === undefined) {
      idx = uniqueStacks.length;
      uniqueStacks.push(Uint32Array.from(frames));
      stackIdx.set(key, idx);
    }
    values.set(idx, (values.get(idx) ?? 0) + s.count * period);
  }
  const samples: Sample[] = [...values].map(([stack, value]) => ({ stack, values: [value], labelSet: 0 }));
  return {
    sampleTypes: [CPU_NANOS],
    periodType: CPU_NANOS,
    period,
    timeNanos: window.startNanos,
    durationNanos: window.endNanos - window.startNanos,
    names,
    stacks: uniqueStacks,
    samples,
    sampleLabelSets: [{}],
  };
}

/** A collection is delivered once: the key names the node, the process and the window. */
export function ebpfBatch(tenant: string, labels: Labels, profile: Profile, pid: number): Batch {
  const key = createHash('sha256')
    .update(JSON.stringify(['ebpf', hostname(), tenant, Object.entries(labels).sort(), pid, String(profile.timeNanos), String(profile.durationNanos)]))
    .digest('hex');
  return { tenant, labels, profile, idempotencyKey: key };
}
