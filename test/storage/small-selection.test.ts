/**
 * A selection of few stored profiles is read from raw rows even over a long range, where the
 * rollup path (check its buckets, then sum rollup rows) would cost more than the merge itself;
 * a larger one still uses the rollups, and both answer exactly what raw rows hold.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import type { Selection } from '../../storage/query.ts';
import type { Batch } from '../../core/model.ts';
import { tempDir } from '../support/hearth.ts';
import { cpuBatch, CPU } from '../support/synthetic-profiles.ts';

const tmp = tempDir();
const logger = pino({ level: 'silent' });
const H = 3_600_000;
// Rollups are trusted from an hour after the store recorded their views: the data comes later.
const T0 = Math.ceil((Date.now() + 2 * H) / H) * H;
let store: Store;

function batch(service: string, n: number): Batch {
  return cpuBatch(service, `${service}-${n}`, T0 + 7_000 + n * 7 * 60_000, ['', 'main', 'a', 'b'], [Uint32Array.of(2, 1), Uint32Array.of(3, 1)], [10 * (n + 1), 7]);
}

const sel = (service: string): Selection => ({
  tenant: 'anonymous',
  profileType: CPU,
  matchers: [{ name: 'service_name', op: '=', value: service }],
  start: T0,
  end: T0 + 3 * H,
});

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'hearth', retentionDays: 0 }, logger);
  const writer = store.createWriter({ flushIntervalMs: 10, maxRows: 10_000, maxConcurrentFlushes: 2 }, logger);
  await Promise.all([...Array.from({ length: 4 }, (_, n) => writer.write(batch('few', n))), ...Array.from({ length: 24 }, (_, n) => writer.write(batch('many', n)))]);
  await writer.flush();
});
after(async () => {
  await store.release();
  tmp.remove();
});

test('few profiles over a long range are read raw; more use the rollups; both are exact', async () => {
  const fewPlan = await store.query.plan(sel('few'), { rawBelowProfiles: 10 });
  assert.deepEqual(fewPlan, [{ source: 'samples', from: T0, to: T0 + 3 * H }]);
  const manyPlan = await store.query.plan(sel('many'), { rawBelowProfiles: 10 });
  assert.ok(manyPlan.some((p) => p.source !== 'samples'), JSON.stringify(manyPlan));
  for (const service of ['few', 'many']) {
    const planned = await store.query.mergeStacks(sel(service), { rawBelowProfiles: 10 });
    const raw = await store.query.mergeStacks(sel(service), { rollups: false });
    assert.ok(raw.total > 0);
    assert.equal(planned.total, raw.total, service);
    assert.deepEqual(planned.values.slice().sort(), raw.values.slice().sort(), service);
  }
  // With no threshold, even 4 profiles go through the rollups.
  assert.ok((await store.query.plan(sel('few'), { rawBelowProfiles: 0 })).some((p) => p.source !== 'samples'));
  // The default threshold reads a handful raw.
  assert.deepEqual(await store.query.plan(sel('few')), [{ source: 'samples', from: T0, to: T0 + 3 * H }]);
});
