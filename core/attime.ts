/**
 * Pyroscope's `from`/`until` time syntax: `now`, `now-1h` (one offset), Unix time in s, ms,
 * µs or ns (told apart by magnitude), or `YYYYMMDD`. Returns Unix milliseconds.
 */
import { BadRequestError } from './errors.ts';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  mon: 2_592_000_000,
  y: 31_536_000_000,
};

export function parseAttime(text: string | undefined, nowMs: number, param = 'time'): number {
  const t = (text ?? '').trim();
  if (t === '' || t === 'now') return nowMs;
  const rel = /^now\s*([+-])\s*(\d+)\s*(s|min|m|h|d|w|mon|y)$/.exec(t);
  if (rel) {
    const delta = Number(rel[2]) * UNIT_MS[rel[3]];
    return rel[1] === '-' ? nowMs - delta : nowMs + delta;
  }
  if (/^\d{8}$/.test(t)) {
    const ms = Date.UTC(Number(t.slice(0, 4)), Number(t.slice(4, 6)) - 1, Number(t.slice(6, 8)));
    if (Number.isFinite(ms)) return ms;
  }
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    const abs = Math.abs(n);
    if (abs < 1e11) return Math.round(n * 1000);
    if (abs < 1e14) return Math.round(n);
    if (abs < 1e17) return Math.round(n / 1000);
    return Math.round(n / 1e6);
  }
  throw new BadRequestError(`invalid ${param} ${JSON.stringify(t.slice(0, 64))}: expected now, now-<n><unit>, a Unix timestamp or YYYYMMDD`);
}
