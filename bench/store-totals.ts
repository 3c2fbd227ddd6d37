/**
 * Prints, as JSON, the stored rows and value totals per profile type of a stopped store, so
 * a benchmark can check them against what its clients were acknowledged. Its own process:
 * chDB binds one data directory per process.
 *
 *   tsx bench/store-totals.ts DATA_DIR [DATABASE] [TENANT_LIKE]
 */
import { connect } from '../storage/connection.ts';

const [dir, database = 'hearth', tenantLike = '%'] = process.argv.slice(2);
const conn = connect({ path: dir, database, username: 'default', password: '' });
const rows = await (
  await conn.client.query({
    query: `SELECT profile_type, toString(count()) AS rows, toString(sum(total)) AS total FROM \`${database}\`.samples WHERE tenant LIKE {tenant:String} GROUP BY profile_type`,
    query_params: { tenant: tenantLike },
    format: 'JSONEachRow',
  })
).json<{ profile_type: string; rows: string; total: string }>();
console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.profile_type, { rows: Number(r.rows), total: r.total }]))));
await conn.client.close();
