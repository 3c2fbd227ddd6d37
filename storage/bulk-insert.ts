/**
 * Bulk inserts in RowBinary over the one client.
 *
 * A ClickHouse server takes the rows as the body of `INSERT … FORMAT RowBinary`. The embedded
 * engine's connection passes an insert body through the SQL text, which only suits text
 * formats, so there the rows go through a spool file that the same client reads with
 * `INSERT … SELECT FROM file()`: binary, parsed by the engine's own reader.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Connection } from './connection.ts';

export type InsertSettings = Record<string, string | number>;

/** Column names of a `name Type, name Type` structure (types may themselves hold commas). */
export function columnNames(structure: string): string[] {
  const names: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= structure.length; i++) {
    const c = structure[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if ((c === ',' && depth === 0) || i === structure.length) {
      names.push(structure.slice(start, i).trim().split(/\s+/)[0]);
      start = i + 1;
    }
  }
  return names;
}

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The insert's settings as part of its statement. The embedded engine would otherwise run them
 * as `SET` statements of the session, where they stay for every later query of the process: an
 * insert without a deduplication token would inherit the previous insert's.
 */
function settingsClause(settings: InsertSettings): string {
  const entries = Object.entries(settings);
  if (!entries.length) return '';
  return ` SETTINGS ${entries
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name: ${JSON.stringify(k)}`);
      return `${k} = ${typeof v === 'number' && Number.isFinite(v) ? String(v) : sqlString(String(v))}`;
    })
    .join(', ')}`;
}

export async function insertRowBinary(conn: Connection, table: string, structure: string, data: Uint8Array, settings: InsertSettings = {}): Promise<void> {
  if (data.length === 0) return;
  const columns = columnNames(structure).join(', ');
  if (conn.kind === 'http') {
    await conn.client.exec({
      query: `INSERT INTO ${table} (${columns}) FORMAT RowBinary`,
      values: Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)], { objectMode: false }),
      clickhouse_settings: settings,
    });
    return;
  }
  mkdirSync(conn.spoolDir, { recursive: true });
  const file = join(conn.spoolDir, `${randomUUID()}.rowbinary`);
  writeFileSync(file, data);
  try {
    await conn.client.command({
      query: `INSERT INTO ${table} (${columns})${settingsClause(settings)} SELECT * FROM file(${sqlString(file)}, 'RowBinary', ${sqlString(structure)})`,
    });
  } finally {
    rmSync(file, { force: true });
  }
}
