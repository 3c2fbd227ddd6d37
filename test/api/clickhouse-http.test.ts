/**
 * Hearth on a ClickHouse server connection (`url:`), the path a cluster deployment takes: the
 * exporter writes RowBinary over HTTP and the API reads over HTTP. The server is a test-only
 * HTTP front over chDB (test/support/clickhouse-http.ts) in this process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { startClickHouseHttp, type ClickHouseHttpFront } from '../support/clickhouse-http.ts';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { samplesOf, selfFromLevels, selfWhere, sumWhere, topN } from '../support/pprof-reference.ts';
import { GO_SKIP, goProfiles, ingestPprof, tenantHeader, transportFor } from './harness.ts';

const tmp = tempDir('hearth-chhttp-');
let front: ClickHouseHttpFront;
let hearth: HearthProcess;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

before(async () => {
  front = await startClickHouseHttp(join(tmp.dir, 'clickhouse'));
  hearth = await startHearth(
    `
receivers:
  pyroscope: {}
exporters:
  clickhouse:
    url: ${front.url}
    database: hearth_http
extensions:
  api:
    url: ${front.url}
    database: hearth_http
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [clickhouse]
`,
    tmp.dir,
  );
});
after(async () => {
  await hearth?.stop();
  await front?.close();
  tmp.remove();
});

async function render(query: string, from: number | string, until: number | string): Promise<{ flamebearer: { names: string[]; levels: number[][]; numTicks: number } }> {
  const r = await fetch(`${hearth.url}/pyroscope/render?query=${encodeURIComponent(query)}&from=${from}&until=${until}&maxNodes=65536`, { headers: { 'X-Scope-OrgID': 'http' } });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json() as never;
}

test('folded profiles go in over HTTP and come back with the same totals', async () => {
  const now = Math.floor(Date.now() / 1000);
  const body = 'main;handle;parse 30\nmain;handle;render 50\nmain;gc 20\n';
  const r = await fetch(`${hearth.url}/ingest?name=http-app.cpu&from=${now}&until=${now + 10}&sampleRate=100`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': 'http', 'Content-Type': 'text/plain' },
    body,
  });
  assert.equal(r.status, 200, await r.text());
  const fb = (await render(`${CPU}{service_name="http-app"}`, now - 60, now + 60)).flamebearer;
  // 100 samples at 100 Hz are one second of CPU.
  assert.equal(fb.numTicks, 1_000_000_000);
  const self = selfFromLevels(fb.names, fb.levels);
  assert.deepEqual(topN(self, 3), [['render', 500_000_000], ['parse', 300_000_000], ['gc', 200_000_000]]);
  assert.ok(front.stats.inserts > 0, 'the exporter inserted through the HTTP front');
});

test('Go CPU profiles: render and querier.v1 totals match the files', { skip: GO_SKIP }, async () => {
  const files = await goProfiles(tmp.dir, 2);
  for (const f of files) await ingestPprof(hearth.url, 'http', 'goapp', f.bytes);
  const refs = files.map((f) => samplesOf(f.bytes));
  const cpu = refs[0].sampleTypes.findIndex((t) => t.type === 'cpu');
  const total = refs.reduce((a, r) => a + sumWhere(r, cpu), 0);
  const from = Date.now() - 600_000;
  const until = Date.now() + 600_000;
  const fb = (await render(`${CPU}{service_name="goapp"}`, from, until)).flamebearer;
  assert.equal(fb.numTicks, total);
  const self = new Map<string, number>();
  for (const r of refs) for (const [k, v] of selfWhere(r, cpu)) self.set(k, (self.get(k) ?? 0) + v);
  assert.deepEqual(topN(selfFromLevels(fb.names, fb.levels), 5), topN(self, 5));

  const q = createClient(QuerierService, transportFor('Connect binary', hearth.url));
  const h = tenantHeader('http');
  const types = (await q.profileTypes({}, h)).profileTypes.map((t) => t.ID);
  assert.ok(types.includes(CPU));
  const spans = (await q.labelValues({ name: 'span_name', matchers: ['{service_name="goapp"}'] }, h)).names;
  assert.deepEqual(spans, ['checkout', 'render', 'search']);
  const checkout = await q.selectMergeStacktraces({ profileTypeID: CPU, labelSelector: '{span_name="checkout"}', start: BigInt(from), end: BigInt(until) }, h);
  assert.equal(Number(checkout.flamegraph!.total), refs.reduce((a, r) => a + sumWhere(r, cpu, (s) => s.labels.span_name === 'checkout'), 0));
});

test('errors from the server reach the client as ClickHouse errors', async () => {
  const r = await fetch(`${front.url}/?query=${encodeURIComponent('SELEC 1')}`, { method: 'POST' });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-clickhouse-exception-code'), '62');
  assert.match(await r.text(), /^Code: 62\. DB::Exception: Syntax error/);
});
