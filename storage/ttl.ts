/**
 * The TTL, in days, that each table of a database has now, read from the store itself: the
 * query planner uses the tiers' actual retention, whichever process set it.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export async function ttlDaysByTable(client: ClickHouseClient, database: string): Promise<Map<string, number>> {
  const rs = await client.query({
    query: `SELECT name, create_table_query FROM system.tables WHERE database = {db:String}`,
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  const out = new Map<string, number>();
  for (const r of await rs.json<{ name: string; create_table_query: string }>()) {
    // ClickHouse writes `INTERVAL 7 DAY` back as toIntervalDay(7).
    const m = /\bTTL\b[^\n]*?toIntervalDay\((\d+)\)/.exec(r.create_table_query);
    out.set(r.name, m ? Number(m[1]) : 0);
  }
  return out;
}
