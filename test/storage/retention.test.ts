/**
 * Retention tiers: raw, 1-minute and 1-hour data each with its own TTL. With profiles stored at
 * old timestamps across the tiers and the expired raw rows dropped, a year-long flame graph
 * equals the sum of what was written (served by the 1-hour tier), a range partly older than
 * the raw retention is not half-empty, and a range inside the raw retention equals a raw read.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { planTiers, tierBounds, type MergedStacks, type Selection } from '../../storage/query.ts';
import { buildSchema } from '../../storage/schema.ts';
import { retentionDays, retentionIssues, defaultStoreConfig } from '../../storage/options.ts';
import type { Batch } from '../../core/model.ts';
import { tempDir } from '../support/hearth.ts';
import { CPU, Sent, syntheticProfile } from '../support/synthetic-profiles.ts';

const tmp = tempDir('hearth-retention-');
const lines: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
const DAY = 86_400_000;
const H = 3_600_000;
const NOW = Date.now();
/** Days ago at which profiles are written: past the raw and 1m retentions, past raw only, inside raw. */
const AGES = [300, 200, 100, 20, 12, 3, 1];
let store: Store;
const sentAll = new Sent();
const sentRecent = new Sent();
const RECENT_FROM = NOW - 4 * DAY;

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'tiers', retentionDays: 0, retention: { raw: 7, '1m': 30, '1h': 365 } }, logger);
  const writer = store.createWriter({ flushIntervalMs: 10, maxRows: 100_000, maxConcurrentFlushes: 2 }, logger);
  const batches: Batch[] = [];
  let n = 0;
  for (const age of AGES) {
    // A few profiles spread over two hours, not aligned to minutes.
    for (let i = 0; i < 6; i++) {
      const t = NOW - age * DAY + i * 1_234_567;
      const profile = syntheticProfile(++n, t, 6, false);
      sentAll.add(profile);
      if (t >= RECENT_FROM) sentRecent.add(profile);
      batches.push({ tenant: 'anonymous', labels: { __name__: 'process_cpu', service_name: 'tiers' }, idempotencyKey: `tier-${n}`, profile });
    }
  }
  await Promise.all(batches.map((b) => writer.write(b)));
  await writer.flush();
  // Apply the TTLs now rather than at the next background merge: expired raw parts go.
  for (const t of ['samples', 'samples_1m', 'samples_1h']) await store.connection.client.command({ query: `OPTIMIZE TABLE tiers.${t} FINAL` });
});

after(async () => {
  await store?.release();
  tmp.remove();
});

function sel(start: number, end: number): Selection {
  return { tenant: 'anonymous', profileType: CPU, matchers: [{ name: 'service_name', op: '=', value: 'tiers' }], start, end };
}

function folded(m: MergedStacks): Map<string, number> {
  const out = new Map<string, number>();
  m.stacks.forEach((s, i) => {
    const key = [...s].reverse().map((x) => m.names[x]).join(';');
    out.set(key, (out.get(key) ?? 0) + m.values[i]);
  });
  return new Map([...out].filter(([, v]) => v !== 0).sort());
}

test('each tier gets its own TTL; the series index lives as long as the longest tier', async () => {
  const rs = await store.connection.client.query({ query: `SELECT name, create_table_query FROM system.tables WHERE database = 'tiers'`, format: 'JSONEachRow' });
  const ddl = new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
  assert.match(ddl.get('samples')!, /TTL toDate\(time\) \+ toIntervalDay\(7\)/);
  assert.match(ddl.get('spans')!, /toIntervalDay\(7\)/);
  assert.match(ddl.get('samples_1m')!, /toIntervalDay\(30\)/);
  assert.match(ddl.get('samples_1h')!, /toIntervalDay\(365\)/);
  assert.match(ddl.get('series')!, /toIntervalDay\(365\)/);
});

test('a year-long query equals the sum of everything written, though raw rows older than a week are gone', async () => {
  const rawOnly = await store.query.mergeStacks(sel(NOW - 365 * DAY, NOW + H), { rollups: false });
  assert.ok(rawOnly.total < sentAll.total, 'the raw TTL dropped old rows (else this test proves nothing)');
  lines.length = 0;
  const year = await store.query.mergeStacks(sel(NOW - 365 * DAY, NOW + H));
  assert.equal(year.total, sentAll.total);
  assert.deepEqual(folded(year), new Map([...sentAll.stacks].sort()));
  assert.ok(lines.some((l) => /query plan: the 1h tier answered/.test(l)), 'a debug plan line names the tier');
});

test('a range partly older than the raw retention is served from the 1m tier, not half-empty', async () => {
  lines.length = 0;
  const from = NOW - 25 * DAY;
  const m = await store.query.mergeStacks(sel(from, NOW + H));
  const expected = new Sent();
  let n = 0;
  for (const age of AGES) for (let i = 0; i < 6; i++) {
    const t = NOW - age * DAY + i * 1_234_567;
    const p = syntheticProfile(++n, t, 6, false);
    if (t >= from) expected.add(p);
  }
  assert.equal(m.total, expected.total);
  assert.ok(lines.some((l) => /query plan: the 1m tier answered/.test(l)));
});

