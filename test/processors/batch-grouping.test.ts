/**
 * The batch processor's grouping on its own: groups leave at send_batch_size or after the
 * timeout, split by metadata, every caller settles with its group's export (success or
 * failure), and a flush at shutdown sends what is held and passes later batches straight on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Batch } from '../../core/model.ts';
import type { Downstream, Processor } from '../../core/component.ts';
import { factory, type BatchProcessorConfig } from '../../processors/batch/index.ts';

function processor(overrides: Partial<BatchProcessorConfig>): Processor {
  const config = factory.schema.parse({ ...factory.defaultConfig(), ...overrides });
  return factory.create({ id: 'batch', logger: pino({ level: 'silent' }), metrics: new Registry() }, config);
}

function batch(n: number, tenant = 'a'): Batch {
  return {
    tenant,
    labels: { service_name: 'svc', __name__: 'process_cpu' },
    idempotencyKey: `k${n}`,
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 1,
      timeNanos: 0n,
      durationNanos: 0n,
      names: [''],
      stacks: [],
      samples: [],
      sampleLabelSets: [{}],
    },
  };
}

/** A downstream that records each group it is handed, by idempotency key. */
function recorder(fail?: Error): { next: Downstream<Batch>; groups: string[][] } {
  const groups: string[][] = [];
  return {
    groups,
    next: async (items) => {
      groups.push(items.map((b) => b.idempotencyKey));
      if (fail) throw fail;
    },
  };
}

test('a group leaves as soon as it reaches send_batch_size, and its callers settle then', async () => {
  const p = processor({ send_batch_size: 3, timeout: '1m' });
  const { next, groups } = recorder();
  let accepted = 0;
  const calls = [1, 2, 3].map((n) => p.hold!(batch(n), next, () => accepted++));
  await Promise.all(calls);
  assert.equal(accepted, 3);
  assert.deepEqual(groups, [['k1', 'k2', 'k3']]);
  await p.shutdown();
});

test('a partly filled group leaves after the timeout', async () => {
  const p = processor({ send_batch_size: 100, timeout: '50ms' });
  const { next, groups } = recorder();
  await Promise.all([p.hold!(batch(1), next, () => {}), p.hold!(batch(2), next, () => {})]);
  assert.deepEqual(groups, [['k1', 'k2']]);
  await p.shutdown();
});

test('metadata keys keep tenants in groups of their own', async () => {
  const p = processor({ send_batch_size: 2, timeout: '1m', metadata_keys: ['tenant'] });
  const { next, groups } = recorder();
  await Promise.all([
    p.hold!(batch(1, 'a'), next, () => {}),
    p.hold!(batch(2, 'b'), next, () => {}),
    p.hold!(batch(3, 'a'), next, () => {}),
    p.hold!(batch(4, 'b'), next, () => {}),
  ]);
  assert.deepEqual(groups.map((g) => g.join(',')).sort(), ['k1,k3', 'k2,k4']);
  await p.shutdown();
});

test('a failed export fails every caller of its group', async () => {
  const p = processor({ send_batch_size: 2, timeout: '1m' });
  const { next } = recorder(new Error('store down'));
  const results = await Promise.allSettled([p.hold!(batch(1), next, () => {}), p.hold!(batch(2), next, () => {})]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  await p.shutdown();
});

test('flush sends what is held at once, and later batches pass straight on', async () => {
  const p = processor({ send_batch_size: 100, timeout: '1m' });
  const { next, groups } = recorder();
  const held = [p.hold!(batch(1), next, () => {}), p.hold!(batch(2), next, () => {})];
  await p.flush!();
  await Promise.all(held);
  assert.deepEqual(groups, [['k1', 'k2']]);
  await p.hold!(batch(3), next, () => {});
  assert.deepEqual(groups, [['k1', 'k2'], ['k3']]);
  await p.shutdown();
});
