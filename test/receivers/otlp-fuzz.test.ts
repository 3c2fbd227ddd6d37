/**
 * Fuzzing the otlp receiver: at least 20,000 mutated OTLP requests (profiles and traces, binary
 * protobuf and JSON, some gzip) against the receiver's real routes, plus a few hundred over a real
 * socket. Every answer must be a 2xx or
 * a 4xx; no 5xx, no crash, and the receiver still serves a valid request afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { fromBinary, toBinary, toJson } from '@bufbuild/protobuf';
import { ExportProfilesServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { ExportTraceServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import { corpusFile, HAS_CORPUS } from '../support/corpus.ts';
import { startReceiver, type Harness } from './otlp-harness.ts';
import { richProfilesRequest, tracesFixture, v19Profile } from './otlp-support.ts';

const ITERATIONS = 20_000;
const CONCURRENCY = 8;

let seed = 0x2545f491;
function rand(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const INTERESTING = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53, -(2 ** 53), 1e300, 0.5, '18446744073709551615', '-9223372036854775809', 'x', '', null, true, [], {}];

/** Mutates one value somewhere in a parsed JSON tree. */
function mutateJson(root: unknown): unknown {
  const pick = (v: unknown, depth: number): unknown => {
    if (depth > 0 && (rand(4) === 0 || v === null || typeof v !== 'object')) {
      switch (rand(4)) {
        case 0:
          return INTERESTING[rand(INTERESTING.length)];
        case 1:
          return typeof v === 'string' ? v.slice(0, rand(v.length + 1)) + 'zz' : [v];
        case 2:
          return Array.isArray(v) ? [...v, ...v] : { value: v };
        default:
          return typeof v === 'number' ? v * 1000 + 7 : undefined;
      }
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return [INTERESTING[rand(INTERESTING.length)]];
      const out = [...v];
      const i = rand(out.length);
      out[i] = pick(out[i], depth + 1);
      return out;
    }
    const o = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(o);
    if (keys.length === 0) return o;
    const k = keys[rand(keys.length)];
    if (rand(10) === 0) delete o[k];
    else o[k] = pick(o[k], depth + 1);
    return o;
  };
  return pick(root, 0);
}

function mutateBytes(b: Uint8Array): Uint8Array {
  const out = Buffer.from(b);
  switch (rand(5)) {
    case 0: {
      for (let k = 1 + rand(4); k > 0; k--) out[rand(out.length)] ^= 1 << rand(8);
      return out;
    }
    case 1:
      return out.subarray(0, rand(out.length));
    case 2: {
      const at = rand(out.length);
      const junk = Buffer.from(Array.from({ length: 1 + rand(12) }, () => rand(256)));
      return Buffer.concat([out.subarray(0, at), junk, out.subarray(at)]);
    }
    case 3: {
      // Varints that claim huge lengths and indices.
      const at = rand(out.length);
      return Buffer.concat([out.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), out.subarray(at + 1)]);
    }
    default: {
      const a = rand(out.length);
      const len = rand(Math.min(64, out.length - a) + 1);
      return Buffer.concat([out, out.subarray(a, a + len)]);
    }
  }
}

interface Seed {
  path: string;
  contentType: string;
  bytes: Uint8Array;
  json?: unknown;
}

