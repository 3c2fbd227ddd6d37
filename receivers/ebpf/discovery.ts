/**
 * Process discovery from /proc: the `__meta_*` labels that relabel_configs see for a PID.
 *
 * A process is read once and remembered by its PID and start time, so a process that exits
 * between two collections still gets the labels it had, and a recycled PID is read afresh.
 */
import { readlinkSync } from 'node:fs';
import type { Labels } from '../../core/model.ts';
import { realProcFs, type ProcFs } from './symbols.ts';

export interface ProcessInfo {
  pid: number;
  /** Absolute path of the executable; "" for kernel threads and processes we may not inspect. */
  exe: string;
  comm: string;
  /** The process's cgroup path; "" when unknown. */
  cgroup: string;
  containerId: string;
}

export function metaLabels(p: ProcessInfo): Labels {
  return {
    __meta_process_pid: String(p.pid),
    __meta_process_exe: p.exe,
    __meta_process_comm: p.comm,
    __meta_process_cgroup: p.cgroup,
    __meta_container_id: p.containerId,
  };
}

export interface ProcReader extends ProcFs {
  readlink(path: string): string | undefined;
}

export const realProcReader: ProcReader = {
  read: realProcFs.read,
  readlink(path) {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  },
};

interface Entry {
  startTime: string;
  info: ProcessInfo;
  /** Collection round in which the PID was last seen alive or sampled. */
  seen: number;
}

export class ProcessDiscovery {
  private readonly cache = new Map<number, Entry>();
  private round = 0;

  constructor(private readonly proc: ProcReader = realProcReader) {}

  /**
   * Labels of a sampled process. `comm` is what bpftrace saw, used when /proc no longer has
   * the process and it was never read while alive.
   */
  lookup(pid: number, comm: string): ProcessInfo {
    const startTime = this.startTime(pid);
    const cached = this.cache.get(pid);
    if (cached && (startTime === undefined || startTime === cached.startTime)) {
      cached.seen = this.round;
      return cached.info;
    }
    if (startTime === undefined) return { pid, exe: '', comm, cgroup: '', containerId: '' };
    const info = this.read(pid, comm);
    this.cache.set(pid, { startTime, info, seen: this.round });
    return info;
  }

  /** Ends a collection round: forgets processes that are gone and were not sampled in it. */
  endRound(): void {
    for (const [pid, e] of this.cache) {
      if (e.seen !== this.round && this.startTime(pid) !== e.startTime) this.cache.delete(pid);
    }
    this.round++;
  }

  private read(pid: number, fallbackComm: string): ProcessInfo {
    const exe = (this.proc.readlink(`/proc/${pid}/exe`) ?? '').replace(/ \(deleted\)$/, '');
    const comm = (this.proc.read(`/proc/${pid}/comm`) ?? fallbackComm).replace(/\n$/, '');
    const cgroup = cgroupPath(this.proc.read(`/proc/${pid}/cgroup`) ?? '');
    return { pid, exe, comm, cgroup, containerId: containerIdOf(cgroup) };
  }

  /** Field 22 of /proc/PID/stat, after the parenthesised comm (which may hold spaces and parens). */
  private startTime(pid: number): string | undefined {
    const stat = this.proc.read(`/proc/${pid}/stat`);
    if (!stat) return undefined;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  }
}

/**
 * The cgroup that says most about where a process runs: the unified (v2) path when it is not
 * the root, otherwise the longest v1 path.
 */
export function cgroupPath(text: string): string {
  let best = '';
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const path = m[3];
    if (m[1] === '0' && m[2] === '' && path !== '/') return path;
    if (path.length > best.length && path !== '/') best = path;
  }
  return best || (text.includes('0::/') ? '/' : '');
}

/**
 * Container runtimes name the cgroup after the 64-hex container ID: docker-<id>.scope,
 * /docker/<id>, cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope, /kubepods/…/<id>.
 */
export function containerIdOf(cgroup: string): string {
  const all = cgroup.match(/[0-9a-f]{64}/g);
  return all ? all[all.length - 1] : '';
}
