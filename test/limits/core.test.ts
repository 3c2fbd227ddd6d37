/**
 * The pieces of core/limits on their own: the rate bucket, the overrides file at run time, and
 * the series count starting from what the store holds (across a restart of a real Hearth).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TenantOverrides } from '../../core/limits/overrides.ts';
import { IngestionRate } from '../../core/limits/rate.ts';
import { LimitExceededError } from '../../core/limits/errors.ts';
import { tempDir } from '../support/hearth.ts';
import { ingest, labelledProfile, startLimitsHearth } from './harness.ts';

describe('core limits', () => {
  test('the rate bucket: a burst, then 429 with the seconds to wait, then refilled', () => {
    let now = 0;
    const rate = new IngestionRate(() => now);
    rate.take('t', 600, 100, 1000);
    rate.take('t', 400, 100, 1000);
    assert.throws(
      () => rate.take('t', 300, 100, 1000),
      (e: unknown) => e instanceof LimitExceededError && e.status === 429 && e.limit === 'ingestion_rate_mb' && e.retryAfter === 3,
    );
    now += 3000;
    rate.take('t', 300, 100, 1000);
    // Another tenant has its own bucket.
    rate.take('u', 1000, 100, 1000);
    assert.throws(() => rate.take('t', 2000, 100, 1000), (e: unknown) => e instanceof LimitExceededError && e.limit === 'ingestion_burst_size_mb' && e.status === 413);
  });

  test('an overrides file: applied when it changes, a broken edit keeps what was in force', () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'overrides.yaml');
      writeFileSync(file, 'overrides:\n  a:\n    max_label_names_per_series: 5\n    query_timeout: 10s\n');
      const o = new TenantOverrides({ overridesFile: file });
      assert.equal(o.limitsFor('a').maxLabelNamesPerSeries, 5);
      assert.equal(o.limitsFor('a').queryTimeoutMs, 10_000);
      assert.equal(o.limitsFor('a').maxLabelValueLength, 2048);
      assert.equal(o.limitsFor('b').maxLabelNamesPerSeries, 30);
      writeFileSync(file, 'overrides:\n  a:\n    max_label_names_per_series: 7\n    unknown_limit: 1\n');
      assert.match(o.reload() ?? '', /unknown_limit/);
      assert.equal(o.limitsFor('a').maxLabelNamesPerSeries, 5);
      writeFileSync(file, 'overrides:\n  a:\n    max_label_names_per_series: 7\n    # a comment changes the size\n');
      assert.equal(o.reload(), undefined);
      assert.equal(o.limitsFor('a').maxLabelNamesPerSeries, 7);
      assert.equal(o.limitsFor('a').queryTimeoutMs, 60_000);
      writeFileSync(file, 'overrides: [1, 2');
      assert.ok(o.reload());
      assert.equal(o.limitsFor('a').maxLabelNamesPerSeries, 7);
      // A broken file at start stops the start.
      assert.throws(() => new TenantOverrides({ overridesFile: file }));
      assert.throws(() => new TenantOverrides({ overridesFile: join(tmp.dir, 'missing.yaml') }), /missing\.yaml/);
    } finally {
      tmp.remove();
    }
  });

  test('max_global_series_per_tenant counts the series stored before a restart', async () => {
    const tmp = tempDir('hearth-limits-restart-');
    try {
      const overrides = { few: { max_global_series_per_tenant: 2 } };
      let h = await startLimitsHearth({}, overrides, { dir: tmp.dir });
      assert.equal((await ingest(h.hearth.url, 'svc', labelledProfile([{ a: '1' }, { a: '2' }]), 'few')).status, 200);
      await h.close();
      h = await startLimitsHearth({}, overrides, { dir: tmp.dir });
      try {
        const again = await ingest(h.hearth.url, 'svc', labelledProfile([{ a: '1' }]), 'few');
        assert.equal(again.status, 200, again.body);
        const more = await ingest(h.hearth.url, 'svc', labelledProfile([{ a: '3' }]), 'few');
        assert.equal(more.status, 422, more.body);
        assert.match(more.body, /has 2 series/);
      } finally {
        await h.close();
      }
    } finally {
      tmp.remove();
    }
  });
});
