/**
 * The page's state lives in its URL, so that every view can be pasted into a ticket: views
 * change it with `navigate` and re-render from it.
 */
import type { Params } from './api.ts';

export const NAVIGATE = 'hearth:navigate';

export function param(name: string): string {
  return new URLSearchParams(location.search).get(name) ?? '';
}

/** Goes to `path` with `params` (the tenant, when the URL names one, is kept). */
export function navigate(path: string, params: Params, replace = false): void {
  const q = new URLSearchParams();
  const tenant = new URLSearchParams(location.search).get('tenant');
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  if (tenant !== null && !q.has('tenant')) q.set('tenant', tenant);
  const s = q.toString();
  const url = s ? `${path}?${s}` : path;
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** Changes some parameters of the current view. */
export function update(patch: Params, replace = false): void {
  const current: Params = Object.fromEntries(new URLSearchParams(location.search));
  navigate(location.pathname, { ...current, ...patch }, replace);
}

/** Replaces the URL without re-rendering (state that a view already shows, such as the search). */
export function remember(patch: Params): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, String(v));
  }
  const s = q.toString();
  history.replaceState(null, '', s ? `${location.pathname}?${s}` : location.pathname);
}

/** Milliseconds of a `from`/`until` value as the API reads it: now, now-1h, Unix s/ms/µs/ns, YYYYMMDD. */
export function timeMs(input: string, now = Date.now()): number {
  const s = input.trim().replace(/[_, ]/g, '');
  if (/^\d+$/.test(s)) {
    if (s.length === 8) return Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8)));
    const v = Number(s);
    if (s.length <= 12) return v * 1000;
    if (s.length <= 15) return v;
    if (s.length <= 18) return v / 1000;
    return v / 1e6;
  }
  const m = /^(now)?(?:([+-])(.+))?$/i.exec(s);
  if (!m) return Date.parse(input);
  if (!m[2]) return now;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let offset = 0;
  for (const part of m[3].matchAll(/(\d+)([a-zA-Z]+)/g)) offset += Number(part[1]) * (units[part[2]] ?? units[part[2][0]] ?? 0);
  return now + (m[2] === '-' ? -1 : 1) * offset * 1000;
}

/**
 * A typed time as the API takes it: its own syntax stays as typed, a date such as
 * `2026-11-30 08:00` (local time) becomes Unix seconds. Unreadable input is passed on, so that
 * the API says what is wrong with it.
 */
export function apiTime(input: string): string {
  const s = input.trim();
  if (!s || /^(now)?([+-].*)?$/i.test(s) || /^\d+$/.test(s)) return s;
  const ms = Date.parse(s.replace(' ', 'T'));
  return Number.isNaN(ms) ? s : String(Math.floor(ms / 1000));
}

/** The parts of a query `<profile type>{<matchers>}`. */
export function splitQuery(query: string): { type: string; matchers: string } {
  const i = query.indexOf('{');
  if (i < 0) return { type: query.trim(), matchers: '' };
  const end = query.lastIndexOf('}');
  return { type: query.slice(0, i).trim(), matchers: query.slice(i + 1, end < 0 ? undefined : end).trim() };
}

function quote(v: string): string {
  return JSON.stringify(v);
}

/** The query with `name op "value"` in place of any matcher on `name` with the same operator. */
export function withMatcher(query: string, name: string, op: string, value: string): string {
  const { type, matchers } = splitQuery(query);
  const parts = matcherList(matchers).filter((m) => !(m.name === name && m.op === op));
  parts.push({ name, op, value, text: `${name}${op}${quote(value)}` });
  return `${type}{${parts.map((p) => p.text).join(', ')}}`;
}

export function withoutMatcher(query: string, text: string): string {
  const { type, matchers } = splitQuery(query);
  return `${type}{${matcherList(matchers).filter((m) => m.text !== text).map((p) => p.text).join(', ')}}`;
}

export function withType(query: string, type: string): string {
  const { matchers } = splitQuery(query);
  return `${type}{${matchers}}`;
}

/** Matchers of a selector body, split where the text is well-formed (the API judges the rest). */
export function matcherList(body: string): Array<{ name: string; op: string; value: string; text: string }> {
  const out: Array<{ name: string; op: string; value: string; text: string }> = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*,?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    let value = m[3].slice(1, -1);
    if (m[3][0] === '"') {
      try {
        value = JSON.parse(m[3]) as string;
      } catch {
        // Kept as written.
      }
    }
    out.push({ name: m[1], op: m[2], value, text: `${m[1]}${m[2]}${m[3]}` });
  }
  return out;
}

export function matcherValue(query: string, name: string): string {
  return matcherList(splitQuery(query).matchers).find((m) => m.name === name && m.op === '=')?.value ?? '';
}
