/**
 * The pipeline engine: ordered processors, fan-out and fan-in, drops, error isolation,
 * backpressure, and draining on shutdown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pipeline, fanOut } from '../../core/pipeline.ts';
import { processorOf, type Exporter } from '../../core/component.ts';
import type { Batch } from '../../core/model.ts';
import { TooManyRequestsError } from '../../core/errors.ts';

function batch(n: number, labels: Record<string, string> = {}): Batch {
  return {
    tenant: 'anonymous',
    labels: { __name__: 'process_cpu', service_name: `svc-${n}`, ...labels },
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

class Recorder implements Exporter {
  got: Batch[] = [];
  constructor(private readonly delayMs = 0, private readonly failOn?: (b: Batch) => boolean) {}
  async start() {}
  async shutdown() {}
  async consume(b: Batch) {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failOn?.(b)) throw new Error(`refused ${b.idempotencyKey}`);
    this.got.push(b);
  }
}

test('processors run in the order listed and their output reaches every exporter', async () => {
  const trail: string[] = [];
  const tag = (name: string) =>
    processorOf(async (b) => {
      trail.push(`${name}:${b.idempotencyKey}`);
      return { ...b, labels: { ...b.labels, path: `${b.labels.path ?? ''}/${name}` } };
    });
  const a = new Recorder();
  const b = new Recorder();
  const p = new Pipeline('profiles', [tag('first'), tag('second')], [a, b]);
  await p.consume(batch(1));
  assert.deepEqual(trail, ['first:k1', 'second:k1']);
  assert.equal(a.got[0].labels.path, '/first/second');
  assert.equal(b.got[0].labels.path, '/first/second');
});

test('a dropped batch resolves without reaching exporters', async () => {
  const out = new Recorder();
  const p = new Pipeline('profiles', [processorOf(async (b) => (b.labels.service_name === 'svc-2' ? null : b))], [out]);
  await Promise.all([p.consume(batch(1)), p.consume(batch(2)), p.consume(batch(3))]);
  assert.deepEqual(out.got.map((b) => b.idempotencyKey).sort(), ['k1', 'k3']);
  assert.equal(p.stats.dropped, 1);
});

test('an exporter error fails only its own batch, and the pipeline keeps working', async () => {
  const out = new Recorder(0, (b) => b.idempotencyKey === 'k2');
  const p = new Pipeline('profiles', [], [out]);
  const results = await Promise.allSettled([p.consume(batch(1)), p.consume(batch(2)), p.consume(batch(3))]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  await p.consume(batch(4));
  assert.deepEqual(out.got.map((b) => b.idempotencyKey).sort(), ['k1', 'k3', 'k4']);
});

test('a processor error fails only its own batch', async () => {
  const out = new Recorder();
  const p = new Pipeline('profiles', [processorOf(async (b) => { if (b.idempotencyKey === 'k1') throw new Error('bad'); return b; })], [out]);
  const results = await Promise.allSettled([p.consume(batch(1)), p.consume(batch(2))]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled']);
});

test('fan-out: a receiver in two pipelines feeds both; fan-in: two pipelines share one exporter', async () => {
  const shared = new Recorder();
  const onlyA = new Recorder();
  const a = new Pipeline('profiles/a', [processorOf(async (b) => ({ ...b, labels: { ...b.labels, via: 'a' } }))], [shared, onlyA]);
  const b = new Pipeline('profiles/b', [processorOf(async (x) => ({ ...x, labels: { ...x.labels, via: 'b' } }))], [shared]);
  await fanOut([a, b]).consume(batch(1));
  assert.deepEqual(shared.got.map((x) => x.labels.via).sort(), ['a', 'b']);
  assert.deepEqual(onlyA.got.map((x) => x.labels.via), ['a']);
});

test('backpressure: a slow exporter bounds the batches in flight, and the rest wait', async () => {
  const slow = new Recorder(30);
  const p = new Pipeline('profiles', [], [slow], 4);
  let maxInFlight = 0;
  const timer = setInterval(() => (maxInFlight = Math.max(maxInFlight, p.stats.inFlight)), 1);
  const all = Array.from({ length: 20 }, (_, i) => p.consume(batch(i)));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(p.stats.inFlight, 4);
  assert.ok(p.stats.waiting >= 15, `waiting: ${p.stats.waiting}`);
  await Promise.all(all);
  clearInterval(timer);
  assert.equal(slow.got.length, 20);
  assert.ok(maxInFlight <= 4, `max in flight ${maxInFlight}`);
});

test('memory stays bounded: past the waiting limit, batches are refused with a retryable 429', async () => {
  const slow = new Recorder(30);
  const p = new Pipeline('profiles', [], [slow], 2, 3);
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => p.consume(batch(i))));
  const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
  assert.equal(refused.length, 3);
  for (const e of refused) {
    assert.ok(e instanceof TooManyRequestsError);
    assert.equal(e.status, 429);
    assert.ok(e.retryAfter! > 0);
  }
  assert.equal(slow.got.length, 5);
  assert.equal(p.stats.rejected, 3);
});

test('drain waits for in-flight batches and then refuses new ones', async () => {
  const slow = new Recorder(50);
  const p = new Pipeline('profiles', [], [slow]);
  const pending = [p.consume(batch(1)), p.consume(batch(2))];
  await new Promise((r) => setTimeout(r, 5));
  await p.drain();
  assert.equal(slow.got.length, 2);
  await Promise.all(pending);
  await assert.rejects(p.consume(batch(3)), /shut down/);
});
