/**
 * The group frame of the batch encoding: several batches in one NATS message, read back as
 * they were, and bad frames refused with a 400 that says where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '../../core/errors.ts';
import type { Batch } from '../../core/model.ts';
import { decodeBatches, encodeBatch, encodeBatchGroup } from '../../formats/batch/index.ts';
import { syntheticProfile } from '../support/synthetic-profiles.ts';

function batch(i: number): Batch {
  return { tenant: `t${i % 2}`, labels: { __name__: 'process_cpu', service_name: 's' }, idempotencyKey: `k${i}`, profile: syntheticProfile(i, 1_700_000_000_000 + i) };
}

test('a group decodes to its batches in order; a single batch decodes to one', () => {
  const batches = [1, 2, 3].map(batch);
  const group = encodeBatchGroup(batches.map((b, i) => encodeBatch(b, { compressAbove: i === 1 ? 0 : undefined })));
  const back = decodeBatches(group);
  assert.equal(back.length, 3);
  back.forEach((b, i) => {
    assert.equal(b.idempotencyKey, batches[i].idempotencyKey);
    assert.equal(b.tenant, batches[i].tenant);
    assert.deepEqual(b.profile.samples, batches[i].profile.samples);
  });
  assert.equal(decodeBatches(encodeBatch(batch(4)))[0].idempotencyKey, 'k4');
});

test('truncated, padded and lying frames are refused with a 400', () => {
  const group = encodeBatchGroup([1, 2].map((i) => encodeBatch(batch(i))));
  for (const bad of [group.subarray(0, group.length - 3), Uint8Array.from([...group, 0]), Uint8Array.from([...group.subarray(0, 5), 0x7f, ...group.subarray(6)]), group.subarray(0, 5)]) {
    assert.throws(() => decodeBatches(bad), BadRequestError);
  }
  // Every prefix fails cleanly, never with anything but a 400.
  for (let n = 0; n < group.length; n++) assert.throws(() => decodeBatches(group.subarray(0, n)), BadRequestError);
});
