/**
 * OTLP profiles end to end: the eBPF profiler's export request from the shared corpus goes into
 * a real Hearth over OTLP/HTTP (protobuf, JSON, gzip) and OTLP/gRPC; the totals read back per
 * service and profile type through /pyroscope/render must equal those computed from the same
 * file with generated protobuf types. A v1.9-layout profile is refused by default and stored
 * exactly by a receiver configured with `profiles_wire: v1.9`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fromBinary, fromJsonString } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { compressionGzip, createGrpcTransport } from '@connectrpc/connect-node';
import {
  ExportProfilesServiceRequestSchema,
  ProfilesService,
} from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { selfFromLevels } from '../support/pprof-reference.ts';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { expectedTotals, v19Profile } from './otlp-support.ts';

const BIN = 'grafana-pyroscope/otel-ebpf-profile.pb.bin';
const JSON_FILE = 'grafana-pyroscope/otel-ebpf-profile.pb.json';

function config(dataDir: string): string {
  return `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: {}
  otlp/v19:
    profiles_wire: v1.9
    protocols:
      http: { endpoint: 127.0.0.1:0 }
exporters:
  clickhouse:
    path: ${JSON.stringify(dataDir)}
extensions:
  api:
    path: ${JSON.stringify(dataDir)}
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [otlp, otlp/v19]
      exporters: [clickhouse]
`;
}

let hearth: HearthProcess;
const tmp = tempDir();

function addressOf(receiver: string, protocol: 'grpc' | 'http'): string {
  const re = new RegExp(`"receiver":"${receiver.replace('/', '\\/')}","otlp_${protocol}_address":"[^"]*:(\\d+)"`);
  const m = re.exec(hearth.output());
  assert.ok(m, `no otlp_${protocol}_address of ${receiver} in the log`);
  return `http://127.0.0.1:${m[1]}`;
}

/** POSTs like an OTLP exporter: retries what the spec calls retryable, honouring Retry-After. */
async function post(url: string, tenant: string, body: Uint8Array | string, contentType: string, gzip = false): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': contentType, 'X-Scope-OrgID': tenant };
  let payload = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  if (gzip) {
    headers['Content-Encoding'] = 'gzip';
    payload = gzipSync(payload);
  }
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(url, { method: 'POST', headers, body: new Blob([payload as Uint8Array<ArrayBuffer>]) });
    if (![429, 502, 503, 504].includes(r.status) || attempt >= 30) return r;
    await new Promise((resolve) => setTimeout(resolve, 1000 * Number(r.headers.get('retry-after') ?? 1)));
  }
}

async function profileTypes(tenant: string): Promise<string[]> {
  const r = await fetch(`${hearth.url}/pyroscope/label-values?label=__name__&from=0&until=now%2B1d`, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as string[];
}

async function services(tenant: string): Promise<string[]> {
  const r = await fetch(`${hearth.url}/pyroscope/label-values?label=service_name&from=0&until=now%2B1d`, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as string[]).sort();
}

async function render(tenant: string, query: string): Promise<{ names: string[]; levels: number[][]; numTicks: number }> {
  const url = `${hearth.url}/pyroscope/render?query=${encodeURIComponent(query)}&from=0&until=now%2B1d&maxNodes=1048576`;
  const r = await fetch(url, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number } }).flamebearer;
}

/** Every (service, type) of the reference is stored with its exact total, and nothing else is. */
async function assertStored(tenant: string, expected: Map<string, number>): Promise<void> {
  const wantTypes = [...new Set([...expected.keys()].map((k) => k.split('\t')[1]))].sort();
  const wantServices = [...new Set([...expected.keys()].map((k) => k.split('\t')[0]))].sort();
  assert.deepEqual((await profileTypes(tenant)).sort(), wantTypes);
  assert.deepEqual(await services(tenant), wantServices);
  for (const [key, total] of expected) {
    const [service, type] = key.split('\t');
    const fb = await render(tenant, `${type}{service_name="${service}"}`);
    assert.equal(fb.numTicks, total, `${type} of ${service}`);
  }
  // And no stray data: every type summed over all services matches too.
  for (const type of wantTypes) {
    let sum = 0;
    for (const [k, v] of expected) if (k.endsWith(`\t${type}`)) sum += v;
    assert.equal((await render(tenant, `${type}{}`)).numTicks, sum, `${type} over all services`);
  }
}

