/**
 * Rollups: flame graphs over long ranges read whole minutes and hours from the 1-minute and
 * 1-hour rollups and raw rows only at the edges, and must equal a raw read exactly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { planRange, QueryEngine, type MergedStacks, type Selection } from '../../storage/query.ts';
import type { Writer } from '../../storage/writer.ts';
import type { Batch } from '../../core/model.ts';
import { parseSelector } from '../../core/selector.ts';
import { tempDir } from '../support/hearth.ts';
import { cpuBatch } from '../support/synthetic-profiles.ts';

const tmp = tempDir('hearth-rollups-');
const logger = pino({ level: 'silent' });
let store: Store;
let writer: Writer;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const H = 3_600_000;
const M = 60_000;
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);
/** These tests are about the rollup path: it is taken however few profiles a selection holds. */
const ROLLUPS = { rawBelowProfiles: 0 };
const NAMES = ['', 'main', 'serve', 'parse', 'render', 'gc', 'json', 'sql', 'other'];

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'hearth', retentionDays: 0 }, logger);
  writer = store.createWriter({ flushIntervalMs: 10, maxRows: 100_000, maxConcurrentFlushes: 2 }, logger);
  // Six hours of profiles every 37 s (never aligned to a minute), three services, two pods each,
  // stacks and values varying with time; some negative values, as delta profiles have.
  const batches: Batch[] = [];
  let n = 0;
  for (let t = T0 + 11_000; t < T0 + 6 * H; t += 37_000) {
    for (const service of ['api', 'web', 'db']) {
      for (const pod of ['a', 'b']) {
        n++;
        const k = n % 7;
        const stacks = [Uint32Array.of(3, 2, 1), Uint32Array.of(4, 2, 1), Uint32Array.of(5, 1), Uint32Array.of(6 + (k % 3), 4, 2, 1), Uint32Array.of(8, 1)];
        const batch = cpuBatch(service, `rollup-${n}`, t, NAMES, stacks, [1 + k, 10 + (n % 13), k === 3 ? -2 : 3, n % 5, 7]);
        batches.push({ ...batch, labels: { ...batch.labels, pod } });
      }
    }
  }
  for (let i = 0; i < batches.length; i += 500) await Promise.all(batches.slice(i, i + 500).map((b) => writer.write(b)));
  // A redelivery must not count twice in the rollups either.
  await Promise.all(batches.slice(0, 50).map((b) => writer.write(b)));
});
after(async () => {
  await writer.flush();
  await store.release();
  tmp.remove();
});

function byStack(m: MergedStacks): Map<string, number> {
  const out = new Map<string, number>();
  m.stacks.forEach((s, i) => {
    const key = [...s].map((f) => m.names[f]).join(';');
    out.set(key, (out.get(key) ?? 0) + m.values[i]);
  });
  return out;
}

function sel(matchers: string, start: number, end: number, extra: Partial<Selection> = {}): Selection {
  return { tenant: 'anonymous', profileType: CPU, matchers: parseSelector(`{${matchers}}`).matchers, start, end, ...extra };
}

test('planRange splits a range into raw edges, whole minutes and whole hours', () => {
  const s = T0 + 7 * M + 13_000;
  const e = T0 + 5 * H + 3 * M + 500;
  assert.deepEqual(planRange(s, e, 0), [
    { source: 'samples', from: s, to: T0 + 8 * M },
    { source: 'samples_1m', from: T0 + 8 * M, to: T0 + H },
    { source: 'samples_1h', from: T0 + H, to: T0 + 5 * H },
    { source: 'samples_1m', from: T0 + 5 * H, to: T0 + 5 * H + 3 * M },
    { source: 'samples', from: T0 + 5 * H + 3 * M, to: e },
  ]);
  // Nothing is trusted before the rollups existed.
  assert.deepEqual(planRange(s, e, T0 + 3 * H), [
    { source: 'samples', from: s, to: T0 + 3 * H },
    { source: 'samples_1h', from: T0 + 3 * H, to: T0 + 5 * H },
    { source: 'samples_1m', from: T0 + 5 * H, to: T0 + 5 * H + 3 * M },
    { source: 'samples', from: T0 + 5 * H + 3 * M, to: e },
  ]);
  assert.deepEqual(planRange(s, s + 30_000, 0), [{ source: 'samples', from: s, to: s + 30_000 }]);
});

