/**
 * Pyroscope's `from`/`until` time syntax ("attime"), shared by ingest and query routes.
 */
import { BadRequestError } from './errors.ts';

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

const UNIT_SECONDS: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400,
  w: 604800, week: 604800, weeks: 604800,
  M: 2592000, mon: 2592000, month: 2592000, months: 2592000,
  y: 31536000, year: 31536000, years: 31536000,
};

/**
 * Parses Pyroscope's "attime" syntax into Unix nanoseconds: a Unix timestamp whose digit count
 * gives its unit (10 s, 13 ms, 16 µs, 19 ns), `YYYYMMDD` (UTC midnight), `now`, or an offset from
 * now such as `now-1h`, `now-1h30m` or `-15m`.
 */
export function parseAtTime(input: string, nowNs: bigint, what = 'time'): bigint {
  const s = input.trim().replace(/[_, ]/g, '');
  const bad = (why: string) => new BadRequestError(`${what}: cannot parse ${JSON.stringify(input.slice(0, 64))}: ${why}`);
  if (/^\d+$/.test(s)) {
    if (s.length === 8) {
      const y = Number(s.slice(0, 4));
      const mo = Number(s.slice(4, 6));
      const d = Number(s.slice(6, 8));
      const ms = Date.UTC(y, mo - 1, d);
      const back = new Date(ms);
      if (y > 1900 && back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d) {
        return BigInt(ms) * NS_PER_MS;
      }
    }
    if (s.length > 19) throw bad('too many digits for a Unix timestamp');
    const v = BigInt(s);
    if (s.length <= 12) return v * NS_PER_S;
    if (s.length <= 15) return v * NS_PER_MS;
    if (s.length <= 18) return v * 1000n;
    return v;
  }
  const m = /^(now)?(?:([+-])(.+))?$/i.exec(s);
  if (!m || (m[1] === undefined && m[2] === undefined)) throw bad('expected a Unix timestamp, YYYYMMDD, now or now-<offset>');
  if (m[2] === undefined) return nowNs;
  const sign = m[2] === '-' ? -1n : 1n;
  let rest = m[3];
  let offsetSeconds = 0n;
  while (rest.length > 0) {
    const part = /^(\d+)([A-Za-z]+)/.exec(rest);
    if (!part) throw bad('an offset is a number followed by a unit, e.g. 1h or 30m');
    const unit = Object.hasOwn(UNIT_SECONDS, part[2]) ? UNIT_SECONDS[part[2]] : UNIT_SECONDS[part[2].toLowerCase()];
    if (unit === undefined) throw bad(`unknown unit ${JSON.stringify(part[2])}`);
    offsetSeconds += BigInt(part[1]) * BigInt(unit);
    rest = rest.slice(part[0].length);
  }
  return nowNs + sign * offsetSeconds * NS_PER_S;
}

/** The same, in Unix milliseconds; an empty value means now. */
export function parseAttime(text: string | undefined, nowMs: number, param = 'time'): number {
  const t = (text ?? '').trim();
  if (t === '') return nowMs;
  return Number(parseAtTime(t, BigInt(nowMs) * NS_PER_MS, param) / NS_PER_MS);
}
