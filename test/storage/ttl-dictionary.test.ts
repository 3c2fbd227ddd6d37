/**
 * Functions and stacks expire: they are dated by their last write (last_seen) and kept one day
 * longer than the longest retention tier, on new stores, on stores migrated from schema
 * version 3, and after the retention changes. A row last written long ago goes at the next
 * merge while a fresh one stays.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, MIGRATIONS, type Store } from '../../storage/store.ts';
import { tempDir } from '../support/hearth.ts';

const tmp = tempDir('hearth-ttl-dictionary-');
const logger = pino({ level: 'silent' });
const path = join(tmp.dir, 'data');
const TIERS = { raw: 7, '1m': 30, '1h': 365 };

after(() => tmp.remove());

async function ddl(store: Store, database: string): Promise<Map<string, string>> {
  const rs = await store.connection.client.query({
    query: `SELECT name, create_table_query FROM system.tables WHERE database = {db:String}`,
    query_params: { db: database },
    format: 'JSONEachRow',
  });
  return new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
}

async function rows<T>(store: Store, query: string): Promise<T[]> {
  return (await store.connection.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

/** Mutations (MATERIALIZE COLUMN) run in the background; the test waits for them. */
async function mutationsDone(store: Store, database: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const [r] = await rows<{ n: string }>(store, `SELECT toString(count()) AS n FROM system.mutations WHERE database = '${database}' AND NOT is_done`);
    if (r.n === '0') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('mutations did not finish');
}

/** Inserts an old and a fresh row into both tables, the way the writer does for the fresh ones. */
async function insertOldAndFresh(store: Store, database: string): Promise<void> {
  const c = store.connection.client;
  await c.command({ query: `INSERT INTO ${database}.functions (id, name, last_seen) VALUES (1, 'old', today() - 1000)` });
  await c.command({ query: `INSERT INTO ${database}.functions (id, name) VALUES (2, 'fresh')` });
  await c.command({ query: `INSERT INTO ${database}.stacks (id, frames, last_seen) VALUES (1, [1], today() - 1000)` });
  await c.command({ query: `INSERT INTO ${database}.stacks (id, frames) VALUES (2, [2])` });
}

async function idsAfterMerge(store: Store, database: string, table: string): Promise<number[]> {
  await store.connection.client.command({ query: `OPTIMIZE TABLE ${database}.${table} FINAL` });
  return (await rows<{ id: string }>(store, `SELECT toString(id) AS id FROM ${database}.${table} ORDER BY id`)).map((r) => Number(r.id));
}

test('a new store dates functions and stacks and expires them a day after the longest tier', async () => {
  const store = await acquireStore({ path, database: 'fresh', retentionDays: 0, retention: TIERS }, logger);
  try {
    const tables = await ddl(store, 'fresh');
    for (const t of ['functions', 'stacks']) {
      assert.match(tables.get(t)!, /`last_seen` Date DEFAULT today\(\)/);
      assert.match(tables.get(t)!, /TTL last_seen \+ toIntervalDay\(366\)/);
      // Not partitioned: expired rows are deleted one by one, not only whole parts.
      assert.doesNotMatch(tables.get(t)!, /ttl_only_drop_parts/);
    }
    await insertOldAndFresh(store, 'fresh');
    assert.deepEqual(await idsAfterMerge(store, 'fresh', 'functions'), [2]);
    assert.deepEqual(await idsAfterMerge(store, 'fresh', 'stacks'), [2]);
    // A rewrite (the writer's daily one) moves last_seen forward, and the newest row is the one kept.
    await store.connection.client.command({ query: `INSERT INTO fresh.stacks (id, frames, last_seen) VALUES (3, [3], today() - 1000)` });
    await store.connection.client.command({ query: `INSERT INTO fresh.stacks (id, frames) VALUES (3, [3])` });
    assert.deepEqual(await idsAfterMerge(store, 'fresh', 'stacks'), [2, 3]);
    const [seen] = await rows<{ fresh: number }>(store, `SELECT last_seen = today() AS fresh FROM fresh.stacks WHERE id = 3`);
    assert.equal(Number(seen.fresh), 1);
  } finally {
    await store.release();
  }
});

