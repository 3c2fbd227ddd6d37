/**
 * Trace to profile, end to end, with real clients: the OpenTelemetry JS SDK sends a trace to
 * Hearth's OTLP receiver (`POST /v1/traces`, protobuf), and a Go program, running the work of
 * those spans under pprof.Do with their span IDs as labels (and no trace ID, as Pyroscope's
 * OpenTelemetry integration for Go labels samples), pushes its CPU profile to /ingest. The
 * trace's flame graph, its per-span totals and SelectMergeSpanProfile must all equal what the
 * pprof file holds, summed in the test from an independent decoding.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { context, trace, type Span } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { samplesOf, selfFromLevels, selfWhere, sumWhere, type ReferenceSamples } from '../support/pprof-reference.ts';
import { startHearth, tempDir, traceToProfileConfig, type HearthProcess } from '../support/hearth.ts';
import { GO_SKIP, goProfiles, ingestPprof, tenantHeader, transportFor } from '../api/harness.ts';

const TENANT = 'team-traces';
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';
/** The Go program's spans, in the order it runs them. */
const SPAN_NAMES = ['checkout', 'search', 'render'];

const tmp = tempDir('hearth-trace-e2e-');
let hearth: HearthProcess;
let ref: ReferenceSamples;
let traceId = '';
let rootId = '';
const childIds: string[] = [];


/** Sends spans with the SDK's OTLP exporter, retrying a failed export as an SDK's retry would. */
async function exportSpans(exporter: OTLPTraceExporter, spans: ReadableSpan[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const result = await new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => exporter.export(spans, resolve));
    if (result.code === ExportResultCode.SUCCESS) return;
    if (Date.now() > deadline) throw new Error(`the OTLP export kept failing: ${result.error?.message}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function getJson(path: string, tenant = TENANT): Promise<{ status: number; body: any }> {
  const r = await fetch(hearth.url + path, { headers: { 'X-Scope-OrgID': tenant } });
  return { status: r.status, body: await r.json() };
}

before(async () => {
  if (GO_SKIP) return;
  hearth = await startHearth(traceToProfileConfig(join(tmp.dir, 'data')), tmp.dir);
  const recorded = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'goapp-frontend' }),
    spanProcessors: [new SimpleSpanProcessor(recorded)],
  });
  const tracer = provider.getTracer('trace-to-profile-test');
  // The root span is the request; each child is the span the Go program runs under pprof.Do.
  const root = tracer.startSpan('GET /work');
  const parent = trace.setSpan(context.active(), root);
  const children: Span[] = SPAN_NAMES.map((name) => tracer.startSpan(name, {}, parent));
  traceId = root.spanContext().traceId;
  rootId = root.spanContext().spanId;
  childIds.push(...children.map((c) => c.spanContext().spanId));
  // The samples get the SDK's span IDs and, as from Pyroscope's Go integration, no trace ID.
  const [{ bytes: pprof }] = await goProfiles(tmp.dir, 1, ['-trace-id', '-', ...childIds.flatMap((id) => ['-span-id', id])]);
  for (const c of children) c.end();
  root.end();
  await provider.forceFlush();
  ref = samplesOf(pprof);
  const exporter = new OTLPTraceExporter({ url: `${hearth.url}/v1/traces`, headers: { 'X-Scope-OrgID': TENANT } });
  await exportSpans(exporter, recorded.getFinishedSpans());
  await exporter.shutdown();
  await provider.shutdown();
  await ingestPprof(hearth.url, TENANT, 'goapp{env=e2e}', pprof);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

/** Index of a sample type in the pprof file. */
const typeIndex = (type: string) => ref.sampleTypes.findIndex((t) => t.type === type);
/** What the pprof file holds for samples labeled with one of the span IDs. */
const spanSum = (type: string, ids: string[]) => sumWhere(ref, typeIndex(type), (s) => ids.includes(s.labels.span_id ?? ''));

test('the trace flame graph holds exactly the samples of its spans', { skip: GO_SKIP }, async () => {
  const expected = spanSum('cpu', childIds);
  assert.ok(expected > 0, 'the Go program recorded CPU samples in its spans');
  // Work outside the spans is in the profile but not in the trace.
  assert.ok(sumWhere(ref, typeIndex('cpu')) > expected);
  const { status, body } = await getJson(`/api/v1/traces/${traceId}/flamegraph?profile_type=${CPU}`);
  assert.equal(status, 200);
  assert.equal(body.flamebearer.numTicks, expected);
  const self = selfWhere(ref, typeIndex('cpu'), (s) => childIds.includes(s.labels.span_id ?? ''));
  assert.deepEqual(Object.fromEntries(selfFromLevels(body.flamebearer.names, body.flamebearer.levels)), Object.fromEntries(self));
  const samples = await getJson(`/api/v1/traces/${traceId}/flamegraph?profile_type=${SAMPLES}`);
  assert.equal(samples.body.flamebearer.numTicks, spanSum('samples', childIds));
});

test('the trace lists its spans with the totals the pprof file holds for each', { skip: GO_SKIP }, async () => {
  const { status, body } = await getJson(`/api/v1/traces/${traceId}`);
  assert.equal(status, 200);
  const byId = new Map(body.spans.map((s: any) => [s.spanId, s]));
  assert.deepEqual([...byId.keys()].sort(), [rootId, ...childIds].sort());
  const root: any = byId.get(rootId);
  assert.equal(root.parentSpanId, '');
  assert.equal(root.name, 'GET /work');
  assert.equal(root.service, 'goapp-frontend');
  for (const type of [CPU, SAMPLES]) {
    const t = type === CPU ? 'cpu' : 'samples';
    assert.deepEqual(root.profiles[type], { self: 0, total: spanSum(t, childIds) }, type);
    childIds.forEach((id, i) => {
      const s: any = byId.get(id);
      assert.equal(s.name, SPAN_NAMES[i]);
      assert.equal(s.parentSpanId, rootId);
      assert.deepEqual(s.profiles[type] ?? { self: 0, total: 0 }, { self: spanSum(t, [id]), total: spanSum(t, [id]) }, `${type} ${s.name}`);
    });
  }
  const cpu = body.profileTypes.find((p: any) => p.id === CPU);
  assert.deepEqual(cpu, { id: CPU, total: spanSum('cpu', childIds), unattributed: 0 });
  // Another tenant does not see the trace.
  assert.equal((await getJson(`/api/v1/traces/${traceId}`, 'someone-else')).status, 404);
});

test('SelectMergeSpanProfile agrees with the trace routes', { skip: GO_SKIP }, async () => {
  const client = createClient(QuerierService, transportFor('Connect JSON', hearth.url));
  const now = Date.now();
  const base = { profileTypeID: CPU, labelSelector: '{service_name="goapp"}', start: BigInt(now - 3_600_000), end: BigInt(now + 60_000) };
  const all = await client.selectMergeSpanProfile({ ...base, spanSelector: childIds }, tenantHeader(TENANT));
  assert.equal(Number(all.flamegraph!.total), spanSum('cpu', childIds));
  for (const id of childIds) {
    const one = await client.selectMergeSpanProfile({ ...base, spanSelector: [id] }, tenantHeader(TENANT));
    assert.equal(Number(one.flamegraph!.total), spanSum('cpu', [id]));
  }
  // The samples carry no trace ID: trace_id_selector finds them through the stored spans.
  const byTrace = await client.selectMergeStacktraces({ ...base, traceIdSelector: [traceId] }, tenantHeader(TENANT));
  assert.equal(Number(byTrace.flamegraph!.total), spanSum('cpu', childIds));
});
