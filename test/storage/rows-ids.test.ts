/**
 * Function, stack, series and profile IDs are stored on disk and compared across processes and
 * versions: the same input must keep giving the same IDs and the same sample rows. The expected
 * values below were produced by the first release of the row encoder; a change here means stored
 * data would change meaning, which needs a versioned migration, not a new expected value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { batchToRows, newRowCaches, seriesFingerprint } from '../../storage/rows.ts';
import { hashString, IdSet } from '../../storage/ids.ts';
import type { Batch, Sample } from '../../core/model.ts';
import { rng } from '../support/rng.ts';
import { syntheticProfile } from '../support/synthetic-profiles.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('IDs and sample rows are what earlier versions stored', () => {
  assert.deepEqual(hashString('main.main'), { hi: 36726245, lo: 3741111882 });
  assert.deepEqual(seriesFingerprint('process_cpu:cpu:nanoseconds:cpu:nanoseconds', { service_name: 'svc', pod: 'a', __name__: 'process_cpu' }), {
    hi: 4113413815,
    lo: 3259086614,
  });
  const expected = [
    { spans: false, samples: '30c17d8bdbb6c39a6d876dd0d2ec9d42102cc16d03257505d4f198d9bd499188' },
    { spans: true, samples: '52843fbdbc1ecad464f94402ef78ef21008382f7de017247c12aa95f19d48afd' },
  ];
  for (const { spans, samples } of expected) {
    const t = Date.UTC(2026, 0, 1);
    const batch = { tenant: 't', labels: { __name__: 'process_cpu', service_name: 'svc' }, profile: syntheticProfile(3, t, 40, spans), idempotencyKey: 'key' };
    const r = batchToRows(batch, newRowCaches(t), t);
    assert.equal(sha(r.samples), samples, `sample rows, spans: ${spans}`);
    assert.equal(r.rowCount, 1);
    assert.deepEqual(r.profileId, { hi: 847273616, lo: 3507940326 });
    assert.deepEqual(r.stacks[0].id, { hi: 4151629725, lo: 3363983080 });
    assert.deepEqual(r.series[0].fingerprint, { hi: 3153008575, lo: 3582529588 });
    // The profile's forty stacks have five distinct contents and one function: each listed once.
    assert.equal(r.stacks.length, 5);
    assert.equal(r.functions.length, 1);
  }
});

/**
 * Three label sets, two sample types, zero and negative values, repeated samples, and span and
 * trace IDs valid and not: every path of the row encoder at once.
 */
function mixedBatch(): Batch {
  const random = rng(42);
  const t = Date.UTC(2026, 0, 1);
  const p = syntheticProfile(9, t, 60, true);
  const samples: Sample[] = [];
  p.samples.forEach((s, i) => {
    const r = random();
    const sample: Sample = { ...s, labelSet: Math.floor(random() * 3), values: [r < 0.1 ? 0 : r < 0.15 ? -5 : s.values[0], Math.floor(random() * 3)] };
    if (r > 0.7) sample.traceId = r > 0.9 ? 'zz' + 'a'.repeat(30) : Math.floor(random() * 4).toString(16).padStart(32, '0');
    if (r > 0.5 && r < 0.6) sample.spanId = 'not-hex';
    samples.push(sample);
    if (i % 5 === 0) samples.push({ ...sample });
  });
  return {
    tenant: 't',
    labels: { __name__: 'process_cpu', service_name: 'svc' },
    idempotencyKey: 'mixed',
    profile: { ...p, sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }, { type: 'samples', unit: 'count' }], sampleLabelSets: [{}, { pod: 'a' }, { pod: 'b', x: '1' }], samples },
  };
}

test('label sets, sample types, spans and traces give the rows earlier versions stored', () => {
  // Produced by the row encoder before its entries moved to an open-addressing table.
  const t = Date.UTC(2026, 0, 1);
  const r = batchToRows(mixedBatch(), newRowCaches(t), t);
  assert.equal(sha(r.samples), 'd326a7da14cb7d707b5d2cb11165abd6f62fdcbc2e1a4063269e199a7d33a7a1');
  assert.deepEqual([r.rowCount, r.stacks.length, r.functions.length, r.series.length], [6, 6, 2, 6]);
});

test('what the caches know is not listed again', () => {
  const t = Date.UTC(2026, 0, 1);
  const caches = newRowCaches(t);
  const batch = { tenant: 't', labels: { __name__: 'process_cpu', service_name: 'svc' }, profile: syntheticProfile(5, t, 40, true), idempotencyKey: 'k1' };
  const first = batchToRows(batch, caches, t);
  for (const f of first.functions) caches.functions.add(f.id);
  for (const s of first.stacks) caches.stacks.add(s.id);
  for (const s of first.series) caches.series.add(s.key);
  const again = batchToRows({ ...batch, idempotencyKey: 'k2' }, caches, t + 1000);
  assert.deepEqual([again.functions.length, again.stacks.length, again.series.length], [0, 0, 0]);
  // Another tenant's series is its own.
  assert.equal(batchToRows({ ...batch, tenant: 'u' }, caches, t).series.length, 1);
});

test('an ID set holds any 64-bit ID, grows, and starts over at its bound', () => {
  const s = new IdSet(5_000, 4);
  assert.equal(s.add({ hi: 0, lo: 0 }), true);
  assert.equal(s.has({ hi: 0, lo: 0 }), true);
  assert.equal(s.add({ hi: 0, lo: 0 }), false);
  for (let i = 1; i < 5_000; i++) s.add({ hi: i * 7919, lo: 0xffffffff - i });
  assert.equal(s.size, 5_000);
  for (let i = 1; i < 5_000; i++) assert.ok(s.has({ hi: i * 7919, lo: 0xffffffff - i }));
  assert.equal(s.has({ hi: 1, lo: 1 }), false);
  s.add({ hi: 1, lo: 1 });
  assert.equal(s.size, 1, 'full: started over');
  assert.equal(s.has({ hi: 0, lo: 0 }), false);
});
