/**
 * The trace-to-profile routes of the api extension on a running service: the spans of a trace
 * with per-span totals, the trace's flame graph in /pyroscope/render's shape, agreement with
 * SelectMergeSpanProfile, tenants apart, 404 for an unknown trace and 400 for a bad trace ID.
 * Spans and profiles are written into the service's store by the storage writers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { createClient } from '@connectrpc/connect';
import { builtinComponents } from '../../components.ts';
import { parseConfig } from '../../core/config.ts';
import { Service } from '../../core/service.ts';
import type { Batch, Span } from '../../core/model.ts';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { acquireStore, type Store } from '../../storage/store.ts';
import { SpanWriter } from '../../storage/span-writer.ts';
import { selfFromLevels } from '../support/pprof-reference.ts';
import { tempDir } from '../support/hearth.ts';
import { tenantHeader, transportFor } from './harness.ts';

const tmp = tempDir('hearth-traces-api-');
const logger = pino({ level: 'silent' });
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const UNKNOWN = 'ffffffffffffffffffffffffffffffff';
const ROOT = 'b7ad6b7169203331';
const DB = '00000000000000a1';
const RENDER = '00000000000000b2';
let service: Service;
let store: Store;
let url = '';
const now = Date.now();

function span(spanId: string, parentSpanId: string, name: string, startMs: number, durationMs: number, service = 'shop'): Span {
  return {
    traceId: TRACE,
    spanId,
    parentSpanId,
    serviceName: service,
    name,
    kind: 2,
    startNanos: BigInt(startMs) * 1_000_000n,
    durationNanos: BigInt(durationMs) * 1_000_000n,
    statusCode: 1,
    statusMessage: '',
    attributes: {},
  };
}

function profile(tenant: string, key: string, service: string, entries: Array<{ leaf: string; value: number; spanId?: string; traceId?: string }>): Batch {
  const names = ['', 'main', ...new Set(entries.map((e) => e.leaf))];
  return {
    tenant,
    labels: { __name__: 'process_cpu', service_name: service },
    idempotencyKey: key,
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: BigInt(now - 30_000) * 1_000_000n,
      durationNanos: 10_000_000_000n,
      names,
      stacks: entries.map((e) => Uint32Array.of(names.indexOf(e.leaf), 1)),
      samples: entries.map((e, i) => ({ stack: i, values: [e.value], labelSet: 0, spanId: e.spanId, traceId: e.traceId })),
      sampleLabelSets: [{}],
    },
  };
}

before(async () => {
  const data = join(tmp.dir, 'data');
  const config = parseConfig(
    `
receivers:
  pyroscope: {}
exporters:
  clickhouse:
    path: ${JSON.stringify(data)}
extensions:
  api: {}
service:
  extensions: [api]
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [clickhouse]
`,
    'traces-test.yaml',
    builtinComponents(),
  );
  service = new Service(config, { logger, endpoint: '127.0.0.1:0' });
  const { port } = await service.start();
  url = `http://127.0.0.1:${port}`;
  // The same store the service runs on (one per data directory and process).
  store = await acquireStore({ path: data, database: 'hearth', retentionDays: 0 }, logger);
  const spans = new SpanWriter(store.connection, store.schema, { flushIntervalMs: 10, maxRows: 1000 }, logger);
  const writer = store.createWriter({ flushIntervalMs: 10, maxRows: 1000, maxConcurrentFlushes: 1 }, logger);
  const t = now - 20_000;
  await spans.write({ tenant: 'team-a', idempotencyKey: 'a', spans: [span(ROOT, '', 'GET /cart', t, 900), span(DB, ROOT, 'SELECT cart', t + 100, 300, 'db'), span(RENDER, ROOT, 'render', t + 500, 300)] });
  // team-b has a trace with the same ID and different content.
  await spans.write({ tenant: 'team-b', idempotencyKey: 'b', spans: [span(ROOT, '', 'only in b', t, 50)] });
  await writer.write(
    profile('team-a', 'pa', 'shop', [
      { leaf: 'handle', value: 40, spanId: ROOT },
      { leaf: 'query', value: 25, spanId: DB, traceId: TRACE },
      { leaf: 'draw', value: 15, spanId: RENDER },
    ]),
  );
  await writer.write(profile('team-b', 'pb', 'shop', [{ leaf: 'b-work', value: 1000, spanId: ROOT }]));
  await Promise.all([spans.flush(), writer.flush()]);
});
after(async () => {
  await store?.release();
  await service?.shutdown();
  tmp.remove();
});

async function get(path: string, tenant?: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url + path, { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  return { status: r.status, body: await r.json() };
}

test('the spans of a trace with each span\'s self and subtree totals', async () => {
  const { status, body } = await get(`/api/v1/traces/${TRACE.toUpperCase()}`, 'team-a');
  assert.equal(status, 200);
  assert.equal(body.traceId, TRACE);
  assert.deepEqual(body.profileTypes, [{ id: CPU, total: 80, unattributed: 0 }]);
  assert.deepEqual(
    body.spans.map((s: any) => [s.spanId, s.parentSpanId, s.service, s.name, s.durationNanos, s.profiles[CPU]]),
    [
      [ROOT, '', 'shop', 'GET /cart', '900000000', { self: 40, total: 80 }],
      [DB, ROOT, 'db', 'SELECT cart', '300000000', { self: 25, total: 25 }],
      [RENDER, ROOT, 'shop', 'render', '300000000', { self: 15, total: 15 }],
    ],
  );
  assert.equal(body.spans[0].startTimeUnixNano, (BigInt(now - 20_000) * 1_000_000n).toString());
});

test('the flame graph of a trace is /pyroscope/render\'s JSON over the trace\'s samples', async () => {
  const { status, body } = await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=${CPU}`, 'team-a');
  assert.equal(status, 200);
  assert.equal(body.flamebearer.numTicks, 80);
  assert.deepEqual(Object.fromEntries(selfFromLevels(body.flamebearer.names, body.flamebearer.levels)), { handle: 40, query: 25, draw: 15 });
  // Every sample of team-a's service is in the trace, so /pyroscope/render over the same range answers the same.
  const render = await get(`/pyroscope/render?query=${encodeURIComponent(`${CPU}{service_name="shop"}`)}&from=${now - 3_600_000}&until=${now + 60_000}`, 'team-a');
  assert.equal(render.status, 200);
  assert.deepEqual(Object.keys(body).sort(), Object.keys(render.body).sort());
  assert.deepEqual(body.flamebearer, render.body.flamebearer);
  assert.deepEqual(body.metadata, render.body.metadata);
  // An explicit range that misses the profiles holds nothing.
  const early = await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=${CPU}&from=${now - 7_200_000}&until=${now - 3_600_000}`, 'team-a');
  assert.equal(early.status, 200);
  assert.equal(early.body.flamebearer.numTicks, 0);
});

test('SelectMergeSpanProfile agrees with the trace routes', async () => {
  const client = createClient(QuerierService, transportFor('Connect JSON', url));
  const base = { profileTypeID: CPU, labelSelector: '{}', start: BigInt(now - 3_600_000), end: BigInt(now + 60_000) };
  const all = await client.selectMergeSpanProfile({ ...base, spanSelector: [ROOT, DB, RENDER] }, tenantHeader('team-a'));
  assert.equal(Number(all.flamegraph!.total), 80);
  const { body } = await get(`/api/v1/traces/${TRACE}`, 'team-a');
  for (const s of body.spans) {
    const one = await client.selectMergeSpanProfile({ ...base, spanSelector: [s.spanId] }, tenantHeader('team-a'));
    assert.equal(Number(one.flamegraph!.total), s.profiles[CPU].self, s.name);
  }
  const byTrace = await client.selectMergeStacktraces({ ...base, traceIdSelector: [TRACE] }, tenantHeader('team-a'));
  assert.equal(Number(byTrace.flamegraph!.total), 80);
});

test('tenants are apart on both routes', async () => {
  const b = await get(`/api/v1/traces/${TRACE}`, 'team-b');
  assert.equal(b.status, 200);
  assert.deepEqual(b.body.spans.map((s: any) => [s.name, s.profiles[CPU]]), [['only in b', { self: 1000, total: 1000 }]]);
  const bf = await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=${CPU}`, 'team-b');
  assert.equal(bf.body.flamebearer.numTicks, 1000);
  assert.deepEqual(Object.fromEntries(selfFromLevels(bf.body.flamebearer.names, bf.body.flamebearer.levels)), { 'b-work': 1000 });
  for (const tenant of [undefined, 'team-c']) {
    assert.equal((await get(`/api/v1/traces/${TRACE}`, tenant)).status, 404);
    assert.equal((await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=${CPU}`, tenant)).status, 404);
  }
  assert.equal((await get(`/api/v1/traces/${TRACE}`, 'bad tenant!')).status, 400);
});

test('an unknown trace is a 404, a malformed trace ID or profile type a 400', async () => {
  const unknown = await get(`/api/v1/traces/${UNKNOWN}`, 'team-a');
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.message, /not found/);
  assert.equal((await get(`/api/v1/traces/${UNKNOWN}/flamegraph?profile_type=${CPU}`, 'team-a')).status, 404);
  for (const bad of ['xyz', TRACE.slice(1), TRACE + '0', '0'.repeat(32), 'g'.repeat(32), '%20'.repeat(3)]) {
    const r = await get(`/api/v1/traces/${bad}`, 'team-a');
    assert.equal(r.status, 400, bad);
    assert.match(r.body.message, /trace ID/);
    assert.equal((await get(`/api/v1/traces/${bad}/flamegraph?profile_type=${CPU}`, 'team-a')).status, 400, bad);
  }
  assert.match((await get(`/api/v1/traces/${TRACE}/flamegraph`, 'team-a')).body.message, /profile_type/);
  assert.equal((await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=cpu`, 'team-a')).status, 400);
  assert.equal((await get(`/api/v1/traces/${TRACE}/flamegraph?profile_type=${CPU}&from=yesterday`, 'team-a')).status, 400);
  assert.equal((await get(`/api/v1/traces/${TRACE}?from=now&until=now-1h`, 'team-a')).status, 400);
});
