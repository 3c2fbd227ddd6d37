/**
 * A flame graph's max_nodes cut done by the store gives the very flame graph that cutting the
 * whole merged tree gives, for any max_nodes: with real functions named `other`, with ties at
 * the threshold, with stacks without frames, averaged, and (through the whole-stacks path) with
 * negative values.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import type { Selection } from '../../storage/query.ts';
import type { Batch } from '../../core/model.ts';
import { toFlameGraph, type FlameGraph } from '../../formats/flamegraph/index.ts';
import { tempDir } from '../support/hearth.ts';
import { rng } from '../support/rng.ts';
import { cpuBatch, CPU } from '../support/synthetic-profiles.ts';

const tmp = tempDir();
const logger = pino({ level: 'silent' });
const T0 = Date.now() - 600_000;
let store: Store;

/** Profiles of random stacks over a small pool of names (one of them `other`), so paths share prefixes. */
function batches(service: string, profiles: number, stacksPer: number, value: (r: () => number) => number, seed: number): Batch[] {
  const r = rng(seed);
  const names = ['', 'main', 'other', ...Array.from({ length: 40 }, (_, i) => `pkg.fn${i}`)];
  return Array.from({ length: profiles }, (_, n) => {
    const stacks: Uint32Array[] = [];
    for (let k = 0; k < stacksPer; k++) {
      const depth = Math.floor(r() * 9);
      // Leaf first; most stacks start at main.
      const frames = Array.from({ length: depth }, () => 2 + Math.floor(r() ** 2 * (names.length - 2)));
      if (depth > 0 && r() < 0.9) frames[depth - 1] = 1;
      stacks.push(Uint32Array.from(frames));
    }
    return cpuBatch(service, `${service}-${n}`, T0 + n * 1000, names, stacks, stacks.map(() => value(r)));
  });
}

/**
 * Equal, except for rounding: an average divides each stack's value before the whole tree sums
 * them, where the store divides its exact sums.
 */
function assertSameFlameGraph(actual: FlameGraph, expected: FlameGraph, what: string): void {
  assert.deepEqual(actual.names, expected.names, what);
  assert.deepEqual(actual.levels.map((l) => l.length), expected.levels.map((l) => l.length), what);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
  actual.levels.forEach((l, i) => l.forEach((v, j) => assert.ok(close(v, expected.levels[i][j]), `${what}: level ${i} entry ${j}: ${v} vs ${expected.levels[i][j]}`)));
  assert.ok(close(actual.total, expected.total) && close(actual.maxSelf, expected.maxSelf), what);
}

const sel = (service: string): Selection => ({
  tenant: 'anonymous',
  profileType: CPU,
  matchers: [{ name: 'service_name', op: '=', value: service }],
  start: T0 - 60_000,
  end: T0 + 3_600_000,
});

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'hearth', retentionDays: 0 }, logger);
  const writer = store.createWriter({ flushIntervalMs: 10, maxRows: 10_000, maxConcurrentFlushes: 2 }, logger);
  await Promise.all(
    [
      ...batches('random', 12, 250, (r) => 1 + Math.floor(r() * 1000), 1),
      ...batches('ties', 4, 200, () => 1, 2),
      ...batches('negative', 3, 100, (r) => Math.floor(r() * 100) - 10, 3),
    ].map((b) => writer.write(b)),
  );
  await writer.flush();
});
after(async () => {
  await store.release();
  tmp.remove();
});

for (const service of ['random', 'ties', 'negative']) {
  test(`the store's cut equals the cut of the whole tree: ${service}`, async () => {
    for (const aggregation of ['sum', 'avg'] as const) {
      const whole = await store.query.mergeStacks(sel(service), { aggregation });
      assert.ok(whole.stacks.length > 50, `${service}: ${whole.stacks.length} stacks`);
      for (const maxNodes of [1, 2, 7, 40, 300, 1_000_000]) {
        const cut = await store.query.mergeStacks(sel(service), { aggregation, maxNodes });
        const what = `${service}, ${aggregation}, max_nodes ${maxNodes}`;
        assertSameFlameGraph(toFlameGraph(cut, maxNodes), toFlameGraph(whole, maxNodes), what);
        assert.ok(Math.abs(cut.total - whole.total) <= 1e-9 * Math.abs(whole.total), what);
        if (service === 'negative') {
          assert.equal(cut.precut, undefined, `${what}: negative values take the whole-stacks path`);
        } else {
          assert.equal(cut.precut, true, what);
          if (maxNodes <= 40 && service === 'random') assert.ok(cut.stacks.length < whole.stacks.length / 4, `${what}: ${cut.stacks.length} of ${whole.stacks.length}`);
        }
      }
    }
  });
}

test('an empty selection cuts to an empty flame graph', async () => {
  const cut = await store.query.mergeStacks(sel('nothing'), { maxNodes: 10 });
  assert.deepEqual(toFlameGraph(cut, 10), toFlameGraph(await store.query.mergeStacks(sel('nothing')), 10));
  assert.equal(cut.total, 0);
});
