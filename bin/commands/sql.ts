/**
 * `hearth sql 'SELECT …'`: read-only SQL over one tenant's views (samples_flat, series,
 * profiles), on a server through `POST /api/sql`, or locally on an embedded data directory with
 * `--data DIR` (while no Hearth process has it open).
 */
import pino from 'pino';
import { DEFAULT_TENANT } from '../../core/model.ts';
import { HearthError } from '../../core/errors.ts';
import type { SqlResult } from '../../storage/query.ts';
import { acquireStore } from '../../storage/store.ts';
import { defaultStoreConfig, storeOptions } from '../../storage/options.ts';
import { callJson, parseCommand, RequestError, remoteOf, UsageError } from './remote.ts';

export const SQL_USAGE = `usage:
  hearth sql 'SELECT …' [--output table|json|tsv]            on the server (--url, --tenant, --token or --user/--password)
  hearth sql 'SELECT …' --data DIR [--tenant T] [--database hearth]   on an embedded data directory
Views: samples_flat(time, service_name, profile_type, function, self, total),
       series(profile_type, service_name, fingerprint, labels, first_date, last_date),
       profiles(time, profile_id, service_name, profile_type, fingerprint, total).`;

export async function run(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(`${SQL_USAGE}\n`);
    return;
  }
  const { values, positionals } = parseCommand(args, {
    data: { type: 'string' },
    database: { type: 'string' },
    output: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError(`expected one SQL query, got ${positionals.length} arguments (quote the query)`);
  const output = values.output ?? 'table';
  if (!['table', 'json', 'tsv'].includes(output)) throw new UsageError(`--output must be table, json or tsv, got ${JSON.stringify(output)}`);
  const result = values.data ? await local(values.data, values.database ?? 'hearth', values.tenant ?? DEFAULT_TENANT, positionals[0]) : await remote(values, positionals[0]);
  process.stdout.write(format(result, output));
}

function remote(values: { url?: string; tenant?: string; token?: string; user?: string; password?: string }, query: string): Promise<SqlResult> {
  return callJson<SqlResult>(remoteOf(values), '/api/sql', {
    method: 'POST',
    body: JSON.stringify({ query }),
    headers: { 'Content-Type': 'application/json' },
  });
}

async function local(dir: string, database: string, tenant: string, query: string): Promise<SqlResult> {
  const store = await acquireStore(storeOptions({ ...defaultStoreConfig(), path: dir, database }), pino({ level: 'warn' }, pino.destination(2)));
  try {
    return await store.query.sql(tenant, query);
  } catch (err) {
    if (err instanceof HearthError) throw new RequestError(err.status, err.message);
    throw err;
  } finally {
    await store.release();
  }
}

function cell(v: unknown): string {
  return v === null || v === undefined ? 'NULL' : typeof v === 'string' ? v : JSON.stringify(v);
}

export function format(result: SqlResult, output: string): string {
  if (output === 'json') return JSON.stringify(result, null, 2) + '\n';
  if (output === 'tsv') return [result.columns.map((c) => c.name), ...result.rows.map((r) => r.map(cell))].map((r) => r.join('\t')).join('\n') + '\n';
  const rows = result.rows.map((r) => r.map(cell));
  const widths = result.columns.map((c, i) => Math.max(c.name.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(result.columns.map((c) => c.name)), ...rows.map(line)].join('\n') + `\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

