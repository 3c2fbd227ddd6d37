/**
 * OTLP codecs on their own: both encodings of the same request decode to the same profiles,
 * dictionary references resolve, older layouts are told apart or refused, limits hold before
 * anything is allocated, and traces decode the same from protobuf and JSON.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary, toJson } from '@bufbuild/protobuf';
import { ExportProfilesServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { ExportTraceServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import { ProtoWriter } from '../../formats/protobuf/writer.ts';
import {
  convertProfiles,
  decodeProfilesJson,
  decodeProfilesProto,
  decodeTracesJson,
  decodeTracesProto,
  OtlpDecodeError,
  profileKind,
} from '../../formats/otlp/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { richProfilesRequest, tracesFixture, v19Profile } from '../receivers/otlp-support.ts';

const NOW = 1_700_000_000_000_000_000n;
const opts = (bytes: Uint8Array) => ({ nowNanos: NOW, inputBytes: bytes.length });

describe('OTLP profiles codec', () => {
  test('the corpus request decodes to the same profiles from protobuf and from JSON', { skip: CORPUS_SKIP }, () => {
    const bin = corpusFile('grafana-pyroscope/otel-ebpf-profile.pb.bin');
    const json = corpusFile('grafana-pyroscope/otel-ebpf-profile.pb.json');
    const a = convertProfiles(decodeProfilesProto(bin), opts(bin));
    const b = convertProfiles(decodeProfilesJson(json), opts(json));
    assert.equal(a.rejected, 0);
    assert.equal(a.profiles.length, 82);
    assert.deepEqual(b, a);
    const names = new Set(a.profiles.map((p) => `${p.labels.__name__}:${p.profile.sampleTypes[0].type}:${p.profile.sampleTypes[0].unit}`));
    assert.deepEqual([...names].sort(), ['off_cpu:off_cpu:nanoseconds', 'process_cpu:cpu:nanoseconds']);
    // process.pid is on every resource and stays out of the series labels by default.
    assert.ok(a.profiles.every((p) => !('process_pid' in p.labels)));
    assert.ok(a.profiles.some((p) => p.labels.service_name === 'containerd' && p.labels.process_executable_path === '/usr/bin/containerd'));
  });

  test('profile types are named as Pyroscope names them', () => {
    const cpu = profileKind({ type: 'samples', unit: 'count' }, { type: 'cpu', unit: 'nanoseconds' }, 50_000_000);
    assert.deepEqual(cpu, { name: 'process_cpu', sampleType: { type: 'cpu', unit: 'nanoseconds' }, periodType: { type: 'cpu', unit: 'nanoseconds' }, multiplier: 50_000_000 });
    assert.equal(profileKind({ type: 'off_cpu', unit: 'nanoseconds' }, { type: '', unit: '' }, 0).name, 'off_cpu');
    assert.equal(profileKind({ type: 'alloc_space', unit: 'bytes' }, { type: 'space', unit: 'bytes' }, 524288).name, 'space');
    assert.equal(profileKind({ type: 'events', unit: 'count' }, { type: '', unit: '' }, 0).name, 'events');
  });

  test('the v1.9 layout reads correctly only when asked for', () => {
    const fx = v19Profile('old', NOW);
    const asDefault = convertProfiles(decodeProfilesProto(fx.bytes), opts(fx.bytes));
    assert.equal(asDefault.profiles.length, 0);
    assert.equal(asDefault.rejected, 1);
    const as19 = convertProfiles(decodeProfilesProto(fx.bytes, { wire: 'v1.9' }), opts(fx.bytes));
    assert.equal(as19.rejected, 0);
    const p = as19.profiles[0].profile;
    assert.equal(p.samples.reduce((a, s) => a + s.values[0], 0), fx.total);
    assert.deepEqual(as19.profiles[0].labels, { __name__: 'cpu', service_name: 'old' });
  });

  test('JSON: v1.8 names are read, layouts before v1.8 are refused by their keys', () => {
    const json = JSON.parse(Buffer.from(JSON.stringify(jsonOfRich())).toString()) as { resourceProfiles: { scopeProfiles: { profiles: Record<string, unknown>[] }[] }[] };
    const p = json.resourceProfiles[0].scopeProfiles[0].profiles[0];
    const modern = convertProfiles(decodeProfilesJson(Buffer.from(JSON.stringify(json))), opts(new Uint8Array(1000)));
    p.sample = p.samples;
    delete p.samples;
    const old = convertProfiles(decodeProfilesJson(Buffer.from(JSON.stringify(json))), opts(new Uint8Array(1000)));
    assert.deepEqual(old.profiles, modern.profiles);
    (p.sample as Record<string, unknown>[])[0].locationsStartIndex = 0;
    assert.throws(() => decodeProfilesJson(Buffer.from(JSON.stringify(json))), /v1\.7 or older/);
  });

  test('JSON and protobuf of the same request agree, links as hex', () => {
    const bin = toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(NOW));
    const fromBin = convertProfiles(decodeProfilesProto(bin), opts(bin));
    const fromJson = convertProfiles(decodeProfilesJson(Buffer.from(JSON.stringify(jsonOfRich()))), opts(bin));
    assert.deepEqual(fromJson, fromBin);
    assert.equal(fromBin.profiles[0].profile.samples[0].spanId, '00f067aa0ba902b7');
  });

  test('limits hold before decoding, and bad input throws OtlpDecodeError', () => {
    const big = new Uint8Array(2048);
    assert.throws(() => decodeProfilesProto(big, { maxBytes: 1024 }), (e: unknown) => e instanceof OtlpDecodeError && e.status === 413);
    assert.throws(() => decodeProfilesJson(big, { maxBytes: 1024 }), (e: unknown) => e instanceof OtlpDecodeError && e.status === 413);
    assert.throws(() => decodeProfilesProto(new Uint8Array([0x0a, 0x05, 0x01])), (e: unknown) => e instanceof OtlpDecodeError && e.status === 400);
    assert.throws(() => decodeProfilesJson(Buffer.from('[1]')), OtlpDecodeError);
    assert.throws(() => decodeTracesJson(Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}')), /traceId: expected 32 hex characters/);
  });

  test('attribute values nested without end are refused, not recursed into', () => {
    // A KeyValue whose value is an array holding an array holding … 10,000 levels deep.
    let inner = new ProtoWriter().finish();
    for (let i = 0; i < 10_000; i++) {
      const w = new ProtoWriter(inner.length + 16);
      w.begin(5).bytesField(1, inner).end();
      inner = w.finish().slice();
    }
    const w = new ProtoWriter(inner.length + 64);
    w.begin(1).begin(1).begin(1).stringField(1, 'k').bytesField(2, inner).end().end().end();
    assert.throws(() => decodeProfilesProto(w.finish()), /nest deeper than 16 levels/);
  });

  test('a stack deeper than the limit rejects its profile only', () => {
    const req = richProfilesRequest(NOW);
    req.dictionary!.stackTable[1].locationIndices = new Array(20_000).fill(1);
    const bin = toBinary(ExportProfilesServiceRequestSchema, req);
    const c = convertProfiles(decodeProfilesProto(bin), opts(bin));
    assert.equal(c.rejected, 2);
    assert.match(c.errors[0], /deeper than 16384 frames/);
  });
});

describe('OTLP traces codec', () => {
  test('protobuf and JSON decode to the same spans', () => {
    const fx = tracesFixture(NOW);
    const a = decodeTracesProto(toBinary(ExportTraceServiceRequestSchema, fx.request));
    const b = decodeTracesJson(Buffer.from(fx.json));
    assert.deepEqual(a.spans, fx.expected);
    assert.deepEqual(b, a);
    assert.equal(a.rejected, 1);
  });

  test('attributes are bounded in number and length', () => {
    const attrs = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: { stringValue: 'v'.repeat(5000) } }));
    const json = JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', name: 'x', kind: 'SPAN_KIND_SERVER', attributes: attrs }] }] }],
    });
    const [s] = decodeTracesJson(Buffer.from(json)).spans;
    assert.equal(Object.keys(s.attributes).length, 32);
    assert.equal(s.attributes.k0.length, 1024);
    assert.equal(s.kind, 2);
    assert.equal(s.serviceName, 'unknown_service');
  });
});

/** The rich request in OTLP/JSON: protobuf's JSON mapping, except link IDs, which OTLP writes as hex. */
function jsonOfRich(): unknown {
  const req = richProfilesRequest(NOW);
  const j = toJson(ExportProfilesServiceRequestSchema, req) as { dictionary: { linkTable: unknown[] } };
  j.dictionary.linkTable = req.dictionary!.linkTable.map((l) =>
    l.traceId.length === 0 ? {} : { traceId: Buffer.from(l.traceId).toString('hex'), spanId: Buffer.from(l.spanId).toString('hex') },
  );
  return j;
}
