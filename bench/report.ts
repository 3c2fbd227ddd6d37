/**
 * The summary table of `npm run bench`: every benchmark hands in rows (a figure, what it
 * measured, its baseline from the same run, the target), and the runner prints them together
 * at the end with met / missed, so one run answers the whole list of targets.
 */
import { readFileSync } from 'node:fs';

export interface Row {
  figure: string;
  measured: string;
  /** The comparison measured in the same run ('' when a target is absolute). */
  baseline: string;
  target: string;
  /** undefined: reported only (no target, or the measurement could not be made). */
  met?: boolean;
}

export interface BenchResult {
  name: string;
  lines: string[];
  rows?: Row[];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.figure, r.measured, r.baseline, r.target, r.met === undefined ? '—' : r.met ? 'met' : 'MISSED']);
  const head = ['figure', 'measured', 'same-run baseline', 'target', 'verdict'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => pad(x, widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Resident set size of a process on Linux, in bytes (undefined when it has exited). */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resident memory split by kind, in bytes: `file` is pages mapped from files (program and
 * library code, shared with other processes and dropped by the kernel under pressure), `anon`
 * the process's own (heaps, stacks, caches).
 */
export function rssSplit(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS until stopped; returns the sample with the highest RSS. */
export function rssPeak(pid: number, everyMs = 200): { stop(): { rss: number; anon: number; file: number } } {
  let peak = rssSplit(pid) ?? { rss: 0, anon: 0, file: 0 };
  const sample = () => {
    const now = rssSplit(pid);
    if (now && now.rss > peak.rss) peak = now;
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`;
