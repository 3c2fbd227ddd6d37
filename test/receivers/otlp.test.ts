/**
 * The otlp receiver in process: what reaches the pipelines (profiles with their labels, sample
 * labels and span links; spans), partial success, and the status codes of the OTLP spec.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { TooManyRequestsError, UnavailableError } from '../../core/errors.ts';
import {
  ExportProfilesServiceRequestSchema,
  ExportProfilesServiceResponseSchema,
  ProfilesService,
} from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { ExportTraceServiceRequestSchema, TraceService } from '../../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startReceiver, type Harness } from './otlp-harness.ts';
import { richProfilesRequest, SPAN_ID, TRACE_ID, tracesFixture } from './otlp-support.ts';

const NOW = BigInt(Date.now()) * 1_000_000n;

async function post(url: string, body: Uint8Array | string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body: new Blob([(typeof body === 'string' ? Buffer.from(body) : body) as Uint8Array<ArrayBuffer>]) });
}

const PB = { 'Content-Type': 'application/x-protobuf' };

describe('otlp receiver', () => {
  let h: Harness;
  before(async () => {
    h = await startReceiver();
  });
  after(async () => {
    await h.close();
  });

  test('profiles: labels, sample labels, links, timestamps-only counts, and partial success for a bad profile', async () => {
    h.profiles.length = 0;
    const body = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
    const r = await post(`${h.url}/v1development/profiles`, body, { ...PB, 'X-Scope-OrgID': 'acme' });
    assert.equal(r.status, 200);
    const res = fromBinary(ExportProfilesServiceResponseSchema, new Uint8Array(await r.arrayBuffer()));
    assert.equal(res.partialSuccess?.rejectedProfiles, 1n);
    assert.match(res.partialSuccess!.errorMessage, /profiles\[1\]: stack index 99 is outside the stack table/);

    assert.equal(h.profiles.length, 1);
    const b = h.profiles[0];
    assert.equal(b.tenant, 'acme');
    assert.deepEqual(b.labels, { __name__: 'process_cpu', service_name: 'checkout', deployment_environment: 'prod', scope_kind: 'native' });
    const p = b.profile;
    assert.deepEqual(p.sampleTypes, [{ type: 'cpu', unit: 'nanoseconds' }]);
    assert.deepEqual(p.periodType, { type: 'cpu', unit: 'nanoseconds' });
    assert.equal(p.timeNanos, NOW);
    const samples = p.samples.map((s) => ({
      stack: [...p.stacks[s.stack]].map((i) => p.names[i]),
      value: s.values[0],
      labels: p.sampleLabelSets[s.labelSet],
      spanId: s.spanId,
      traceId: s.traceId,
    }));
    assert.deepEqual(samples, [
      // Three timestamps, no values: 3 × the 50 ms period.
      { stack: ['handle', 'main'], value: 150_000_000, labels: { thread_name: 'worker', process_context_label_route: '/pay' }, spanId: SPAN_ID, traceId: TRACE_ID },
      { stack: ['libc.so.6+0x1f00', 'main'], value: 50_000_000, labels: { thread_name: 'worker' }, spanId: undefined, traceId: undefined },
      // Values win over timestamps.
      { stack: ['handle', 'main'], value: 100_000_000, labels: {}, spanId: undefined, traceId: undefined },
    ]);
  });

  test('exclude_attributes decides which attributes stay out of labels', async () => {
    const h2 = await startReceiver({ exclude_attributes: ['cpu.logical_number'] });
    try {
      const body = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
      assert.equal((await post(`${h2.url}/v1development/profiles`, body, PB)).status, 200);
      const b = h2.profiles[0];
      assert.equal(b.labels.process_pid, '77');
      const p = b.profile;
      assert.deepEqual(p.sampleLabelSets[p.samples[0].labelSet], { thread_name: 'worker', thread_id: '4242', process_context_label_route: '/pay' });
    } finally {
      await h2.close();
    }
  });

  test('a retried request carries the same idempotency keys', async () => {
    h.profiles.length = 0;
    const body = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
    await post(`${h.url}/v1development/profiles`, body, PB);
    await post(`${h.url}/v1development/profiles`, gzipSync(body), { ...PB, 'Content-Encoding': 'gzip' });
    assert.equal(h.profiles.length, 2);
    assert.equal(h.profiles[0].idempotencyKey, h.profiles[1].idempotencyKey);
  });

  test('traces over protobuf, JSON and gRPC reach the traces pipeline decoded, a bad span refused alone', async () => {
    const fx = tracesFixture(NOW);
    const pb = toBinary(ExportTraceServiceRequestSchema, fx.request);
    for (const [body, ct] of [
      [pb, 'application/x-protobuf'],
      [fx.json, 'application/json'],
    ] as const) {
      h.traces.length = 0;
      const r = await post(`${h.url}/v1/traces`, body, { 'Content-Type': ct, 'X-Scope-OrgID': 'acme' });
      assert.equal(r.status, 200);
      if (ct === 'application/json') {
        const j = (await r.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
        assert.equal(j.partialSuccess.rejectedSpans, '1');
        assert.match(j.partialSuccess.errorMessage, /trace_id/);
      }
      assert.equal(h.traces.length, 1);
      assert.equal(h.traces[0].tenant, 'acme');
      assert.deepEqual(h.traces[0].spans, fx.expected);
    }
    h.traces.length = 0;
    const client = createClient(TraceService, createGrpcTransport({ baseUrl: h.url }));
    const res = await client.export(fx.request, { headers: { 'X-Scope-OrgID': 'acme' } });
    assert.equal(res.partialSuccess?.rejectedSpans, 1n);
    assert.deepEqual(h.traces[0].spans, fx.expected);
  });

  test("spans serialized by the OpenTelemetry JS SDK's own OTLP serializers (protobuf and JSON)", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'sdk-service', 'service.version': '1.2.3' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('otlp-test');
    tracer.startActiveSpan('parent', { kind: SpanKind.SERVER, attributes: { 'http.route': '/x', retries: 3, ok: true } }, (parent) => {
      const child = tracer.startSpan('child', { kind: SpanKind.CLIENT });
      child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
      child.end();
      parent.end();
    });
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 2);
    const toNanos = ([s, ns]: [number, number]) => BigInt(s) * 1_000_000_000n + BigInt(ns);
    const expected = spans.map((s) => ({
      traceId: s.spanContext().traceId,
      spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext?.spanId ?? '',
      serviceName: 'sdk-service',
      name: s.name,
      kind: s.kind + 1, // the API's enum starts at INTERNAL = 0; OTLP's at UNSPECIFIED = 0
      startNanos: toNanos(s.startTime),
      durationNanos: toNanos(s.endTime) - toNanos(s.startTime),
      statusCode: s.status.code,
      statusMessage: s.status.message ?? '',
    }));
    for (const [body, ct] of [
      [ProtobufTraceSerializer.serializeRequest(spans)!, 'application/x-protobuf'],
      [JsonTraceSerializer.serializeRequest(spans)!, 'application/json'],
    ] as const) {
      h.traces.length = 0;
      const r = await post(`${h.url}/v1/traces`, body, { 'Content-Type': ct });
      assert.equal(r.status, 200, await r.clone().text());
      const got = h.traces[0].spans;
      assert.deepEqual(
        got.map(({ attributes: _a, ...rest }) => rest),
        expected,
        ct,
      );
      const parent = got.find((s) => s.name === 'parent')!;
      assert.deepEqual(parent.attributes, { 'http.route': '/x', retries: '3', ok: 'true', 'service.version': '1.2.3', ...sdkResourceAttributes(got) });
    }
    await provider.shutdown();
  });

  test('profiles over gRPC, with partial success in the response', async () => {
    h.profiles.length = 0;
    const client = createClient(ProfilesService, createGrpcTransport({ baseUrl: h.url }));
    const res = await client.export(richProfilesRequest(NOW));
    assert.equal(res.partialSuccess?.rejectedProfiles, 1n);
    assert.equal(h.profiles.length, 1);
    assert.equal(h.profiles[0].tenant, 'anonymous');
  });

  test('status codes: 415, 400, 413, and the error body in the request encoding', async () => {
    const body = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
    const wrongType = await post(`${h.url}/v1development/profiles`, body, { 'Content-Type': 'text/plain' });
    assert.equal(wrongType.status, 415);
    assert.match(await wrongType.text(), /application\/x-protobuf or application\/json/);

    const garbage = await post(`${h.url}/v1development/profiles`, new Uint8Array([0x0a, 0xff, 0xff, 0x01]), PB);
    assert.equal(garbage.status, 400);
    assert.match(new TextDecoder().decode(await garbage.arrayBuffer()), /truncated protobuf/);

    const badJson = await post(`${h.url}/v1/traces`, '{"resourceSpans": [{"scopeSpans": 3}]}', { 'Content-Type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.deepEqual(await badJson.json(), { code: 3, message: 'resourceSpans[0].scopeSpans: expected a list' });

    const enc = await post(`${h.url}/v1/traces`, body, { ...PB, 'Content-Encoding': 'br' });
    assert.equal(enc.status, 415);

    const small = await startReceiver({ max_request_bytes: 1024 });
    try {
      const big = await post(`${small.url}/v1development/profiles`, new Uint8Array(4096), PB);
      assert.equal(big.status, 413);
      const bomb = await post(`${small.url}/v1development/profiles`, gzipSync(new Uint8Array(1 << 20)), { ...PB, 'Content-Encoding': 'gzip' });
      assert.equal(bomb.status, 413);
      assert.match(new TextDecoder().decode(await bomb.arrayBuffer()), /inflates to more than 1024 bytes/);
    } finally {
      await small.close();
    }
  });

  test('backpressure: 429 and 503 with Retry-After, RESOURCE_EXHAUSTED and UNAVAILABLE over gRPC', async () => {
    const body = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
    const client = createClient(ProfilesService, createGrpcTransport({ baseUrl: h.url }));
    for (const [err, status, code] of [
      [new TooManyRequestsError('too many batches waiting', 2), 429, Code.ResourceExhausted],
      [new UnavailableError('store down', 5), 503, Code.Unavailable],
    ] as const) {
      h.failWith(err);
      try {
        const r = await post(`${h.url}/v1development/profiles`, body, PB);
        assert.equal(r.status, status);
        assert.equal(r.headers.get('retry-after'), String(err.retryAfter));
        await assert.rejects(client.export(richProfilesRequest(NOW)), (e: unknown) => e instanceof ConnectError && e.code === code);
      } finally {
        h.failWith(undefined);
      }
    }
  });

  test('a signal no pipeline carries is refused', async () => {
    const only = await startReceiver({}, ['profiles']);
    try {
      const fx = tracesFixture(NOW);
      const r = await post(`${only.url}/v1/traces`, fx.json, { 'Content-Type': 'application/json' });
      assert.equal(r.status, 404);
      assert.match(((await r.json()) as { message: string }).message, /no traces pipeline/);
      const client = createClient(TraceService, createGrpcTransport({ baseUrl: only.url }));
      await assert.rejects(client.export(fx.request), (e: unknown) => e instanceof ConnectError && e.code === Code.Unimplemented);
    } finally {
      await only.close();
    }
  });
});

/** The SDK's default resource adds telemetry.sdk.* attributes; they are taken as they come. */
function sdkResourceAttributes(spans: { attributes: Record<string, string> }[]): Record<string, string> {
  return Object.fromEntries(Object.entries(spans[0].attributes).filter(([k]) => k.startsWith('telemetry.sdk.')));
}
