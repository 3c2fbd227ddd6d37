/**
 * The store on embedded ClickHouse: writes are idempotent, reads honour matchers with
 * Prometheus semantics, tenants are apart, and user text never becomes SQL.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import type { Writer } from '../../storage/writer.ts';
import type { Batch, Labels } from '../../core/model.ts';
import { parseSelector } from '../../core/selector.ts';
import { tempDir } from '../support/hearth.ts';
import { cpuProfile } from '../support/synthetic-profiles.ts';

const tmp = tempDir();
const logger = pino({ level: 'silent' });
let store: Store;
let writer: Writer;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'hearth', retentionDays: 0 }, logger);
  writer = store.createWriter({ flushIntervalMs: 20, maxRows: 10_000, maxConcurrentFlushes: 2 }, logger);
});
after(async () => {
  await writer.flush();
  await store.release();
  tmp.remove();
});

/** A profile with stacks main;a (value a) and main;b (value b), optional span on the b sample. */
function batch(key: string, labels: Labels, timeMs: number, a: number, b: number, opts: { tenant?: string; span?: string; sampleLabels?: Labels } = {}): Batch {
  return {
    tenant: opts.tenant ?? 'anonymous',
    labels: { __name__: 'process_cpu', ...labels },
    idempotencyKey: key,
    profile: cpuProfile(
      timeMs,
      ['', 'main', 'a', 'b'],
      [Uint32Array.of(2, 1), Uint32Array.of(3, 1)],
      [
        { stack: 0, values: [a], labelSet: 0 },
        { stack: 1, values: [b], labelSet: opts.sampleLabels ? 1 : 0, spanId: opts.span },
      ],
      opts.sampleLabels ? [{}, opts.sampleLabels] : [{}],
    ),
  };
}

function sel(matchers: string, extra: Partial<{ tenant: string; start: number; end: number; spanIds: string[] }> = {}) {
  return { tenant: 'anonymous', profileType: CPU, matchers: parseSelector(`{${matchers}}`).matchers, start: T0 - 3_600_000, end: T0 + 3_600_000, ...extra };
}

async function totalOf(matchers: string, extra = {}): Promise<number> {
  return (await store.query.mergeStacks(sel(matchers, extra))).total;
}

test('writes are committed once, however often a batch is delivered', async () => {
  const b = batch('once', { service_name: 'api', pod: 'api-1' }, T0, 10, 20);
  await Promise.all([writer.write(b), writer.write(b), writer.write(b)]);
  await writer.write(b);
  assert.equal(await totalOf('service_name="api"'), 30);
  assert.ok(writer.stats.duplicates >= 1);
});

test('stacks are merged across profiles and resolved to names, leaf first', async () => {
  await writer.write(batch('merge-1', { service_name: 'merge' }, T0, 1, 2));
  await writer.write(batch('merge-2', { service_name: 'merge' }, T0 + 10_000, 3, 4));
  const m = await store.query.mergeStacks(sel('service_name="merge"'));
  const byLeaf = new Map(m.stacks.map((s, i) => [m.names[s[0]], { value: m.values[i], root: m.names[s[s.length - 1]] }]));
  assert.deepEqual(byLeaf.get('a'), { value: 4, root: 'main' });
  assert.deepEqual(byLeaf.get('b'), { value: 6, root: 'main' });
  assert.equal(m.total, 10);
});

test('matchers follow Prometheus semantics: =, !=, =~, !~ and a missing label reads as ""', async () => {
  await writer.write(batch('m-1', { service_name: 'm', env: 'prod', pod: 'web-1' }, T0, 1, 0));
  await writer.write(batch('m-2', { service_name: 'm', env: 'dev', pod: 'web-2' }, T0, 10, 0));
  await writer.write(batch('m-3', { service_name: 'm', pod: 'db-1' }, T0, 100, 0));
  assert.equal(await totalOf('service_name="m", env="prod"'), 1);
  assert.equal(await totalOf('service_name="m", env!="prod"'), 110);
  assert.equal(await totalOf('service_name="m", pod=~"web-.*"'), 11);
  assert.equal(await totalOf('service_name="m", pod!~"web-.*"'), 100);
  assert.equal(await totalOf('service_name="m", env=""'), 100);
  // Regexes are anchored: "web" alone matches nothing.
  assert.equal(await totalOf('service_name="m", pod=~"web"'), 0);
});

