/**
 * `hearth diff LEFT RIGHT`: the functions whose self and total values changed most between two
 * selections (two queries, or one query over two time ranges), from two `/pyroscope/render`
 * answers.
 */
import { functionTotals } from './flamebearer.ts';
import { profileTypeOfQuery, render } from './query.ts';
import { parseCommand, remoteOf, UsageError } from './remote.ts';
import { formatValue, renderTable, unitOf } from './table.ts';

export const DIFF_USAGE = `usage:
  hearth diff LEFT RIGHT [--from now-1h] [--until now] [-n 20] [--sort self|total] [--output table|json]
  hearth diff QUERY --left-from T --left-until T --right-from T --right-until T
LEFT and RIGHT are queries of one profile type; --left-*/--right-* override --from/--until per side.
Shared flags: --url, --tenant, --token, --user/--password (as for hearth query).`;

export interface DiffRow {
  name: string;
  leftSelf: number;
  rightSelf: number;
  deltaSelf: number;
  leftTotal: number;
  rightTotal: number;
  deltaTotal: number;
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(`${DIFF_USAGE}\n`);
    return;
  }
  const { values, positionals } = parseCommand(args, {
    from: { type: 'string' },
    until: { type: 'string' },
    'left-from': { type: 'string' },
    'left-until': { type: 'string' },
    'right-from': { type: 'string' },
    'right-until': { type: 'string' },
    n: { type: 'string', short: 'n' },
    sort: { type: 'string' },
    'max-nodes': { type: 'string' },
    output: { type: 'string' },
  });
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`expected LEFT RIGHT, or one QUERY with --left-from/--right-from; got ${positionals.length} arguments`);
  const [leftQuery, rightQuery = positionals[0]] = positionals;
  if (positionals.length === 1 && !values['left-from'] && !values['right-from']) {
    throw new UsageError('one QUERY compares two time ranges: give --left-from and --right-from');
  }
  const type = profileTypeOfQuery(leftQuery);
  if (profileTypeOfQuery(rightQuery) !== type) throw new UsageError(`LEFT and RIGHT must have the same profile type, got ${type} and ${profileTypeOfQuery(rightQuery)}`);
  const n = Number(values.n ?? 20);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`-n must be a positive integer, got ${JSON.stringify(values.n)}`);
  const sort = values.sort ?? 'self';
  if (sort !== 'self' && sort !== 'total') throw new UsageError(`--sort must be self or total, got ${JSON.stringify(sort)}`);
  const from = values.from ?? 'now-1h';
  const until = values.until ?? 'now';
  const remote = remoteOf(values);
  const [left, right] = await Promise.all([
    render(remote, leftQuery, values['left-from'] ?? from, values['left-until'] ?? until, values['max-nodes']),
    render(remote, rightQuery, values['right-from'] ?? from, values['right-until'] ?? until, values['max-nodes']),
  ]);
  const rows = diffRows(functionTotals(left), functionTotals(right), sort).slice(0, n);
  if (values.output === 'json') {
    process.stdout.write(JSON.stringify({ profileType: type, leftTotal: left.numTicks, rightTotal: right.numTicks, rows }, null, 2) + '\n');
    return;
  }
  const unit = unitOf(type);
  const f = (v: number) => formatValue(v, unit);
  const signed = (v: number) => (v > 0 ? `+${f(v)}` : f(v));
  process.stdout.write(`left total ${f(left.numTicks)}, right total ${f(right.numTicks)} (${type}); largest changes by ${sort}\n`);
  process.stdout.write(
    renderTable(
      ['self left', 'self right', 'Δ self', 'total left', 'total right', 'Δ total', 'name'],
      rows.map((r) => [f(r.leftSelf), f(r.rightSelf), signed(r.deltaSelf), f(r.leftTotal), f(r.rightTotal), signed(r.deltaTotal), r.name]),
    ),
  );
}

/** Every function of either side, largest absolute change first. */
export function diffRows(left: ReturnType<typeof functionTotals>, right: ReturnType<typeof functionTotals>, sort: 'self' | 'total'): DiffRow[] {
  const rows = new Map<string, DiffRow>();
  const row = (name: string) => {
    let r = rows.get(name);
    if (!r) rows.set(name, (r = { name, leftSelf: 0, rightSelf: 0, deltaSelf: 0, leftTotal: 0, rightTotal: 0, deltaTotal: 0 }));
    return r;
  };
  for (const f of left) Object.assign(row(f.name), { leftSelf: f.flat, leftTotal: f.cum });
  for (const f of right) Object.assign(row(f.name), { rightSelf: f.flat, rightTotal: f.cum });
  for (const r of rows.values()) {
    r.deltaSelf = r.rightSelf - r.leftSelf;
    r.deltaTotal = r.rightTotal - r.leftTotal;
  }
  const key = sort === 'self' ? (r: DiffRow) => [Math.abs(r.deltaSelf), Math.abs(r.deltaTotal)] : (r: DiffRow) => [Math.abs(r.deltaTotal), Math.abs(r.deltaSelf)];
  return [...rows.values()].sort((a, b) => {
    const [a1, a2] = key(a);
    const [b1, b2] = key(b);
    return b1 - a1 || b2 - a2 || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
}
