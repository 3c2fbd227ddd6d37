/**
 * `hearth query top|pprof|series|labels`: reads a Hearth server through its public query APIs
 * (`/pyroscope/render`, `/pyroscope/pprof`, querier.v1 over Connect JSON).
 */
import { writeFileSync } from 'node:fs';
import { parseAttime } from '../../core/attime.ts';
import { byFlat, functionTotals, type Flamebearer } from './flamebearer.ts';
import { call, callJson, connectCall, parseCommand, reasonOf, RequestError, remoteOf, UsageError, type Remote } from './remote.ts';
import { formatValue, percent, renderTable, unitOf } from './table.ts';

export const QUERY_USAGE = `usage:
  hearth query top QUERY [--from now-1h] [--until now] [-n 20] [--max-nodes N] [--output table|json]
  hearth query pprof QUERY [--from now-1h] [--until now] [-o FILE]
  hearth query series [SELECTOR...] [--from now-1h] [--until now] [--label-names a,b] [--output text|json]
  hearth query labels [NAME] [--match SELECTOR] [--from now-1h] [--until now]
QUERY is a profile type and its matchers: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="checkout"}'.
Shared flags: --url (default $HEARTH_URL or http://localhost:4040), --tenant (X-Scope-OrgID), --token (Bearer), --user/--password (basic auth).`;

const RANGE = { from: { type: 'string' }, until: { type: 'string' } } as const;

export interface TopRow {
  name: string;
  flat: number;
  flatPercent: number;
  sumPercent: number;
  cum: number;
  cumPercent: number;
}

export interface TopAnswer {
  profileType: string;
  total: number;
  functions: number;
  rows: TopRow[];
}

/** The render answer of a query, as the server computes it. */
export async function render(remote: Remote, query: string, from: string, until: string, maxNodes?: string): Promise<Flamebearer> {
  const params = new URLSearchParams({ query, from, until });
  if (maxNodes) params.set('maxNodes', maxNodes);
  const answer = await callJson<{ flamebearer: Flamebearer }>(remote, `/pyroscope/render?${params}`);
  return answer.flamebearer;
}

/** The N functions with the largest flat values, with pprof's percentages. */
export function topOf(fb: Flamebearer, profileType: string, n: number): TopAnswer {
  const all = functionTotals(fb).sort(byFlat);
  const total = fb.numTicks;
  let sum = 0;
  const rows = all.slice(0, n).map((f) => {
    sum += f.flat;
    return { name: f.name, flat: f.flat, flatPercent: pct(f.flat, total), sumPercent: pct(sum, total), cum: f.cum, cumPercent: pct(f.cum, total) };
  });
  return { profileType, total, functions: all.length, rows };
}

function pct(part: number, whole: number): number {
  return whole === 0 ? 0 : (part / whole) * 100;
}

export function topTable(top: TopAnswer): string {
  const unit = unitOf(top.profileType);
  const head = `Showing top ${top.rows.length} of ${top.functions} functions, total ${formatValue(top.total, unit)} (${top.profileType})\n`;
  const rows = top.rows.map((r) => [
    formatValue(r.flat, unit),
    percent(r.flat, top.total),
    `${r.sumPercent.toFixed(2)}%`,
    formatValue(r.cum, unit),
    percent(r.cum, top.total),
    r.name,
  ]);
  return head + renderTable(['flat', 'flat%', 'sum%', 'cum', 'cum%', 'name'], rows);
}

/** The profile type of a query: the text before `{`. */
export function profileTypeOfQuery(query: string): string {
  return query.split('{')[0].trim();
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}, got ${positionals.length}`);
  return positionals[0];
}

function msRange(from: string | undefined, until: string | undefined): { start: number; end: number } {
  const now = Date.now();
  try {
    return { start: parseAttime(from || 'now-1h', now, 'from'), end: parseAttime(until || 'now', now, 'until') };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function top(args: string[]): Promise<string> {
  const { values, positionals } = parseCommand(args, {
    ...RANGE,
    n: { type: 'string', short: 'n' },
    'max-nodes': { type: 'string' },
    output: { type: 'string' },
  });
  const query = one(positionals, 'QUERY');
  const n = Number(values.n ?? 20);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`-n must be a positive integer, got ${JSON.stringify(values.n)}`);
  const fb = await render(remoteOf(values), query, values.from ?? 'now-1h', values.until ?? 'now', values['max-nodes']);
  const answer = topOf(fb, profileTypeOfQuery(query), n);
  return values.output === 'json' ? JSON.stringify(answer, null, 2) + '\n' : topTable(answer);
}

async function pprof(args: string[]): Promise<string> {
  const { values, positionals } = parseCommand(args, { ...RANGE, output: { type: 'string', short: 'o' } });
  const query = one(positionals, 'QUERY');
  const params = new URLSearchParams({ query, from: values.from ?? 'now-1h', until: values.until ?? 'now' });
  const res = await call(remoteOf(values), `/pyroscope/pprof?${params}`);
  if (!res.ok) throw new RequestError(res.status, `${res.status} from /pyroscope/pprof: ${await reasonOf(res)}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (values.output === '-') {
    process.stdout.write(bytes);
    return '';
  }
  const suggested = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  const file = values.output ?? suggested ?? 'profile.pb.gz';
  writeFileSync(file, bytes);
  return `wrote ${file} (${bytes.length} bytes)\n`;
}

type Labels = { labels: Array<{ name: string; value: string }> };

async function series(args: string[]): Promise<string> {
  const { values, positionals } = parseCommand(args, { ...RANGE, 'label-names': { type: 'string' }, output: { type: 'string' } });
  const { start, end } = msRange(values.from, values.until);
  const labelNames = (values['label-names'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const answer = await connectCall<{ labelsSet?: Labels[] }>(remoteOf(values), 'querier.v1.QuerierService/Series', {
    matchers: positionals,
    labelNames,
    start: String(start),
    end: String(end),
  });
  const sets = (answer.labelsSet ?? []).map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
  if (values.output === 'json') return JSON.stringify(sets, null, 2) + '\n';
  return sets.map((s) => `{${Object.entries(s).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}\n`).join('');
}

async function labels(args: string[]): Promise<string> {
  const { values, positionals } = parseCommand(args, { ...RANGE, match: { type: 'string', multiple: true } });
  if (positionals.length > 1) throw new UsageError('expected at most one label NAME');
  const { start, end } = msRange(values.from, values.until);
  const remote = remoteOf(values);
  const matchers = values.match ?? [];
  const answer = positionals.length
    ? await connectCall<{ names?: string[] }>(remote, 'querier.v1.QuerierService/LabelValues', { name: positionals[0], matchers, start: String(start), end: String(end) })
    : await connectCall<{ names?: string[] }>(remote, 'querier.v1.QuerierService/LabelNames', { matchers, start: String(start), end: String(end) });
  return (answer.names ?? []).map((n) => `${n}\n`).join('');
}

const SUBCOMMANDS: Record<string, (args: string[]) => Promise<string>> = { top, pprof, series, labels };

export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (!sub || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return;
  }
  const fn = SUBCOMMANDS[sub];
  if (!fn) throw new UsageError(`unknown query command "${sub}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${QUERY_USAGE}\n`);
    return;
  }
  process.stdout.write(await fn(rest));
}
