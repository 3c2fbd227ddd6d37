/**
 * The writer's bulk insert: an insert repeated with the same deduplication token is stored once,
 * and an insert's settings stay with that insert instead of becoming the session's (on the
 * embedded engine, where every query of the process shares one session).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { batchToRows, newRowCaches, SAMPLE_COLUMNS } from '../../storage/rows.ts';
import { insertRowBinary } from '../../storage/bulk-insert.ts';
import { tempDir } from '../support/hearth.ts';
import { syntheticProfile } from '../support/synthetic-profiles.ts';

const tmp = tempDir('hearth-writer-insert-');
let store: Store;

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'wi', retentionDays: 0 }, pino({ level: 'silent' }));
});
after(async () => {
  await store?.release();
  tmp.remove();
});

async function one<T>(query: string): Promise<T> {
  const rows = await (await store.connection.client.query({ query, format: 'JSONEachRow' })).json<T>();
  return rows[0];
}

test('a repeated insert with the same token is stored once, and its settings do not outlive it', async () => {
  const t = Date.now() - 60_000;
  const rows = (key: string) =>
    batchToRows({ tenant: 't', labels: { __name__: 'process_cpu', service_name: 'wi' }, profile: syntheticProfile(1, t, 20, false), idempotencyKey: key }, newRowCaches()).samples;
  const samples = store.schema.table('samples');
  const a = rows('a');
  await insertRowBinary(store.connection, samples, SAMPLE_COLUMNS, a, { insert_deduplication_token: 'token-a', insert_deduplicate: 1 });
  await insertRowBinary(store.connection, samples, SAMPLE_COLUMNS, a, { insert_deduplication_token: 'token-a', insert_deduplicate: 1 });
  assert.equal(Number((await one<{ n: string }>(`SELECT count() AS n FROM ${samples}`)).n), 1);

  const left = await one<{ token: string }>(`SELECT getSetting('insert_deduplication_token') AS token`);
  assert.equal(left.token, '', 'the token was not left behind in the session');

  // Without a token of its own, another insert is not mistaken for the previous one.
  await insertRowBinary(store.connection, samples, SAMPLE_COLUMNS, rows('b'));
  assert.equal(Number((await one<{ n: string }>(`SELECT count() AS n FROM ${samples}`)).n), 2);
});