test('sample labels become series labels; spans are kept per sample and can be selected', async () => {
  const span = '00000000000000ff';
  await writer.write(batch('span-1', { service_name: 'spans' }, T0, 5, 7, { span, sampleLabels: { endpoint: '/checkout' } }));
  assert.equal(await totalOf('service_name="spans", endpoint="/checkout"'), 7);
  assert.equal(await totalOf('service_name="spans"', { spanIds: [span] }), 7);
  assert.equal(await totalOf('service_name="spans"', { spanIds: ['0000000000000001'] }), 0);
  assert.deepEqual(await store.query.labelValues('anonymous', 'endpoint', [], T0 - 1000, T0 + 1000), ['/checkout']);
});

test('tenants never see each other', async () => {
  await writer.write(batch('tenant-a', { service_name: 'shared-name' }, T0, 1, 1, { tenant: 'team-a' }));
  await writer.write(batch('tenant-b', { service_name: 'shared-name' }, T0, 50, 50, { tenant: 'team-b' }));
  assert.equal(await totalOf('service_name="shared-name"', { tenant: 'team-a' }), 2);
  assert.equal(await totalOf('service_name="shared-name"', { tenant: 'team-b' }), 100);
  assert.equal(await totalOf('service_name="shared-name"'), 0);
  assert.deepEqual(await store.query.labelValues('team-a', 'service_name', [], T0 - 1000, T0 + 1000), ['shared-name']);
});

test('timelines bucket by step, group by a label, and average per profile', async () => {
  await writer.write(batch('tl-1', { service_name: 'tl', region: 'eu' }, T0, 1, 1));
  await writer.write(batch('tl-2', { service_name: 'tl', region: 'eu' }, T0 + 20_000, 2, 2));
  await writer.write(batch('tl-3', { service_name: 'tl', region: 'us' }, T0 + 20_000, 10, 10));
  const all = await store.query.timeline(sel('service_name="tl"'), 15);
  assert.deepEqual(all[0].points, [[T0, 2], [T0 + 15_000, 24]]);
  const grouped = await store.query.timeline(sel('service_name="tl"'), 60, { groupBy: ['region'] });
  assert.deepEqual(grouped.map((g) => [g.labels.region, g.points]), [['eu', [[T0, 6]]], ['us', [[T0, 20]]]]);
  const avg = await store.query.timeline(sel('service_name="tl"'), 60, { aggregation: 'avg' });
  assert.deepEqual(avg[0].points, [[T0, 26 / 3]]);
});

test('hostile matcher values are data, never SQL', async () => {
  await writer.write(batch('inj', { service_name: 'inj' }, T0, 1, 1));
  const hostile = ["') OR 1=1 --", "' OR '1'='1", '\\\\', '"; DROP TABLE hearth.samples; --', "\\' OR 1=1"];
  for (const v of hostile) {
    const m = [{ name: 'service_name', op: '=' as const, value: v }];
    assert.equal((await store.query.mergeStacks({ ...sel(''), matchers: m })).total, 0, v);
    assert.deepEqual(await store.query.labelValues('anonymous', 'service_name', m, T0 - 1000, T0 + 1000), []);
    assert.equal((await store.query.mergeStacks({ ...sel(''), matchers: [{ name: v, op: '!=', value: 'x' }] })).total, 0 + (await totalOf('')), v);
  }
  assert.equal(await totalOf('service_name="inj"'), 2);
});

test('profile types, label names and values are listed per tenant', async () => {
  const types = await store.query.profileTypes('anonymous', T0 - 1000, T0 + 1000);
  assert.deepEqual(types, [CPU]);
  const names = await store.query.labelNames('anonymous', [], T0 - 1000, T0 + 1000);
  for (const n of ['service_name', 'pod', 'env', 'region', 'endpoint']) assert.ok(names.includes(n), n);
  const pods = await store.query.labelValues('anonymous', 'pod', parseSelector('{service_name="m"}').matchers, T0 - 1000, T0 + 1000);
  assert.deepEqual(pods, ['db-1', 'web-1', 'web-2']);
});
