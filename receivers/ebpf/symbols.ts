/**
 * Frame names for the stacks bpftrace printed.
 *
 * bpftrace resolves native symbols itself (ELF symbol tables, and perf maps it has read), so
 * most frames arrive named. What it leaves unresolved is looked up here, per process:
 *  1. in the process's perf map (`/tmp/perf-PID.map`, written by JITs such as Node with
 *     --perf-basic-prof or the JVM's perf-map-agent): bpftrace reads it once, so code
 *     compiled later is only found by reading it again;
 *  2. in `/proc/PID/maps`: the frame keeps its module's name and its offset in that file,
 *     `libfoo.so+0x1a2b`, which stays the same across restarts and can be fed to addr2line;
 *  3. otherwise the bare address, `0x7f3a…`, so that the time is never silently lost.
 * Kernel frames are prefixed `[k] `, so that a flame graph tells kernel time apart from user
 * code with the same name, and stays readable where no mapping table is kept.
 */
import { readFileSync } from 'node:fs';
import type { RawFrame } from './bpftrace-output.ts';

export const KERNEL_PREFIX = '[k] ';

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
}

interface PerfSymbol {
  start: bigint;
  end: bigint;
  name: string;
}

/** Where a process's files are; tests point it elsewhere. */
export interface ProcFs {
  read(path: string): string | undefined;
}

export const realProcFs: ProcFs = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
};

/** Resolves the frames of one process during one collection; tables are read on first need. */
export class FrameNamer {
  private mappings: Mapping[] | undefined;
  private perfMap: PerfSymbol[] | undefined;

  constructor(
    private readonly pid: number,
    private readonly fs: ProcFs = realProcFs,
  ) {}

  kernel(frame: RawFrame): string {
    return KERNEL_PREFIX + (frame.symbol || `0x${frame.address.toString(16)}`);
  }

  user(frame: RawFrame): string {
    if (frame.symbol) return frame.symbol;
    const jit = lookup(this.perfSymbols(), frame.address);
    if (jit) return jit.name;
    const mapping = lookup(this.processMappings(), frame.address);
    if (mapping) return `${baseName(mapping.path)}+0x${(frame.address - mapping.start + mapping.offset).toString(16)}`;
    if (frame.module) return `${baseName(frame.module)}+0x${frame.address.toString(16)}`;
    return `0x${frame.address.toString(16)}`;
  }

  private processMappings(): Mapping[] {
    this.mappings ??= parseMaps(this.fs.read(`/proc/${this.pid}/maps`) ?? '');
    return this.mappings;
  }

  private perfSymbols(): PerfSymbol[] {
    if (this.perfMap) return this.perfMap;
    // A process in a container writes the map in its own /tmp under its own PID.
    const nsPid = namespacePid(this.fs.read(`/proc/${this.pid}/status`)) ?? this.pid;
    const text = this.fs.read(`/proc/${this.pid}/root/tmp/perf-${nsPid}.map`) ?? this.fs.read(`/tmp/perf-${this.pid}.map`) ?? '';
    this.perfMap = parsePerfMap(text);
    return this.perfMap;
  }
}

/** `/proc/PID/maps` lines backed by a file: `start-end perms offset dev inode path`. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+([0-9a-f]+)\s+\S+\s+\d+\s+(.*)$/.exec(line);
    if (!m) continue;
    const path = m[4].trim();
    // Anonymous memory, the stack, [vdso] and friends name no file an address could be looked up in.
    if (path === '' || path.startsWith('[')) continue;
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), offset: BigInt(`0x${m[3]}`), path: path.replace(/ \(deleted\)$/, '') });
  }
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** perf map lines: `START SIZE name` in hex, as the Linux perf tool defines them. */
export function parsePerfMap(text: string): PerfSymbol[] {
  const out: PerfSymbol[] = [];
  for (const line of text.split('\n')) {
    const m = /^(?:0x)?([0-9a-fA-F]+)\s+(?:0x)?([0-9a-fA-F]+)\s+(.+)$/.exec(line);
    if (!m) continue;
    const start = BigInt(`0x${m[1]}`);
    out.push({ start, end: start + BigInt(`0x${m[2]}`), name: m[3].trim() });
  }
  // JITs append as they compile and may reuse an address: the later entry describes the code
  // there now. The sort is stable, and lookup scans backwards, so the later one is found first.
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** The last range starting at or before `address` that contains it (a later entry wins ties). */
function lookup<T extends { start: bigint; end: bigint }>(ranges: T[], address: bigint): T | undefined {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid].start <= address) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo - 1; i >= 0 && i >= lo - 8; i--) {
    if (address < ranges[i].end) return ranges[i];
  }
  return undefined;
}

export function namespacePid(status: string | undefined): number | undefined {
  const m = status ? /^NSpid:\s*(.+)$/m.exec(status) : null;
  if (!m) return undefined;
  const ids = m[1].trim().split(/\s+/);
  const last = Number(ids[ids.length - 1]);
  return Number.isInteger(last) && last > 0 ? last : undefined;
}

export function baseName(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut >= 0 ? path.slice(cut + 1) : path;
}
