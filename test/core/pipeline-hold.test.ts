/**
 * Holding processors in the pipeline engine: a processor that combines batches hands groups on,
 * each member's caller settles with its group (failure included), held batches free their
 * in-flight slot, exporters with consumeMany get a group at once, and drain waits for held ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pipeline } from '../../core/pipeline.ts';
import type { Batch } from '../../core/model.ts';
import type { Downstream, Exporter, Processor } from '../../core/component.ts';

function batch(n: number): Batch {
  return {
    tenant: 'anonymous',
    labels: { __name__: 'process_cpu', service_name: 'svc' },
    idempotencyKey: `k${n}`,
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 1,
      timeNanos: 0n,
      durationNanos: 0n,
      names: ['', 'main'],
      stacks: [Uint32Array.of(1)],
      samples: [{ stack: 0, values: [n], labelSet: 0 }],
      sampleLabelSets: [{}],
    },
  };
}

/** Holds batches until `release()` hands them on as one group. */
class Grouper implements Processor {
  held: Array<{ b: Batch; next: Downstream<Batch>; done: { resolve: () => void; reject: (e: unknown) => void } }> = [];
  async start() {}
  async shutdown() {}
  async process(b: Batch) {
    return b;
  }
  hold(b: Batch, next: Downstream<Batch>, accepted: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.held.push({ b, next, done: { resolve, reject } });
      accepted();
    });
  }
  async release(): Promise<void> {
    const all = this.held.splice(0);
    try {
      await all[0].next(all.map((h) => h.b));
      for (const h of all) h.done.resolve();
    } catch (e) {
      for (const h of all) h.done.reject(e);
    }
  }
}

class ManyRecorder implements Exporter {
  groups: Batch[][] = [];
  fail = false;
  async start() {}
  async shutdown() {}
  async consume(b: Batch) {
    this.groups.push([b]);
  }
  async consumeMany(bs: Batch[]) {
    if (this.fail) throw new Error('refused');
    this.groups.push(bs);
  }
}

test('held batches free their slots; the group reaches consumeMany at once; callers settle with it', async () => {
  const g = new Grouper();
  const out = new ManyRecorder();
  const p = new Pipeline('profiles', [g], [out], 2, 10);
  const calls = [1, 2, 3, 4, 5].map((n) => p.consume(batch(n)));
  await new Promise((r) => setImmediate(r));
  // Five held with two slots: holding does not count against the in-flight limit.
  assert.equal(g.held.length, 5);
  assert.equal(p.stats.inFlight, 0);
  assert.equal(p.stats.held, 5);
  let settled = false;
  void Promise.all(calls).then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'nobody is answered before the group is durable');
  await g.release();
  await Promise.all(calls);
  assert.deepEqual(out.groups.map((x) => x.map((b) => b.idempotencyKey)), [['k1', 'k2', 'k3', 'k4', 'k5']]);
  assert.equal(p.stats.held, 0);
  assert.equal(p.stats.consumed, 5);
});

test('a group that fails fails every member; drain waits for held batches', async () => {
  const g = new Grouper();
  const out = new ManyRecorder();
  out.fail = true;
  const p = new Pipeline('profiles', [g], [out]);
  const calls = [1, 2].map((n) => p.consume(batch(n)).then(() => 'ok', (e: Error) => e.message));
  await new Promise((r) => setImmediate(r));
  let drained = false;
  const drain = p.drain().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false);
  await g.release();
  assert.deepEqual(await Promise.all(calls), ['refused', 'refused']);
  await drain;
  assert.equal(p.stats.failed, 2);
});
