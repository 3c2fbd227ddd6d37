/**
 * What the memory limiter measures and how it frees memory: the memory in use (the JavaScript
 * heap's live objects plus the buffers outside it, as the Collector counts Go's heap in use),
 * the resident set (what the OOM killer and a container limit count), the memory the process
 * may use at most (a cgroup limit when there is one, else the machine's), and a forced GC.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function residentBytes(): number {
  return process.memoryUsage.rss();
}

/**
 * Live heap objects and buffers. Unlike the resident set, this drops as soon as garbage is
 * collected: freed pages often stay resident, and a limiter that waited for the resident set
 * to shrink could refuse for ever.
 */
export function inUseBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** The memory available to the process: its cgroup's limit (v2, then v1), else all of the machine's. */
export function availableBytes(): number {
  const machine = totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const text = readFileSync(file, 'utf8').trim();
      const n = Number(text);
      // "max", or v1's huge "unlimited" number: no limit below the machine's.
      if (Number.isFinite(n) && n > 0 && n < machine) return n;
    } catch {
      // Not in a cgroup with a memory controller.
    }
  }
  return machine;
}

let gcFn: (() => void) | undefined | null;

/**
 * A full garbage collection, without starting node with --expose-gc: the flag is set at run
 * time, and a fresh context then holds `gc`. Undefined when the runtime refuses.
 */
export function forcedGc(): (() => void) | undefined {
  if (gcFn !== undefined) return gcFn ?? undefined;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    gcFn = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    gcFn = null;
  }
  return gcFn ?? undefined;
}