test('a range inside the raw retention equals raw reads exactly', async () => {
  lines.length = 0;
  const s = sel(RECENT_FROM, NOW + H);
  const tiered = await store.query.mergeStacks(s);
  const raw = await store.query.mergeStacks(s, { rollups: false });
  assert.equal(tiered.total, sentRecent.total);
  assert.equal(raw.total, sentRecent.total);
  assert.deepEqual(folded(tiered), folded(raw));
  assert.ok(lines.some((l) => /query plan: the raw tier answered/.test(l)));
});

test('planning: the finest tier that covers the start; whole buckets up to where raw rows take over', () => {
  const now = Date.UTC(2026, 5, 15, 12, 0, 0);
  const b = tierBounds({ raw: 7, '1m': 30, '1h': 365 }, now);
  assert.equal(b.raw, Date.UTC(2026, 5, 10));
  assert.equal(tierBounds({ raw: 0, '1m': 0, '1h': 0 }, now).raw, -Infinity);
  const inRaw = planTiers(now - 2 * DAY, now, 0, b);
  assert.equal(inRaw.tier, 'raw');
  const old = planTiers(now - 20 * DAY - 90_000, now, 0, b);
  assert.equal(old.tier, '1m');
  assert.equal(old.coarse[0].from, now - 20 * DAY - 120_000);
  assert.equal(old.coarse.at(-1)!.to, b.raw);
  assert.equal(old.fine[0].from, b.raw);
  const older = planTiers(now - 100 * DAY, now - 90 * DAY - 1_000, 0, b);
  assert.equal(older.tier, '1h');
  assert.deepEqual(older.coarse, [{ source: 'samples_1h', from: now - 100 * DAY, to: now - 90 * DAY }]);
  assert.deepEqual(older.fine, []);
});

test('config: retention per tier, retention_days as every tier, and refusals', () => {
  const c = defaultStoreConfig();
  assert.deepEqual(retentionDays({ ...c, retention: { raw: '7d', '1m': '30d', '1h': '1y' } }), { raw: 7, '1m': 30, '1h': 365 });
  assert.deepEqual(retentionDays({ ...c, retention_days: 30 }), { raw: 30, '1m': 30, '1h': 30 });
  assert.equal(retentionIssues({ retention_days: 3, retention: { raw: '7d', '1m': 0, '1h': 0 } })[0].path[0], 'retention_days');
  assert.deepEqual(retentionIssues({ retention_days: 0, retention: { raw: '7d', '1m': '3d', '1h': 0 } })[0].path, ['retention', '1m']);
  assert.deepEqual(retentionIssues({ retention_days: 0, retention: { raw: '7d', '1m': '30d', '1h': 0 } }), []);
  const ddl = buildSchema({ database: 'x', retentionDays: 0, retention: { raw: 2, '1m': 0, '1h': 0 } }).statements.join('\n');
  assert.match(ddl, /`samples` \([\s\S]*?TTL toDate\(time\) \+ INTERVAL 2 DAY/);
  assert.doesNotMatch(ddl.split('`samples_1m`')[1].split('CREATE')[0], /TTL/);
});

test('a changed retention is applied to the existing tables at the next start', async () => {
  const opts = { path: join(tmp.dir, 'data'), database: 'tiers_change', retentionDays: 0, retention: { raw: 7, '1m': 30, '1h': 365 } };
  const first = await acquireStore(opts, logger);
  await first.release();
  const second = await acquireStore({ ...opts, retention: { raw: 3, '1m': 30, '1h': 0 } }, logger);
  try {
    const rs = await second.connection.client.query({ query: `SELECT name, create_table_query FROM system.tables WHERE database = 'tiers_change'`, format: 'JSONEachRow' });
    const ddl = new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
    assert.match(ddl.get('samples')!, /toIntervalDay\(3\)/);
    assert.doesNotMatch(ddl.get('samples_1h')!, /TTL/);
    assert.doesNotMatch(ddl.get('series')!, /TTL/);
    assert.match(ddl.get('samples_1m')!, /toIntervalDay\(30\)/);
  } finally {
    await second.release();
  }
});

test('a store opened first without retention (the API starts first) gets the TTLs of the component that declares them', async () => {
  const opts = { path: join(tmp.dir, 'data'), database: 'tiers_late', retentionDays: 0 };
  const api = await acquireStore(opts, logger);
  const exporter = await acquireStore({ ...opts, retention: { raw: 5, '1m': 20, '1h': 400 } }, logger);
  try {
    const rs = await api.connection.client.query({ query: `SELECT name, create_table_query FROM system.tables WHERE database = 'tiers_late'`, format: 'JSONEachRow' });
    const ddl = new Map((await rs.json<{ name: string; create_table_query: string }>()).map((r) => [r.name, r.create_table_query]));
    assert.match(ddl.get('samples')!, /toIntervalDay\(5\)/);
    assert.match(ddl.get('samples_1h')!, /toIntervalDay\(400\)/);
    // The planner reads the tiers from the tables, not from the config of whoever opened the store.
    lines.length = 0;
    await api.query.mergeStacks({ ...sel(NOW - 30 * DAY, NOW), tenant: 'nobody' });
    assert.ok(lines.some((l) => /query plan: the 1h tier answered/.test(l)));
  } finally {
    await exporter.release();
    await api.release();
  }
});