describe('OTLP profiles into a running Hearth', { skip: CORPUS_SKIP }, () => {
  let expected: Map<string, number>;

  before(async () => {
    hearth = await startHearth(config(join(tmp.dir, 'data')), tmp.dir);
    const fromBin = expectedTotals(fromBinary(ExportProfilesServiceRequestSchema, corpusFile(BIN)));
    const fromJson = expectedTotals(fromJsonString(ExportProfilesServiceRequestSchema, corpusFile(JSON_FILE).toString('utf8')));
    // The two files are the same request; the reference must agree with itself before it judges.
    assert.deepEqual([...fromJson].sort(), [...fromBin].sort());
    expected = fromBin;
    assert.ok(expected.size >= 2, 'the corpus request holds CPU and off-CPU profiles');
  });
  after(async () => {
    await hearth?.stop();
    tmp.remove();
  });

  test('OTLP/HTTP protobuf', async () => {
    const r = await post(`${hearth.url}/v1development/profiles`, 'http-pb', corpusFile(BIN), 'application/x-protobuf');
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
    assert.equal((await r.arrayBuffer()).byteLength, 0, 'no partial success for a fully accepted request');
    await assertStored('http-pb', expected);
  });

  test('OTLP/HTTP JSON', async () => {
    const r = await post(`${hearth.url}/v1development/profiles`, 'http-json', corpusFile(JSON_FILE).toString('utf8'), 'application/json');
    assert.equal(r.status, 200, await r.clone().text());
    assert.deepEqual(await r.json(), {});
    await assertStored('http-json', expected);
  });

  test('OTLP/HTTP gzip, protobuf and JSON', async () => {
    const a = await post(`${hearth.url}/v1development/profiles`, 'http-gz', corpusFile(BIN), 'application/x-protobuf', true);
    assert.equal(a.status, 200, await a.clone().text());
    await assertStored('http-gz', expected);
    const b = await post(`${hearth.url}/v1development/profiles`, 'http-gz-json', corpusFile(JSON_FILE).toString('utf8'), 'application/json', true);
    assert.equal(b.status, 200, await b.clone().text());
    await assertStored('http-gz-json', expected);
  });

  test('OTLP/gRPC, plain and gzip-compressed', async () => {
    const req = fromBinary(ExportProfilesServiceRequestSchema, corpusFile(BIN));
    for (const [tenant, compression] of [['grpc', undefined], ['grpc-gz', 'gzip']] as const) {
      const transport = createGrpcTransport({ baseUrl: addressOf('otlp', 'grpc'), sendCompression: compression === 'gzip' ? compressionGzip : undefined });
      const client = createClient(ProfilesService, transport);
      const res = await client.export(req, { headers: { 'X-Scope-OrgID': tenant } });
      assert.equal(res.partialSuccess, undefined);
      await assertStored(tenant, expected);
    }
  });

  test('a request sent again is stored once', async () => {
    const first = await post(`${hearth.url}/v1development/profiles`, 'again', corpusFile(BIN), 'application/x-protobuf');
    assert.equal(first.status, 200);
    const second = await post(`${hearth.url}/v1development/profiles`, 'again', corpusFile(BIN), 'application/x-protobuf');
    assert.equal(second.status, 200);
    await assertStored('again', expected);
  });

  test('a v1.9-layout profile is refused by default and stored exactly with profiles_wire: v1.9', async () => {
    const fx = v19Profile('legacy-sender', BigInt(Date.now() - 60_000) * 1_000_000n);
    const refused = await post(`${hearth.url}/v1development/profiles`, 'v19-default', fx.bytes, 'application/x-protobuf');
    assert.equal(refused.status, 400);
    assert.match(new TextDecoder().decode(await refused.arrayBuffer()), /attribute index \d+ is outside the attribute table/);
    assert.deepEqual(await profileTypes('v19-default'), []);

    const ok = await post(`${addressOf('otlp/v19', 'http')}/v1development/profiles`, 'v19', fx.bytes, 'application/x-protobuf');
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await profileTypes('v19'), ['cpu:cpu:nanoseconds:cpu:nanoseconds']);
    const fb = await render('v19', `cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="legacy-sender",thread_name="worker-1"}`);
    assert.equal(fb.numTicks, fx.total);
    assert.deepEqual(selfFromLevels(fb.names, fb.levels), fx.self);
  });
});
