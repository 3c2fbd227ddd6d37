/**
 * Seeds per target: the shared test corpus when it is beside the checkout, and generated inputs
 * always (so that every target has seeds without the corpus).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { toBinary, toJsonString } from '@bufbuild/protobuf';
import { encodeBatch, encodeBatchGroup } from '../formats/batch/index.ts';
import { buildTree, encodeTreeBytes } from '../formats/flamegraph/index.ts';
import { encodePprof } from '../formats/pprof/index.ts';
import { ExportProfilesServiceRequestSchema } from '../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { ExportTraceServiceRequestSchema } from '../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import { PushRequestSchema } from '../gen/push/v1/push_pb.ts';
import { richProfilesRequest, tracesFixture } from '../test/receivers/otlp-support.ts';
import { writeJfr } from '../test/support/jfr-writer.ts';
import { syntheticProfile } from '../test/support/synthetic-profiles.ts';
import { create } from '@bufbuild/protobuf';

const CORPUS = fileURLToPath(new URL('../../shared/testdata/', import.meta.url));
const enc = (s: string) => new TextEncoder().encode(s);
const NOW = 1_700_000_000_000_000_000n;

function corpusFiles(): string[] {
  if (!existsSync(CORPUS)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      // Large files slow every mutation down and add little the small ones do not cover.
      else if (statSync(p).size <= 512 * 1024) out.push(p);
    }
  };
  walk(CORPUS);
  return out.sort();
}

function corpus(match: RegExp, gunzip = false): Uint8Array[] {
  return corpusFiles()
    .filter((f) => match.test(f))
    .map((f) => {
      const b = readFileSync(f);
      return gunzip && b[0] === 0x1f ? gunzipSync(b) : b;
    });
}

function pprofSeeds(): Uint8Array[] {
  return [encodePprof(syntheticProfile(1, 1_700_000_000_000, 8)), encodePprof(syntheticProfile(2, 1_700_000_000_000, 3, false)), ...corpus(/\.(pprof|pb\.gz|cpu|pb)$|profile_[a-z]+$/)];
}

function batchSeeds(): Uint8Array[] {
  const b = (seed: number) =>
    encodeBatch({ tenant: 't', labels: { service_name: 'svc', __name__: 'process_cpu' }, profile: syntheticProfile(seed, 1_700_000_000_000, 6), idempotencyKey: `k${seed}` });
  return [b(1), b(2)];
}

function trieSeed(): Uint8Array {
  const out: number[] = [0, 0, 2];
  for (const [k, v] of [['main;a', 3], ['main;b', 2]] as const) out.push(k.length, ...enc(k), v, 0);
  return Uint8Array.from(out);
}

function treeSeed(): Uint8Array {
  const names = ['main', 'a', 'b'];
  return encodeTreeBytes(buildTree({ names, stacks: [Uint32Array.of(1, 0), Uint32Array.of(2, 0)], values: [3, 2] }));
}

function speedscopeSeed(): Uint8Array {
  const frames = [{ name: 'main' }, { name: 'a' }, { name: 'b' }];
  return enc(
    JSON.stringify({
      $schema: 'https://www.speedscope.app/file-format-schema.json',
      shared: { frames },
      profiles: [
        { type: 'sampled', name: 't', unit: 'milliseconds', startValue: 0, endValue: 10, samples: [[0, 1], [0, 2]], weights: [3, 2] },
        { type: 'evented', name: 'e', unit: 'none', startValue: 0, endValue: 4, events: [{ type: 'O', frame: 0, at: 0 }, { type: 'C', frame: 0, at: 4 }] },
      ],
    }),
  );
}

function jfrSeeds(): Uint8Array[] {
  const gen = writeJfr({ compressed: true, event: 'itimer', samples: [{ stack: ['a/B.c', 'a/B.main'], times: 3 }], allocations: [{ stack: ['a/B.alloc'], tlabSize: 4096 }] });
  return [gen, ...corpus(/\.jfr(\.gz)?$/, true)];
}

function otlpProfiles(): { proto: Uint8Array; json: Uint8Array } {
  const req = richProfilesRequest(NOW);
  return { proto: toBinary(ExportProfilesServiceRequestSchema, req), json: enc(toJsonString(ExportProfilesServiceRequestSchema, req)) };
}

function otlpTraces(): { proto: Uint8Array; json: Uint8Array } {
  const t = tracesFixture(NOW);
  return { proto: toBinary(ExportTraceServiceRequestSchema, t.request), json: enc(t.json) };
}

function pushRequest(): PushRequestBodies {
  const raw = encodePprof(syntheticProfile(3, 1_700_000_000_000, 5));
  const req = create(PushRequestSchema, {
    series: [{ labels: [{ name: 'service_name', value: 'fuzz' }, { name: '__name__', value: 'process_cpu' }], samples: [{ ID: '', rawProfile: raw }] }],
  });
  return { proto: toBinary(PushRequestSchema, req), json: enc(toJsonString(PushRequestSchema, req)) };
}
interface PushRequestBodies {
  proto: Uint8Array;
  json: Uint8Array;
}

const FOLDED = ['main;work 3\nmain;idle 2\n', 'a;b;c 1\na;b 7\n\n', ...[]];

export const SEEDS: Record<string, () => Uint8Array[]> = {
  pprof: pprofSeeds,
  batch: batchSeeds,
  'batch-group': () => [encodeBatchGroup(batchSeeds())],
  'otlp-profiles-proto': () => [otlpProfiles().proto, ...corpus(/otel-ebpf-profile\.pb\.bin$/)],
  'otlp-profiles-json': () => [otlpProfiles().json, ...corpus(/otel-ebpf-profile\.pb\.json$/)],
  'otlp-traces-proto': () => [otlpTraces().proto],
  'otlp-traces-json': () => [otlpTraces().json],
  jfr: jfrSeeds,
  'jfr-labels': () => corpus(/labels\.pb\.gz$/, true).concat([Uint8Array.of(0x0a, 0x00)]),
  speedscope: () => [speedscopeSeed()],
  trie: () => [trieSeed()],
  tree: () => [treeSeed()],
  folded: () => [...FOLDED.map(enc), ...corpus(/\.(collapsed|txt)$/)],
  lines: () => [enc('main;a\nmain;b\nmain;a\n')],
  'push-proto': () => [pushRequest().proto],
  'push-json': () => [pushRequest().json],
};

/** Tokens the dictionary mutator inserts: the syntax of the formats under fuzz. */
export const DICTIONARY: Uint8Array[] = [
  '{', '}', '[', ']', '"', ':', ',', 'null', 'true', '-1', '1e308', '18446744073709551615', '"\\u0000"',
  ';', '\n', ' ', '\r\n', '--', 'Content-Disposition: form-data; name="profile"\r\n\r\n', 'FLR\0',
  '"resourceProfiles"', '"dictionary"', '"stringTable"', '"samples"', '"weights"', '"frames"', '"profiles"',
].map(enc).concat([Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x08, 0x80, 0x80, 0x80, 0x80, 0x10), Uint8Array.of(0x12, 0x00)]);
