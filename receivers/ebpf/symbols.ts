/**
 * Frame names for the stacks bpftrace printed.
 *
 * bpftrace runs with user symbols off and reports bare addresses: its own symbolizer either
 * reloads a process's symbol tables for every stack printed (seconds per collection on a busy
 * node) or caches them per executable, which misnames every other process of the same
 * position-independent executable and aborts bpftrace when a sampled process has exited. So
 * user frames are named here, per process:
 *  1. through `/proc/PID/maps` to the mapped file and its offset, then that file's ELF symbol
 *     table, read once per file and shared by every process that maps it;
 *  2. through the process's perf map (`/tmp/perf-PID.map`, written by JITs such as Node with
 *     --perf-basic-prof or the JVM's perf-map-agent) for code outside any file;
 *  3. otherwise the frame keeps its module's name and its offset in that file,
 *     `libfoo.so+0x1a2b`, which stays the same across restarts and can be fed to addr2line;
 *  4. or, outside any module, the bare address `0x7f3a…`, so that time is never lost.
 * Kernel frames come named by bpftrace (from kallsyms) and are prefixed `[k] `, so a flame
 * graph tells kernel time apart from user code with the same name.
 */
import { readFileSync, statSync } from 'node:fs';
import type { RawFrame } from './bpftrace-output.ts';
import { NO_SYMBOLS, readElfSymbols, type ElfSymbols } from './elf-symbols.ts';

export const KERNEL_PREFIX = '[k] ';
/** ELF files whose symbols are kept; the least recently used beyond this are dropped. */
const MAX_CACHED_FILES = 512;

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

/**
 * Symbol state kept across collections: ELF symbols per file, and each process's mappings, so
 * that a process that exited just before a collection still has its last samples named.
 */
export class Symbolizer {
  private readonly files = new Map<string, ElfSymbols>();
  private readonly maps = new Map<number, { mappings: Mapping[]; round: number }>();
  private round = 0;

  constructor(private readonly fs: ProcFs = realProcFs) {}

  namer(pid: number): FrameNamer {
    return new FrameNamer(pid, this, this.fs);
  }

  mappings(pid: number): Mapping[] {
    const text = this.fs.read(`/proc/${pid}/maps`);
    if (text !== undefined) {
      const entry = { mappings: parseMaps(text), round: this.round };
      this.maps.set(pid, entry);
      return entry.mappings;
    }
    const kept = this.maps.get(pid);
    if (kept) kept.round = this.round;
    return kept?.mappings ?? [];
  }

  /**
   * Symbols of a file as process `pid` sees it (its mount namespace), keyed by the file's
   * identity so every process mapping it shares one copy. A process that has exited no longer
   * shows its root; the file is then looked up on the host.
   */
  symbols(pid: number, path: string): ElfSymbols {
    let file = `/proc/${pid}/root${path}`;
    let key = fileIdentity(file);
    if (key === undefined) {
      file = path;
      key = fileIdentity(file);
      if (key === undefined) return NO_SYMBOLS;
    }
    let syms = this.files.get(key);
    if (syms) {
      this.files.delete(key);
    } else {
      syms = readElfSymbols(file);
      if (this.files.size >= MAX_CACHED_FILES) this.files.delete(this.files.keys().next().value!);
    }
    this.files.set(key, syms);
    return syms;
  }

  /** Ends a collection: forgets the mappings of processes not sampled in it. */
  endRound(): void {
    for (const [pid, e] of this.maps) if (e.round !== this.round) this.maps.delete(pid);
    this.round++;
  }
}

/** Names the frames of one process during one collection; tables are read on first need. */
export class FrameNamer {
  private mappingList: Mapping[] | undefined;
  private perfMap: PerfSymbol[] | undefined;
  /** Stacks share most of their frames: each address is named once per collection. */
  private readonly named = new Map<bigint, string>();
  private readonly fileSymbols = new Map<string, ElfSymbols>();

  constructor(
    private readonly pid: number,
    private readonly symbolizer: Symbolizer,
    private readonly fs: ProcFs,
  ) {}

  kernel(frame: RawFrame): string {
    return KERNEL_PREFIX + (frame.symbol || `0x${frame.address.toString(16)}`);
  }

  user(frame: RawFrame): string {
    if (frame.symbol) return frame.symbol;
    let name = this.named.get(frame.address);
    if (name === undefined) {
      name = this.resolve(frame);
      this.named.set(frame.address, name);
    }
    return name;
  }

  private resolve(frame: RawFrame): string {
    this.mappingList ??= this.symbolizer.mappings(this.pid);
    const mapping = lookup(this.mappingList, frame.address);
    if (mapping) {
      const offset = frame.address - mapping.start + mapping.offset;
      let syms = this.fileSymbols.get(mapping.path);
      if (!syms) this.fileSymbols.set(mapping.path, (syms = this.symbolizer.symbols(this.pid, mapping.path)));
      const name = syms.atFileOffset(Number(offset));
      if (name) return name;
      const jit = lookup(this.perfSymbols(), frame.address);
      if (jit) return jit.name;
      return `${baseName(mapping.path)}+0x${offset.toString(16)}`;
    }
    const jit = lookup(this.perfSymbols(), frame.address);
    if (jit) return jit.name;
    if (frame.module) return `${baseName(frame.module)}+0x${frame.address.toString(16)}`;
    return `0x${frame.address.toString(16)}`;
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

function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
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