test('a store of schema version 3 migrates: its rows get a stored last_seen and the tables a TTL', async () => {
  const opts = { path, database: 'legacy', retentionDays: 0 };
  // A version-3 store: functions and stacks without last_seen, holding rows, migrations up to 3.
  const v3 = await acquireStore(opts, logger);
  try {
    const c = v3.connection.client;
    for (const t of ['functions', 'stacks']) await c.command({ query: `ALTER TABLE legacy.${t} DROP COLUMN last_seen`, clickhouse_settings: { mutations_sync: '2' } });
    await c.command({ query: `ALTER TABLE legacy.schema_migrations DELETE WHERE version > 3`, clickhouse_settings: { mutations_sync: '2' } });
    await c.command({ query: `INSERT INTO legacy.functions (id, name) VALUES (1, 'main'), (2, 'work')` });
    await c.command({ query: `INSERT INTO legacy.stacks (id, frames) VALUES (1, [1]), (2, [2, 1])` });
    assert.doesNotMatch((await ddl(v3, 'legacy')).get('stacks')!, /last_seen/);
  } finally {
    await v3.release();
  }

  const store = await acquireStore({ ...opts, retention: TIERS }, logger);
  try {
    await mutationsDone(store, 'legacy');
    const tables = await ddl(store, 'legacy');
    for (const t of ['functions', 'stacks']) {
      assert.match(tables.get(t)!, /`last_seen` Date DEFAULT today\(\)/);
      assert.match(tables.get(t)!, /TTL last_seen \+ toIntervalDay\(366\)/);
      // Every active part stores the column: a DEFAULT computed at read would never expire.
      const [p] = await rows<{ parts: string; with: string }>(
        store,
        `SELECT toString(count()) AS parts, toString(countIf(has(cols, 'last_seen'))) AS with
         FROM (SELECT name, groupArray(column) AS cols FROM system.parts_columns
               WHERE database = 'legacy' AND table = '${t}' AND active GROUP BY name)`,
      );
      assert.ok(Number(p.parts) > 0);
      assert.equal(p.with, p.parts, `${t}: every part has last_seen stored`);
      const [r] = await rows<{ n: string; today: string }>(store, `SELECT toString(count()) AS n, toString(countIf(last_seen = today())) AS today FROM legacy.${t}`);
      assert.equal(r.n, '2');
      assert.equal(r.today, '2');
    }
    const [v] = await rows<{ v: number }>(store, `SELECT max(version) AS v FROM legacy.schema_migrations`);
    assert.equal(Number(v.v), MIGRATIONS.length);
    // The migrated tables expire rows like new ones.
    await store.connection.client.command({ query: `ALTER TABLE legacy.stacks UPDATE last_seen = today() - 1000 WHERE id = 1`, clickhouse_settings: { mutations_sync: '2' } });
    await store.connection.client.command({ query: `ALTER TABLE legacy.stacks MATERIALIZE TTL`, clickhouse_settings: { mutations_sync: '2' } });
    assert.deepEqual(await idsAfterMerge(store, 'legacy', 'stacks'), [2]);
  } finally {
    await store.release();
  }
});

test('a changed retention changes the TTL of functions and stacks, and forever removes it', async () => {
  const opts = { path, database: 'changing', retentionDays: 0, retention: TIERS };
  await (await acquireStore(opts, logger)).release();
  const shorter = await acquireStore({ ...opts, retention: { raw: 3, '1m': 10, '1h': 90 } }, logger);
  try {
    const tables = await ddl(shorter, 'changing');
    for (const t of ['functions', 'stacks']) {
      assert.match(tables.get(t)!, /TTL last_seen \+ toIntervalDay\(91\)/);
      assert.doesNotMatch(tables.get(t)!, /ttl_only_drop_parts/);
    }
  } finally {
    await shorter.release();
  }
  const forever = await acquireStore({ ...opts, retention: { raw: 3, '1m': 10, '1h': 0 } }, logger);
  try {
    const tables = await ddl(forever, 'changing');
    for (const t of ['functions', 'stacks']) assert.doesNotMatch(tables.get(t)!, /TTL/);
    // A store kept forever keeps old rows.
    await insertOldAndFresh(forever, 'changing');
    assert.deepEqual(await idsAfterMerge(forever, 'changing', 'functions'), [1, 2]);
  } finally {
    await forever.release();
  }
});
