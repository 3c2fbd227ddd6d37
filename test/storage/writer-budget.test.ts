/**
 * The writer's byte budget: thousands of concurrent writes of sample-rich profiles hold no more
 * than the budget (plus one batch) in rows; beyond it writes wait, and those that waited too
 * long are refused with a retryable 503 and Retry-After. Retried as a client would, everything
 * is stored exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { UnavailableError } from '../../core/errors.ts';
import type { Batch } from '../../core/model.ts';
import { tempDir } from '../support/hearth.ts';
import { CPU, Sent, syntheticProfile } from '../support/synthetic-profiles.ts';

const tmp = tempDir('hearth-writer-budget-');
const logger = pino({ level: 'silent' });
let store: Store;

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'budget', retentionDays: 0 }, logger);
});
after(async () => {
  await store?.release();
  tmp.remove();
});

test('concurrent sample-rich writes stay within the byte budget; refusals are 503 with Retry-After; retries store everything once', async () => {
  const BUDGET = 4 * 1024 * 1024;
  const writer = store.createWriter({ flushIntervalMs: 50, maxRows: 100_000, maxConcurrentFlushes: 2, maxPendingBytes: BUDGET, maxWaitMs: 300 }, logger);
  const t0 = Date.now() - 3_600_000;
  const batches: Batch[] = Array.from({ length: 1000 }, (_, i) => ({
    tenant: 'anonymous',
    labels: { __name__: 'process_cpu', service_name: 'budget', pod: `p${i % 50}` },
    idempotencyKey: `budget-${i}`,
    profile: syntheticProfile(i + 1, t0 + i * 10, 1_500, false),
  }));
  const sent = new Sent();
  for (const b of batches) sent.add(b.profile);

  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, writer.pendingBytes)), 1);
  let refused = 0;
  let pending = batches;
  try {
    for (let round = 0; pending.length && round < 100; round++) {
      const results = await Promise.allSettled(pending.map((b) => writer.write(b)));
      const again: Batch[] = [];
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') return;
        assert.ok(r.reason instanceof UnavailableError, String(r.reason));
        assert.equal(r.reason.status, 503);
        assert.ok((r.reason.retryAfter ?? 0) >= 1);
        refused++;
        again.push(pending[i]);
      });
      pending = again;
    }
  } finally {
    clearInterval(sampler);
  }
  assert.equal(pending.length, 0, 'every write got through in the end');
  assert.ok(refused > 0, 'the budget made some writes wait too long');
  // One batch's rows can exceed what is left; never more than that.
  assert.ok(peak <= BUDGET + 1024 * 1024, `held ${peak} bytes with a budget of ${BUDGET}`);
  assert.equal(writer.pendingBytes, 0);

  const merged = await store.query.mergeStacks({ tenant: 'anonymous', profileType: CPU, matchers: [{ name: 'service_name', op: '=', value: 'budget' }], start: t0 - 1000, end: t0 + 60_000 }, { rollups: false });
  assert.equal(merged.total, sent.total);
});
