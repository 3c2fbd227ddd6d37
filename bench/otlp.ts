/**
 * OTLP profile ingest: a load generator posts the eBPF profiler's export request (82 profiles
 * per request) to /v1development/profiles of a Hearth process; the baseline is the same samples,
 * one pprof profile per request, through the pprof /ingest path of the same process in the same
 * run. Rates count only 2xx answers, each of which means the data was committed.
 */
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ExportProfilesServiceRequestSchema } from '../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { AnyValueSchema, KeyValueSchema } from '../gen/opentelemetry/proto/common/v1/common_pb.ts';
import { convertProfiles, decodeProfilesProto } from '../formats/otlp/index.ts';
import { encodePprof } from '../formats/pprof/index.ts';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { startHearth, tempDir } from '../test/support/hearth.ts';
import type { BenchResult } from './ingest.ts';
import { loadGenerator } from './load-generator.ts';

const FILE = 'grafana-pyroscope/otel-ebpf-profile.pb.bin';
const VARIANTS = 64;
const CONCURRENCY = 32;
/** Each OTLP request carries 82 profiles: 3 clients keep about as many in flight as the pipeline admits (256). */
const OTLP_CONCURRENCY = 3;

function config(dataDir: string): string {
  return `
receivers:
  pyroscope: {}
  otlp:
    protocols:
      http: {}
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
      receivers: [pyroscope, otlp]
      exporters: [clickhouse]
`;
}

/** Copies of the request that differ in time and in one resource attribute, so none is a retry of another. */
function variants(raw: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const base = BigInt(Date.now() - 3_600_000) * 1_000_000n;
  for (let v = 0; v < VARIANTS; v++) {
    const req = fromBinary(ExportProfilesServiceRequestSchema, raw);
    for (const rp of req.resourceProfiles) {
      rp.resource?.attributes.push(create(KeyValueSchema, { key: 'bench.variant', value: create(AnyValueSchema, { value: { case: 'stringValue', value: `v${v}` } }) }));
      for (const sp of rp.scopeProfiles) for (const p of sp.profiles) p.timeUnixNano = base + BigInt(v) * 10_000_000_000n;
    }
    out.push(toBinary(ExportProfilesServiceRequestSchema, req));
  }
  return out;
}

async function otlpLoad(url: string, bodies: Uint8Array[], seconds: number, concurrency: number): Promise<{ ok: number; failed: number; bytes: number; elapsed: number }> {
  let ok = 0;
  let failed = 0;
  let bytes = 0;
  let seq = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  async function worker(): Promise<void> {
    while (performance.now() < deadline) {
      const n = seq++;
      const body = bodies[n % bodies.length];
      // A new tenant per round over the variants keeps every request distinct.
      const r = await fetch(`${url}/v1development/profiles`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf', 'X-Scope-OrgID': `otlp${Math.floor(n / bodies.length)}` },
        body: new Blob([body as Uint8Array<ArrayBuffer>]),
      });
      await r.arrayBuffer();
      if (r.ok) {
        ok++;
        bytes += body.length;
      } else failed++;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failed, bytes, elapsed: (performance.now() - started) / 1000 };
}

export async function benchOtlp(seconds = 20): Promise<BenchResult> {
  if (!HAS_CORPUS) return { name: 'otlp', lines: ['skipped: the shared test corpus is not present'] };
  const raw = corpusFile(FILE);
  const converted = convertProfiles(decodeProfilesProto(raw), { nowNanos: BigInt(Date.now()) * 1_000_000n, inputBytes: raw.length });
  const perRequest = converted.profiles.length;
  // The same samples as pprof, one profile per /ingest request.
  const pprofBodies = converted.profiles.map((c) => Buffer.from(encodePprof(c.profile)));
  const pprofAvg = pprofBodies.reduce((a, b) => a + b.length, 0) / pprofBodies.length;
  const bodies = variants(raw);
  const tmp = tempDir('hearth-bench-otlp-');
  const lines: string[] = [];
  try {
    const hearth = await startHearth(config(join(tmp.dir, 'data')), tmp.dir);
    try {
      await otlpLoad(hearth.url, bodies, 2, 4); // warm-up
      const o = await otlpLoad(hearth.url, bodies, seconds, OTLP_CONCURRENCY);
      const oRate = (o.ok * perRequest) / o.elapsed;
      lines.push(
        `OTLP/HTTP protobuf → committed: ${oRate.toFixed(0)} profiles/s, ${(o.bytes / o.elapsed / 1e6).toFixed(1)} MB/s ` +
          `(${o.ok} requests of ${perRequest} profiles, ${(raw.length / 1024).toFixed(0)} KiB each; ${o.failed} refused; ${OTLP_CONCURRENCY} concurrent clients)`,
      );
      await loadGenerator(hearth.url, pprofBodies, 2, 4); // warm-up
      const p = await loadGenerator(hearth.url, pprofBodies, seconds, CONCURRENCY);
      const pRate = p.ok / p.elapsed;
      lines.push(
        `baseline, the same samples as pprof via /ingest: ${pRate.toFixed(0)} profiles/s, ${((p.ok * pprofAvg) / p.elapsed / 1e6).toFixed(1)} MB/s ` +
          `(${p.ok} requests of 1 profile, ${(pprofAvg / 1024).toFixed(1)} KiB on average; ${p.failed} refused; ${CONCURRENCY} concurrent clients)`,
      );
      lines.push(`ratio (OTLP / pprof, profiles/s): ${(oRate / pRate).toFixed(2)}×`);
    } finally {
      await hearth.stop();
    }
  } finally {
    tmp.remove();
  }
  return { name: 'otlp', lines };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchOtlp(Number(process.argv[2] ?? 20));
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
