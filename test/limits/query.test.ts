/**
 * Query limits and the query attacks of the security review, through a real Hearth: bounded
 * ranges, times, steps, series and nodes; a disconnected client's query is cancelled; /healthz
 * answers while a heavy query runs; AnalyzeQuery refuses a broken selector and counts only the
 * caller's data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { matcherSets } from '../../api/selection.ts';
import { deepProfile, eventually, ingest, ingestRetrying, labelledProfile, querier, startLimitsHearth, type LimitsHearth } from './harness.ts';

const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

describe('query limits', () => {
  let h: LimitsHearth;
  let url: string;
  const now = Date.now();
  before(async () => {
    h = await startLimitsHearth(
      {},
      {
        narrow: { max_query_length: '1h', max_series_per_query: 5, max_flamegraph_nodes_max: 100 },
        heavy: { query_timeout: '3s' },
        gone: { query_timeout: '8s' },
        recent: { max_query_lookback: '1h' },
      },
    );
    url = h.hearth.url;
    for (let i = 0; i < 10; i++) assert.equal((await ingest(url, 'many', labelledProfile([{ pod: `p${i}` }]), 'narrow')).status, 200);
  });
  after(async () => h?.close());

  const render = (query: Record<string, string>, tenant = 'anonymous') =>
    fetch(`${url}/pyroscope/render?${new URLSearchParams(query)}`, { headers: { 'X-Scope-OrgID': tenant } });

  test('render over ±250,000 years and from=now-1000000y: 400, not a frozen server', async () => {
    const wide = await render({ query: `${CPU}{}`, from: 'now-250000y', until: 'now+250000y' });
    assert.equal(wide.status, 400, await wide.text());
    const far = await render({ query: `${CPU}{}`, from: 'now-1000000y' });
    assert.equal(far.status, 400);
    assert.match(await far.text(), /from must be a Unix time/);
  });

  test('a range from 1970 to the year 2286 (end 9999999999999 ms) is answered, past the rollups\' DateTime', async () => {
    assert.equal((await ingest(url, 'far', labelledProfile([{ pod: 'p1' }, { pod: 'p2' }]), 'far')).status, 200);
    const q = await querier(url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: '0', end: '9999999999999', maxNodes: '16' }, 'far');
    assert.equal(q.status, 200, q.body);
    assert.equal(JSON.parse(q.body).flamegraph.total, '20000000');
  });

  test('max_query_length: 400 naming the limit, on render and querier', async () => {
    const r = await render({ query: `${CPU}{}`, from: 'now-2h' }, 'narrow');
    assert.equal(r.status, 400);
    assert.match(await r.text(), /max_query_length exceeded/);
    const q = await querier(url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: String(now - 7_200_000), end: String(now) }, 'narrow');
    assert.equal(q.status, 400, q.body);
    assert.match(q.body, /max_query_length exceeded/);
  });

  test('max_query_lookback: an older start moves up to it; a range entirely older is refused', async () => {
    assert.equal((await ingest(url, 'recent', deepProfile(3), 'recent')).status, 200);
    const clamped = await render({ query: `${CPU}{service_name="recent"}`, from: 'now-3h', until: 'now+1m' }, 'recent');
    assert.equal(clamped.status, 200);
    const fb = await clamped.json();
    assert.equal(fb.flamebearer.numTicks, 10_000_000);
    // The timeline starts at the lookback, not three hours ago.
    assert.ok(fb.timeline.startTime * 1000 >= Date.now() - 3_600_000 - 60_000, String(fb.timeline.startTime));
    const old = await render({ query: `${CPU}{}`, from: 'now-5h', until: 'now-3h' }, 'recent');
    assert.equal(old.status, 400);
    assert.match(await old.text(), /max_query_lookback exceeded/);
  });

  test('int64 extremes and times beyond ±2^53 ms: invalid_argument, not internal', async () => {
    for (const [start, end] of [
      ['-9223372036854775808', '9223372036854775807'],
      ['0', '9223372036854775807'],
      [String(2 ** 53 + 10), String(2 ** 53 + 20)],
    ]) {
      const q = await querier(url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start, end });
      assert.equal(q.status, 400, `${start}..${end}: ${q.body}`);
      const names = await querier(url, 'LabelNames', { start, end });
      assert.equal(names.status, 400, `${start}..${end}: ${names.body}`);
    }
  });

  test('a malformed binary Connect body: invalid_argument (400), not internal', async () => {
    for (const method of ['LabelNames', 'SelectMergeStacktraces', 'Series']) {
      const r = await fetch(`${url}/querier.v1.QuerierService/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/proto' },
        body: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x05, 0x61]),
      });
      const body = await r.text();
      assert.equal(r.status, 400, `${method}: ${body}`);
      assert.match(body, /invalid_argument/);
    }
  });

  test('SelectSeries with step 1e20 or a step too small for the range: 400', async () => {
    const base = { profileTypeID: CPU, labelSelector: '{}', start: String(now - 3_600_000), end: String(now) };
    const huge = await querier(url, 'SelectSeries', { ...base, step: 1e20 });
    // A step longer than the range is one point: answered.
    assert.equal(huge.status, 200, huge.body);
    const tiny = await querier(url, 'SelectSeries', { ...base, start: String(now - 86_400_000), step: 1 });
    assert.equal(tiny.status, 400, tiny.body);
    assert.match(tiny.body, /points per series/);
    const nan = await querier(url, 'SelectSeries', { ...base, step: 'NaN' });
    assert.equal(nan.status, 400, nan.body);
  });

  test('=~"\\Qx" (valid unanchored, broken anchored): 400', async () => {
    const q = await querier(url, 'LabelNames', { matchers: ['{service_name=~"\\\\Qx"}'] });
    assert.equal(q.status, 400, q.body);
    assert.match(q.body, /invalid regex/);
    const s = await querier(url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{service_name=~"\\\\Qx"}', start: String(now - 60_000), end: String(now) });
    assert.equal(s.status, 400, s.body);
  });

  test('Series {} over more series than max_series_per_query: refused naming the limit', async () => {
    const r = await querier(url, 'Series', { matchers: ['{}'] }, 'narrow');
    // 422 has no Connect code: it is invalid_argument (HTTP 400) there, as the query cannot succeed as sent.
    assert.equal(r.status, 400, r.body);
    assert.equal(JSON.parse(r.body).code, 'invalid_argument');
    assert.match(r.body, /max_series_per_query exceeded/);
    const one = await querier(url, 'Series', { matchers: ['{pod="p1"}'] }, 'narrow');
    assert.equal(one.status, 200, one.body);
    assert.equal(JSON.parse(one.body).labelsSet.length, 1);
  });

  test('max_flamegraph_nodes_max: 400', async () => {
    const q = await querier(url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: String(now - 60_000), end: String(now + 60_000), maxNodes: '1000' }, 'narrow');
    assert.equal(q.status, 400, q.body);
    assert.match(q.body, /max_flamegraph_nodes_max exceeded/);
  });

  test('LabelNames with 100 copies of {} asks the store once', async () => {
    assert.equal(matcherSets(Array(100).fill('{}')).length, 1);
    assert.equal(matcherSets([...Array(50).fill('{a="1", b="2"}'), ...Array(50).fill('{b="2",a="1"}')]).length, 1);
    const r = await querier(url, 'LabelNames', { matchers: Array(100).fill('{}') }, 'narrow');
    assert.equal(r.status, 200, r.body);
    assert.ok(JSON.parse(r.body).names.includes('pod'));
  });

  test('AnalyzeQuery refuses query "}" and counts only the tenant\'s own bytes', async () => {
    const bad = await querier(url, 'AnalyzeQuery', { query: '}', start: String(now - 3_600_000), end: String(now + 60_000) });
    assert.equal(bad.status, 400, bad.body);
    const analyze = async () => {
      const r = await querier(url, 'AnalyzeQuery', { query: '{}', start: String(now - 1_800_000), end: String(now + 1_200_000) }, 'narrow');
      assert.equal(r.status, 200, r.body);
      return JSON.parse(r.body);
    };
    const before = await analyze();
    // Another tenant stores much more; the caller's figures must not move.
    for (let i = 0; i < 5; i++) assert.equal((await ingest(url, 'other', deepProfile(200, 50, Date.now() + i), 'bulky')).status, 200);
    const after = await analyze();
    assert.deepEqual(after.queryImpact, before.queryImpact);
    assert.deepEqual(after.queryScopes, before.queryScopes);
    assert.ok(Number(before.queryImpact.totalBytesInTimeRange) > 0);
  });

  /** Enough rows (2,000) that a fourfold cross join of them runs for hours. */
  async function fill(tenant: string): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const p = deepProfile(100, 1, Date.now() - 60_000 + i * 1000);
      p.stacks = Array.from({ length: 100 }, (_, k) => Uint32Array.of(1 + k));
      p.samples = p.stacks.map((_, k) => ({ stack: k, values: [1000 + k + i * 100], labelSet: 0 }));
      assert.equal((await ingestRetrying(url, 'heavy', p, tenant)).status, 200);
    }
  }
  const HEAVY_SQL = 'SELECT count() FROM samples_flat AS a CROSS JOIN samples_flat AS b CROSS JOIN samples_flat AS c CROSS JOIN samples_flat AS d';
  const sql = (tenant: string, signal?: AbortSignal) =>
    fetch(`${url}/api/sql`, { method: 'POST', headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'text/plain' }, body: HEAVY_SQL, signal });

  test('query_timeout: a heavy query is stopped and refused with 422', async () => {
    await fill('heavy');
    const r = await sql('heavy');
    const body = await r.text();
    assert.equal(r.status, 422, body);
    assert.match(body, /query_timeout exceeded/);
  });

  test('a disconnected client\'s query is cancelled, and /healthz answers while it runs', async () => {
    await fill('gone');
    const controller = new AbortController();
    let settled = false;
    const heavy = sql('gone', controller.signal).then(
      async (r) => {
        settled = true;
        return r.status;
      },
      () => {
        settled = true;
        return 0;
      },
    );
    // Health while the heavy query is still running: ordering, not timing.
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(settled, false, 'the heavy query must still be running when /healthz answers');
    const marker = h.hearth.output().length;
    controller.abort();
    assert.equal(await heavy, 0);
    await eventually(async () => /query cancelled/.test(h.hearth.output().slice(marker)), 'the store query to be cancelled');
    // The store is free again: the next query of the tenant is answered.
    await eventually(async () => (await querier(url, 'LabelNames', {}, 'gone')).status === 200, 'the store to answer again', 60_000);
  });
});
