/**
 * Ingest limits through a real Hearth: each refuses with its status and a message naming the
 * limit, sample labels count as series labels, and an overrides file change applies at run time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deepProfile, eventually, ingest, labelledProfile, querier, startLimitsHearth, type LimitsHearth } from './harness.ts';

describe('ingest limits', () => {
  let h: LimitsHearth;
  let url: string;
  before(async () => {
    h = await startLimitsHearth(
      {},
      {
        small: { max_profile_size_bytes: 2000, max_profile_stacktrace_samples: 5, max_label_names_per_series: 6 },
        slow: { ingestion_rate_mb: 0.001, ingestion_burst_size_mb: 0.002 },
        old: { reject_older_than: '1h' },
        few: { max_global_series_per_tenant: 3 },
        shallow: { max_profile_stacktrace_depth: 4 },
      },
    );
    url = h.hearth.url;
  });
  after(async () => h?.close());

  test('100,000 distinct values of one sample label: 422 max_global_series_per_tenant, no series stored', async () => {
    const sets = Array.from({ length: 100_000 }, (_, i) => ({ request_id: `r${i}` }));
    const r = await ingest(url, 'cardinality', labelledProfile(sets), 'attack1');
    assert.equal(r.status, 422, r.body);
    assert.match(r.body, /max_global_series_per_tenant exceeded/);
    const values = await querier(url, 'LabelValues', { name: 'request_id' }, 'attack1');
    assert.equal(values.status, 200, values.body);
    assert.deepEqual(JSON.parse(values.body).names ?? [], []);
  });

  test('100,000 distinct sample label names: refused, LabelNames stays small', async () => {
    const sets = Array.from({ length: 100_000 }, (_, i) => ({ [`name_${i}`]: 'v' }));
    const r = await ingest(url, 'names', labelledProfile(sets), 'attack2');
    assert.equal(r.status, 422, r.body);
    assert.match(r.body, /max_global_series_per_tenant exceeded/);
    const names = await querier(url, 'LabelNames', {}, 'attack2');
    assert.equal(names.status, 200, names.body);
    assert.ok((JSON.parse(names.body).names ?? []).length < 20, names.body.slice(0, 300));
  });

  test('one sample with 300 labels of 10 KB names: 400 max_label_names_per_series', async () => {
    // 1,000 of them would be over the receiver's 4 MiB decoded-size limit before any label is read.
    const set: Record<string, string> = {};
    for (let i = 0; i < 300; i++) set[`${'n'.repeat(10_000)}${i}`] = 'v';
    const r = await ingest(url, 'wide', labelledProfile([set]), 'attack3');
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /max_label_names_per_series exceeded/);
  });

  test('a 10 KB sample label name: 400 max_label_name_length; a 10 KB value: max_label_value_length', async () => {
    const long = await ingest(url, 'longname', labelledProfile([{ ['x'.repeat(10_000)]: 'v' }]), 'attack4');
    assert.equal(long.status, 400, long.body);
    assert.match(long.body, /max_label_name_length exceeded/);
    const value = await ingest(url, 'longvalue', labelledProfile([{ k: 'v'.repeat(10_000) }]), 'attack4');
    assert.equal(value.status, 400, value.body);
    assert.match(value.body, /max_label_value_length exceeded/);
  });

  test('max_global_series_per_tenant counts series across uploads', async () => {
    const first = await ingest(url, 'few', labelledProfile([{ a: '1' }, { a: '2' }]), 'few');
    assert.equal(first.status, 200, first.body);
    // The same series again are no new series.
    assert.equal((await ingest(url, 'few', labelledProfile([{ a: '1' }, { a: '2' }]), 'few')).status, 200);
    const over = await ingest(url, 'few', labelledProfile([{ a: '3' }, { a: '4' }]), 'few');
    assert.equal(over.status, 422, over.body);
    assert.match(over.body, /max_global_series_per_tenant exceeded/);
    assert.equal((await ingest(url, 'few', labelledProfile([{ a: '3' }]), 'few')).status, 200);
  });

  test('max_profile_size_bytes: 413; max_profile_stacktrace_samples: 400', async () => {
    const big = await ingest(url, 'big', deepProfile(600), 'small');
    assert.equal(big.status, 413, big.body);
    assert.match(big.body, /max_profile_size_bytes exceeded/);
    const many = await ingest(url, 'many', deepProfile(2, 6), 'small');
    assert.equal(many.status, 400, many.body);
    assert.match(many.body, /max_profile_stacktrace_samples exceeded/);
  });

  test('ingestion_rate_mb: 429 with Retry-After once the burst is spent', async () => {
    let r;
    for (let i = 0; i < 20; i++) {
      r = await ingest(url, 'rate', deepProfile(200, 1, Date.now() + i), 'slow');
      if (r.status !== 200) break;
    }
    assert.equal(r!.status, 429, r!.body);
    assert.match(r!.body, /ingestion_rate_mb exceeded/);
    assert.ok(Number(r!.headers.get('retry-after')) >= 1);
  });

  test('reject_newer_than (default 10m) and reject_older_than: 400', async () => {
    const future = await ingest(url, 'future', deepProfile(3, 1, Date.now() + 3_600_000));
    assert.equal(future.status, 400, future.body);
    assert.match(future.body, /reject_newer_than exceeded/);
    const old = await ingest(url, 'old', deepProfile(3, 1, Date.now() - 2 * 3_600_000), 'old');
    assert.equal(old.status, 400, old.body);
    assert.match(old.body, /reject_older_than exceeded/);
    // Without the override the same old profile is taken.
    assert.equal((await ingest(url, 'old', deepProfile(3, 1, Date.now() - 2 * 3_600_000))).status, 200);
  });

  test('max_profile_stacktrace_depth truncates deeper stacks to their root-most frames', async () => {
    const r = await ingest(url, 'deep', deepProfile(10), 'shallow');
    assert.equal(r.status, 200, r.body);
    const fg = await querier(
      url,
      'SelectMergeStacktraces',
      { profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds', labelSelector: '{service_name="deep"}', start: String(Date.now() - 3_600_000), end: String(Date.now() + 60_000) },
      'shallow',
    );
    assert.equal(fg.status, 200, fg.body);
    const names: string[] = JSON.parse(fg.body).flamegraph.names;
    // Root first in deepProfile: f1 is the root, f10 the leaf.
    assert.deepEqual(names.filter((n) => n.startsWith('f')).sort(), ['f1', 'f2', 'f3', 'f4']);
  });

  test('an overrides file change applies without a restart', async () => {
    const set: Record<string, string> = {};
    for (let i = 0; i < 8; i++) set[`l${i}`] = 'v';
    assert.equal((await ingest(url, 'hot', labelledProfile([set]), 'hot')).status, 200);
    h.setOverrides({ hot: { max_label_names_per_series: 5 } });
    await eventually(async () => (await ingest(url, 'hot', labelledProfile([set]), 'hot')).status === 400, 'the lowered limit to apply');
    const r = await ingest(url, 'hot', labelledProfile([set]), 'hot');
    assert.match(r.body, /max_label_names_per_series exceeded/);
    h.setOverrides({ hot: { max_label_names_per_series: 50 } });
    await eventually(async () => (await ingest(url, 'hot', labelledProfile([set]), 'hot')).status === 200, 'the raised limit to apply');
  });
});
