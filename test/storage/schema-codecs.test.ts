/**
 * Sample values and rollup sums are stored with GCD (and T64 for raw values) before ZSTD: on a
 * new store, on a store migrated from schema version 4, and without changing a single value,
 * whatever the values are (negative, zero, huge, without a common factor).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { tempDir } from '../support/hearth.ts';

const tmp = tempDir('hearth-codecs-');
const logger = pino({ level: 'silent' });
const path = join(tmp.dir, 'data');
const ROLLUP_TYPE = 'SimpleAggregateFunction(sumMap, Tuple(Array(UInt64), Array(Int64)))';

/** Rows of one series a minute apart; values chosen to defeat any codec that loses information. */
const ROWS: Array<{ ids: bigint[]; values: bigint[] }> = [
  { ids: [1n, 2n, 3n], values: [10_000_000n, 20_000_000n, 30_000_000n] },
  { ids: [1n, 2n, 3n], values: [-10_000_000n, 0n, 7n] },
  { ids: [2n, 18_446_744_073_709_551_557n], values: [4_611_686_018_427_387_903n, -4_611_686_018_427_387_904n] },
  { ids: [1n, 5n], values: [1n, 123_456_789_012n] },
];

let store: Store;
before(async () => {
  store = await acquireStore({ path, database: 'codecs', retentionDays: 0 }, logger);
});
after(async () => {
  await store?.release();
  tmp.remove();
});

async function columnCodecs(s: Store, database: string): Promise<Map<string, string>> {
  const rs = await s.connection.client.query({
    query: `SELECT table || '.' || name AS col, compression_codec FROM system.columns WHERE database = {db:String} AND name IN ('stack_values', 'stacks')`,
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  return new Map((await rs.json<{ col: string; compression_codec: string }>()).map((r) => [r.col, r.compression_codec]));
}

async function insertRows(s: Store, database: string, firstProfileId = 1): Promise<void> {
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 0) / 1000;
  const values = ROWS.map(
    (r, i) =>
      `('t', 'cpu', 'svc', 1, toDateTime64(${t0 + i * 60}, 3), ${firstProfileId + i}, 0, [${r.ids.join(',')}], [${r.values.join(',')}])`,
  ).join(', ');
  await s.connection.client.command({
    query: `INSERT INTO ${database}.samples (tenant, profile_type, service, fingerprint, time, profile_id, total, stack_ids, stack_values) VALUES ${values}`,
  });
}

async function stored(s: Store, database: string): Promise<{ raw: string[]; hour: string }> {
  for (const t of ['samples', 'samples_1m', 'samples_1h']) await s.connection.client.command({ query: `OPTIMIZE TABLE ${database}.${t} FINAL` });
  const raw = await s.connection.client.query({ query: `SELECT toJSONString(stack_values) AS v FROM ${database}.samples ORDER BY time`, format: 'JSONEachRow' });
  const hour = await s.connection.client.query({ query: `SELECT toJSONString(stacks) AS v FROM ${database}.samples_1h`, format: 'JSONEachRow' });
  return { raw: (await raw.json<{ v: string }>()).map((r) => r.v), hour: (await hour.json<{ v: string }>())[0]?.v ?? '' };
}

function expected(): { raw: string[]; hour: string } {
  const sums = new Map<bigint, bigint>();
  for (const r of ROWS) r.ids.forEach((id, i) => sums.set(id, (sums.get(id) ?? 0n) + r.values[i]));
  const ids = [...sums.keys()].filter((id) => sums.get(id) !== 0n).sort((a, b) => (a < b ? -1 : 1));
  // toJSONString writes 64-bit integers as quoted strings.
  const q = (xs: bigint[]) => `[${xs.map((x) => `"${x}"`).join(',')}]`;
  return { raw: ROWS.map((r) => q(r.values)), hour: `[${q(ids)},${q(ids.map((id) => sums.get(id)!))}]` };
}

test('a new store compresses sample values with GCD, T64 and ZSTD, and rollup stacks with GCD and ZSTD', async () => {
  const codecs = await columnCodecs(store, 'codecs');
  assert.equal(codecs.get('samples.stack_values'), 'CODEC(GCD, T64, ZSTD(3))');
  assert.equal(codecs.get('samples_1m.stacks'), 'CODEC(GCD, ZSTD(3))');
  assert.equal(codecs.get('samples_1h.stacks'), 'CODEC(GCD, ZSTD(3))');
});

test('every value reads back exactly, raw and summed in the rollups', async () => {
  await insertRows(store, 'codecs');
  assert.deepEqual(await stored(store, 'codecs'), expected());
});

test('a store of schema version 4 gets the codecs, and its stored values read back unchanged', async () => {
  const opts = { path, database: 'codecs_v4', retentionDays: 0 };
  const v4 = await acquireStore(opts, logger);
  try {
    const c = v4.connection.client;
    await c.command({ query: `ALTER TABLE codecs_v4.samples MODIFY COLUMN stack_values Array(Int64) CODEC(ZSTD(3))` });
    for (const t of ['samples_1m', 'samples_1h']) await c.command({ query: `ALTER TABLE codecs_v4.${t} MODIFY COLUMN stacks ${ROLLUP_TYPE} CODEC(ZSTD(3))` });
    await c.command({ query: `ALTER TABLE codecs_v4.schema_migrations DELETE WHERE version > 4`, clickhouse_settings: { mutations_sync: '2' } });
    await insertRows(v4, 'codecs_v4');
    assert.equal((await columnCodecs(v4, 'codecs_v4')).get('samples.stack_values'), 'CODEC(ZSTD(3))');
  } finally {
    await v4.release();
  }
  const migrated = await acquireStore(opts, logger);
  try {
    const codecs = await columnCodecs(migrated, 'codecs_v4');
    assert.equal(codecs.get('samples.stack_values'), 'CODEC(GCD, T64, ZSTD(3))');
    assert.equal(codecs.get('samples_1h.stacks'), 'CODEC(GCD, ZSTD(3))');
    // Old parts merged with new ones under the new codec (other profile IDs: not a retried insert).
    await insertRows(migrated, 'codecs_v4', 100);
    const got = await stored(migrated, 'codecs_v4');
    const want = expected();
    assert.deepEqual([...got.raw].sort(), [...want.raw, ...want.raw].sort());
  } finally {
    await migrated.release();
  }
});