test('flame graphs over long ranges use the rollups and equal a raw read exactly', async () => {
  const ranges: Array<[number, number]> = [
    [T0, T0 + 6 * H],
    [T0 + 7 * M + 13_000, T0 + 5 * H + 3 * M + 500],
    [T0 + 59 * M + 59_999, T0 + 2 * H + 1],
    [T0 - 24 * H, T0 + 24 * H],
  ];
  for (const [start, end] of ranges) {
    for (const matchers of ['', 'service_name="api"', 'pod="b"', 'service_name=~"api|db", pod!="a"']) {
      const s = sel(matchers, start, end);
      const plan = await store.query.plan(s, ROLLUPS);
      assert.ok(plan.some((p) => p.source !== 'samples'), 'the rollups are used');
      const viaRollups = await store.query.mergeStacks(s, ROLLUPS);
      const raw = await store.query.mergeStacks(s, { rollups: false });
      assert.ok(raw.total !== 0);
      assert.equal(viaRollups.total, raw.total, `${matchers} ${start}-${end}`);
      assert.deepEqual(byStack(viaRollups), byStack(raw), `${matchers} ${start}-${end}`);
    }
  }
});

test('call-site filters and averages agree between rollups and raw rows', async () => {
  const s = sel('', T0 + 13 * M, T0 + 4 * H + 17 * M, { callSite: ['main', 'serve', 'render'] });
  const a = await store.query.mergeStacks(s, ROLLUPS);
  const b = await store.query.mergeStacks(s, { rollups: false });
  assert.ok(b.total > 0);
  assert.deepEqual(byStack(a), byStack(b));
  for (const stack of byStack(a).keys()) assert.match(stack, /(^|;)render;serve;main$/);
  const avg = sel('service_name="web"', T0, T0 + 3 * H);
  assert.deepEqual(byStack(await store.query.mergeStacks(avg, { aggregation: 'avg', ...ROLLUPS })), byStack(await store.query.mergeStacks(avg, { aggregation: 'avg', rollups: false })));
});

test('a store upgraded to rollups does not trust them for what came before', async () => {
  await store.connection.client.command({ query: `INSERT INTO ${store.schema.table('rollup_state')} (since) VALUES (fromUnixTimestamp64Milli(${T0 + 3 * H}))` });
  const fresh = new QueryEngine(store.connection.client, store.schema);
  const plan = await fresh.plan(sel('', T0, T0 + 6 * H), ROLLUPS);
  // Trusted from one hour after the recorded moment.
  assert.deepEqual(plan[0], { source: 'samples', from: T0, to: T0 + 4 * H });
  const s = sel('', T0, T0 + 6 * H);
  assert.equal((await fresh.mergeStacks(s, ROLLUPS)).total, (await fresh.mergeStacks(s, { rollups: false })).total);
});

test('a rollup bucket left short by a crash is read raw, so answers stay exact', async () => {
  const s = sel('service_name="web"', T0, T0 + 6 * H);
  const before = await store.query.mergeStacks(s, ROLLUPS);
  // What a process killed between the samples commit and its views would leave: the 1-hour
  // bucket at T0+2h and one minute inside T0+4h know nothing of the last profiles in them.
  await store.connection.client.command({
    query: `ALTER TABLE ${store.schema.table('samples_1h')} DELETE WHERE service = 'web' AND bucket = toDateTime(${(T0 + 2 * H) / 1000})`,
    clickhouse_settings: { mutations_sync: '2' },
  });
  await store.connection.client.command({
    query: `ALTER TABLE ${store.schema.table('samples_1m')} DELETE WHERE service = 'web' AND bucket = toDateTime(${(T0 + 4 * H + 5 * M) / 1000})`,
    clickhouse_settings: { mutations_sync: '2' },
  });
  const plan = await store.query.plan(s, ROLLUPS);
  assert.ok(plan.some((piece) => piece.source === 'samples' && piece.from === T0 + 2 * H && piece.to === T0 + 3 * H), JSON.stringify(plan));
  const after = await store.query.mergeStacks(s, ROLLUPS);
  assert.equal(after.total, before.total);
  assert.deepEqual(byStack(after), byStack(before));
  const raw = await store.query.mergeStacks(s, { rollups: false });
  assert.deepEqual(byStack(after), byStack(raw));
});

test('a profile stamped in the last half second of a bucket is counted in it, so the bucket is read from its rollup', async () => {
  // One profile 374 ms before the end of an hour: the bucket's check must find it among the raw
  // rows as the rollup does, or the whole hour is read raw for nothing.
  const at = T0 + 7 * H - 374;
  await writer.write({ ...cpuBatch('api', 'edge-1', at, NAMES, [Uint32Array.of(3, 2, 1)], [5]), tenant: 'edge' });
  await writer.flush();
  const s = { ...sel('', T0 + 6 * H, T0 + 7 * H), tenant: 'edge' };
  assert.deepEqual(await store.query.plan(s, ROLLUPS), [{ source: 'samples_1h', from: T0 + 6 * H, to: T0 + 7 * H }]);
  assert.equal((await store.query.mergeStacks(s, ROLLUPS)).total, 5);
});
