/**
 * The shipped pipelines.yaml takes OTLP with no config change: the otlp receiver is declared
 * on the Collector's standard ports, profiles go through spanlink into the store, and a traces
 * pipeline stores spans, so an SDK's trace and a Go program's span-labelled profile meet in
 * the trace-to-profile API.
 *
 * Only the listen addresses are moved to free loopback ports, since tests run side by side
 * and the standard ports may be taken on a developer's machine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { context, trace } from '@opentelemetry/api';
import { encodePprof } from '../../formats/pprof/encode.ts';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';

const shipped = readFileSync(fileURLToPath(new URL('../../pipelines.yaml', import.meta.url)), 'utf8');
const tmp = tempDir('hearth-shipped-otlp-');
const TENANT = 'shipped';
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
let hearth: HearthProcess;

function otlpHttpAddress(): string {
  const m = /"otlp_http_address":"[^"]*:(\d+)"/.exec(hearth.output());
  assert.ok(m, `no OTLP HTTP address in the log:\n${hearth.output().slice(0, 3000)}`);
  return `http://127.0.0.2:${m[1]}`;
}

before(async () => {
  const config = shipped
    .replace(/\n  clickhouse:\n    path: \.\/data\n/, `\n  clickhouse:\n    path: ${JSON.stringify(join(tmp.dir, 'data'))}\n`)
    .replace('endpoint: 0.0.0.0:4040', 'endpoint: 127.0.0.1:0')
    .replace('endpoint: 0.0.0.0:4317', 'endpoint: 127.0.0.1:0')
    .replace('endpoint: 0.0.0.0:4318', 'endpoint: 127.0.0.2:0');
  hearth = await startHearth(config, tmp.dir);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

test('the shipped config declares OTLP on the Collector ports, with profiles and traces pipelines', () => {
  const doc = parse(shipped);
  assert.equal(doc.receivers.otlp.protocols.grpc.endpoint, '0.0.0.0:4317');
  assert.equal(doc.receivers.otlp.protocols.http.endpoint, '0.0.0.0:4318');
  assert.ok(doc.service.pipelines.profiles.receivers.includes('otlp'));
  assert.ok(doc.service.pipelines.profiles.processors.includes('spanlink'));
  assert.deepEqual(doc.service.pipelines.traces.receivers, ['otlp']);
  // The Collector's advice: memory_limiter first in every pipeline.
  assert.equal(doc.service.pipelines.profiles.processors[0], 'memory_limiter');
  assert.equal(doc.service.pipelines.traces.processors[0], 'memory_limiter');
});

test('an SDK trace over OTLP and a span-labelled pprof meet in the trace API', async () => {
  const recorded = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    spanProcessors: [new SimpleSpanProcessor(recorded)],
  });
  const tracer = provider.getTracer('shipped-config-test');
  const root = tracer.startSpan('GET /cart');
  const child = tracer.startSpan('price', {}, trace.setSpan(context.active(), root));
  const traceId = root.spanContext().traceId;
  const spanId = child.spanContext().spanId;
  child.end();
  root.end();

  // A CPU profile whose samples carry the child's span ID as a pprof label, as Go's pprof.Do
  // writes it; spanlink must move it out of the series labels.
  const now = BigInt(Date.now()) * 1_000_000n;
  const pprof = encodePprof({
    sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    timeNanos: now - 10_000_000_000n,
    durationNanos: 10_000_000_000n,
    names: ['', 'main', 'price', 'idle'],
    stacks: [Uint32Array.of(2, 1), Uint32Array.of(3, 1)],
    samples: [
      { stack: 0, values: [70_000_000], labelSet: 1 },
      { stack: 1, values: [30_000_000], labelSet: 0 },
    ],
    sampleLabelSets: [{}, { span_id: spanId }],
  });
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(`${hearth.url}/ingest?name=shop&format=pprof&from=now-10s&until=now`, {
      method: 'POST',
      headers: { 'X-Scope-OrgID': TENANT },
      body: new Blob([pprof as Uint8Array<ArrayBuffer>]),
    });
    if ((r.status === 429 || r.status === 503) && attempt < 30) {
      await new Promise((res) => setTimeout(res, 1000));
      continue;
    }
    assert.equal(r.status, 200, await r.text());
    break;
  }

  const exporter = new OTLPTraceExporter({ url: `${otlpHttpAddress()}/v1/traces`, headers: { 'X-Scope-OrgID': TENANT } });
  const spans: ReadableSpan[] = recorded.getFinishedSpans();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const result = await new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => exporter.export(spans, resolve));
    if (result.code === ExportResultCode.SUCCESS) break;
    assert.ok(Date.now() < deadline, `the OTLP export kept failing: ${result.error?.message}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  await exporter.shutdown();
  await provider.shutdown();

  const headers = { 'X-Scope-OrgID': TENANT };
  const t = await fetch(`${hearth.url}/api/v1/traces/${traceId}`, { headers });
  assert.equal(t.status, 200, await t.clone().text());
  const body = (await t.json()) as { spans: Array<{ spanId: string; name: string }> };
  assert.deepEqual(body.spans.map((s) => s.name).sort(), ['GET /cart', 'price']);

  const fg = await fetch(`${hearth.url}/api/v1/traces/${traceId}/flamegraph?profile_type=${CPU}`, { headers });
  assert.equal(fg.status, 200, await fg.clone().text());
  const flame = (await fg.json()) as { flamebearer: { numTicks: number; names: string[] } };
  assert.equal(flame.flamebearer.numTicks, 70_000_000);
  assert.ok(flame.flamebearer.names.includes('price'));

  // The span ID is a per-sample field, not a series label.
  const names = await fetch(`${hearth.url}/pyroscope/label-values?label=span_id&from=0&until=now%2B1d`, { headers });
  assert.deepEqual(await names.json(), []);
});