function seeds(): Seed[] {
  const now = BigInt(Date.now()) * 1_000_000n;
  const profiles = richProfilesRequest(now);
  const profilesJson = toJson(ExportProfilesServiceRequestSchema, profiles) as { dictionary: { linkTable: { traceId?: string; spanId?: string }[] } };
  // OTLP/JSON writes link IDs as hex, not protobuf's base64.
  for (const l of profilesJson.dictionary.linkTable) {
    if (l.traceId) l.traceId = Buffer.from(l.traceId, 'base64').toString('hex');
    if (l.spanId) l.spanId = Buffer.from(l.spanId, 'base64').toString('hex');
  }
  const traces = tracesFixture(now);
  const out: Seed[] = [
    { path: '/v1development/profiles', contentType: 'application/x-protobuf', bytes: toBinary(ExportProfilesServiceRequestSchema, profiles) },
    { path: '/v1development/profiles', contentType: 'application/json', bytes: Buffer.from(JSON.stringify(profilesJson)), json: profilesJson },
    { path: '/v1development/profiles', contentType: 'application/x-protobuf', bytes: v19Profile('fuzz', now).bytes },
    { path: '/v1/traces', contentType: 'application/x-protobuf', bytes: toBinary(ExportTraceServiceRequestSchema, traces.request) },
    { path: '/v1/traces', contentType: 'application/json', bytes: Buffer.from(traces.json), json: JSON.parse(traces.json) },
  ];
  if (HAS_CORPUS) {
    // A slice of the eBPF profiler's request: three resources and the whole dictionary.
    const full = fromBinary(ExportProfilesServiceRequestSchema, corpusFile('grafana-pyroscope/otel-ebpf-profile.pb.bin'));
    full.resourceProfiles = full.resourceProfiles.slice(0, 3);
    out.push({ path: '/v1development/profiles', contentType: 'application/x-protobuf', bytes: toBinary(ExportProfilesServiceRequestSchema, full) });
  }
  return out;
}

describe('otlp receiver fuzz', () => {
  let h: Harness;
  before(async () => {
    h = await startReceiver({ max_request_bytes: 4 * 1024 * 1024 });
  });
  after(async () => {
    await h.close();
  });

  test(`${ITERATIONS} mutated requests: no 5xx, no crash`, async () => {
    const all = seeds();
    const statuses = new Map<number, number>();
    const fiveHundreds: string[] = [];
    let next = 0;
    async function worker(): Promise<void> {
      while (next < ITERATIONS) {
        const n = next++;
        // The big corpus seed is slow to send; it gets a small share.
        const s = all[n % 50 === 0 && all.length > 5 ? 5 : rand(5)];
        let body: Uint8Array;
        if (s.json !== undefined && rand(3) > 0) body = Buffer.from(JSON.stringify(mutateJson(s.json)) ?? 'null');
        else body = mutateBytes(s.bytes);
        const headers: Record<string, string> = { 'Content-Type': s.contentType };
        if (rand(8) === 0) {
          headers['Content-Encoding'] = 'gzip';
          body = rand(4) === 0 ? mutateBytes(gzipSync(body)) : gzipSync(body);
        }
        // Injected into the server's request pipeline (routing, body parsing, error handling): the
        // same path a socket's request takes, without the sockets.
        const r = await h.app.inject({ method: 'POST', url: s.path, headers, payload: Buffer.from(body) });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode >= 500 && fiveHundreds.length < 5) fiveHundreds.push(`${r.statusCode} ${s.path} ${s.contentType}: ${r.body.slice(0, 300)}`);
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.equal(total, ITERATIONS);
    assert.deepEqual(fiveHundreds, [], `5xx answers: ${JSON.stringify([...statuses])}`);
    for (const status of statuses.keys()) assert.ok(status === 200 || (status >= 400 && status < 500), `status ${status}`);
    // Both refusals and acceptances happened, so the mutations reached past the first byte.
    assert.ok((statuses.get(200) ?? 0) > 100, JSON.stringify([...statuses]));
    assert.ok((statuses.get(400) ?? 0) > 1000, JSON.stringify([...statuses]));
    console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

    // A share over real sockets too, so connection handling sees broken bodies as well.
    for (let n = 0; n < 300; n++) {
      const s = all[rand(5)];
      const r = await fetch(`${h.url}${s.path}`, { method: 'POST', headers: { 'Content-Type': s.contentType }, body: new Blob([mutateBytes(s.bytes) as Uint8Array<ArrayBuffer>]) });
      await r.arrayBuffer();
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `status ${r.status}`);
    }

    h.profiles.length = 0;
    const ok = await fetch(`${h.url}/v1development/profiles`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Blob([all[0].bytes as Uint8Array<ArrayBuffer>]) });
    assert.equal(ok.status, 200);
    assert.equal(h.profiles.length, 1);
  });
});
