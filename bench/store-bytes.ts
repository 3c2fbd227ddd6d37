/**
 * Prints the bytes on disk of a stopped store's tables (active parts, after merging them as the
 * background merges eventually would), per table, as JSON. Run as its own process: chDB binds
 * one data directory per process, and a benchmark compares several. For reading by eye, each table's
 * bytes per stored sample (one stack value of a raw row) go to stderr.
 *
 *   tsx bench/store-bytes.ts DATA_DIR [DATABASE]
 */
import { connect } from '../storage/connection.ts';

const [dir, database = 'hearth'] = process.argv.slice(2);
const conn = connect({ path: dir, database, username: 'default', password: '' });
const tables = (await (await conn.client.query({ query: `SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree%'`, query_params: { db: database }, format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name);
for (const t of tables) await conn.client.command({ query: `OPTIMIZE TABLE \`${database}\`.\`${t}\` FINAL` });
const rows = await (
  await conn.client.query({
    query: `SELECT table, toString(sum(bytes_on_disk)) AS bytes, toString(sum(rows)) AS rows FROM system.parts WHERE database = {db:String} AND active GROUP BY table`,
    query_params: { db: database },
    format: 'JSONEachRow',
  })
).json<{ table: string; bytes: string; rows: string }>();
console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.table, Number(r.bytes)]))));
const [{ samples }] = await (
  await conn.client.query({ query: `SELECT toString(sum(length(stack_values))) AS samples FROM \`${database}\`.samples`, format: 'JSONEachRow' })
).json<{ samples: string }>();
const perSample = (bytes: number) => (Number(samples) > 0 ? (bytes / Number(samples)).toFixed(3) : '-');
console.error(`${samples} samples; bytes on disk per sample, by table:`);
for (const r of rows.sort((a, b) => Number(b.bytes) - Number(a.bytes))) {
  console.error(`  ${r.table}: ${perSample(Number(r.bytes))} B/sample, ${r.rows} rows`);
}
await conn.client.close();
