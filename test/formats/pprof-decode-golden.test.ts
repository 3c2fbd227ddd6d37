/**
 * Pins decodePprof's exact output, so that work on the decoder's speed cannot change what
 * it decodes. For every file of the corpus, the decoder runs on the file itself, on
 * deterministic mutations of it (truncations, flipped and overwritten bytes, gzipped and
 * cut gzip streams) and under size limits around its real size; every outcome (the whole
 * decoded Profile, or the error's class, status and message) goes into one SHA-256 per file,
 * compared with the digest recorded here.
 *
 * When the output changes on purpose, print the new table with
 * `PPROF_GOLDEN_PRINT=1 npx tsx test/formats/pprof-decode-golden.test.ts` and explain the
 * change in the commit.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { HearthError } from '../../core/errors.ts';
import type { Profile } from '../../core/model.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { CORPUS_DIR, CORPUS_SKIP, HAS_CORPUS, corpusFile } from '../support/corpus.ts';
import { rng } from '../support/rng.ts';

/** Mutations per file; big files get fewer, since each costs a full decode. */
const MUTATIONS_SMALL = 48;
const MUTATIONS_LARGE = 8;
const LARGE_BYTES = 200_000;

const GOLDEN: Record<string, string> = {
  'async-profiler/sample1.collapsed': '1c44726e83539ca866a3b3cd0a736ab20e44305252c67b89a92d161360184ea2',
  'brendangregg-flamegraph/perf-vertx-stacks-01-collapsed-all.txt': '0a033a1676876599316fb6fea6fd55b2fa096e419b87beefee041dca09e612d7',
  'datadog-pprof-format/non-packed-repeated.pprof': 'd52e9dc5abee1983097f92250c86c7af211de553df5c32e03bb02ee08b30473f',
  'datadog-pprof-format/test.pprof': '8b1ce8b7e791c62766213a39e3ccb8834532dec86ea17ea3de0c34625590d520',
  'google-pprof/cppbench.cpu': 'e131d5420ef10c1d778f03f918046332d9298adc854f373da9f94a2976dbf434',
  'google-pprof/cppbench.cpu_no_samples_type': '4799dcb32c2211bf3f7913b6b8423afd76838ba023726492057a304aeb17138e',
  'google-pprof/go.nomappings.crash': 'd9f1dd11199f891884c3d6e77a62f652f2d73989120e4d22f268ea5c549b592b',
  'google-pprof/large.cpu': '731862f0f3e9ce3ee7c9cad868927987bb8aea7285e2b091f3350855374d9ed7',
  'grafana-alloy/block.after.pprof': '788e5aad5b4f7767ed2fac16be547fe445330c52a5d0d3ccfeab81272fc54b2e',
  'grafana-alloy/block.before.pprof': '8bb3c6abef5bd3954cea1e497411e97b5d2017c98f5ecf3e944ccafc81dab816',
  'grafana-jfr-parser/cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz': '3e1b28a3bd7feb48cbe6c9601c7246796577f3fdb5c1c8ecb1eb35fb23ac33fd',
  'grafana-jfr-parser/dump2.jfr.gz': '0f5a147e8a8ae77602bc996b0bd01ec39fae17712da41649130074e4109c4696',
  'grafana-jfr-parser/dump2.labels.pb.gz': '8cc8127f0f70ccf419c357c2a1fce6636e1ce8cf773eae3a214154b95d41b7f9',
  'grafana-jfr-parser/example.jfr.gz': 'a36623146600f5dd9c457da2d00ef6eb26fcbedf34e3b53e56c9ae85de456db4',
  'grafana-jfr-parser/example_3_process_cpu_cpu__nanoseconds_expected_collapsed.txt.gz': '44da69bd5b5e366a6d6206405e04b617bb94f52253009bce28e1b817cb49e76e',
  'grafana-jfr-parser/goland-multichunk.jfr.gz': '6815edbd7515b489989a02d1e656fe3426e9f5603e9be85da522b5a6d27b6118',
  'grafana-jfr-parser/object-allocation-sample.jfr.gz': 'f4aa6d040e3e30d96685b306be195efdbd20a86723f0c81fb321a4a8c1a0ba94',
  'grafana-pyroscope/dotnet-pprof-3.pb.gz': '8ad8815d1ffdbd9a7747201526717f539acc4ba424030fde3e7cfe7ba8d5d090',
  'grafana-pyroscope/dotnet.labels.pprof': '4f35e68c981b786de99cd7da1d56d2ac41df3ca78b45a0e505420e4a69f847b7',
  'grafana-pyroscope/go-heap.pb.gz': 'd44fa6f6a107743b95387b07fb9bc4a6ce44b8693dea65491545b7676d4b85b6',
  'grafana-pyroscope/go-heap_delta.pb.gz': 'ca92b8d5aab47cfd4f0614a9f308c96835771e8d3c640be742b297d3562ac076',
  'grafana-pyroscope/go.cpu.labels.pprof': '3bef3725f34c03c612d046575e078e1449514235bc7d8a98e76838d954cd60b7',
  'grafana-pyroscope/heap_go_truncated_3.pb.gz': '0a38ac18e9ede48b976a1e86840eb304a46dbfe08c284c29f9e87fc6185f37bd',
  'grafana-pyroscope/invalid_utf8.pb.gz': 'e06218cc5e3f8b2af22a1e603c17d47ad177eba80e1b3b6298d7121bca859099',
  'grafana-pyroscope/jfr2pprof_kafka_alloc_in_new_tlab_bytes.pb.gz': '01876406202723b07f4d12f6393d36eb5761f767e6bdfc6ea8cf6fe865951d8d',
  'grafana-pyroscope/malformed_no_addr_no_line.pb.gz': '59d11bb1326863a01cbe6ac9f852f4045cc69d72caa635aeb59c53eed879d76a',
  'grafana-pyroscope/nodejs-heap.pb.gz': 'd79bc8c6589a36af9e2d7638953b1c3155cd7af0c23b14e441073538f64e4c1c',
  'grafana-pyroscope/otel-ebpf-profile.pb.bin': '0838b2162994902450b64e67c03ab6bba113d020f26e546f93335836adf3ab9e',
  'grafana-pyroscope/otel-ebpf-profile.pb.json': 'ee6b2116442bf74cd75d8927fd20ecf788c8763b62b4a484c224393bf2413ee9',
  'grafana-pyroscope/profile_java': 'f1a2a40e5b79279f99797956c2818a53170f86a2786aff152a6b44fb34ed9444',
  'grafana-pyroscope/profile_nodejs': '3237208be8772047dfbfee6ab7edf52b30c4afa9bba76a45c9006358c780a785',
  'grafana-pyroscope/profile_python': '143ee6b9a03be794b261cb9125722560eb32fb73e0d98ebfd28cf86e17c0b5e6',
  'grafana-pyroscope/profile_ruby': '3588966a60c854b1c426e12a943d08c9353f004e9bb1ea1b816f230077456142',
  'grafana-pyroscope/profile_rust': 'c63a403071dbc1d827bd4ae62f132a23822a5acfdc17b85eb47997ae1c4fde06',
  'grafana-pyroscope/req_2.pprof': '3419fcf3c78cccf99b99b625c78fc7a3045ba61f0ac39b00fd343d91bb1b354f',
  'grafana-pyroscope/req_4.pprof': 'db73b273a35ab8e9984003833744751187b81938231aea9518b13c159cfac65c',
  'grafana-pyroscope/single_group_with_optional_span_id.pb.gz': 'b96da6048142be47cb94499a51b6a237dbe894b6c4ffdb9b22034b965a587ace',
  'parca/query_alloc_space_delta.pb.gz': '606b2b12b2c87dcd56952a9548834026ef009764ec1fb6883672790b6b29a42d',
  'parca/query_fgprof.pb.gz': 'f759cdba97711eedd79551210379668261695325efb38ef77e1cc93147db836e',
  'parca/query_profile-with-labels.pb.gz': 'fc481daca399a5322d4af3b4ab3da6f5a0cd988607dc871d945c6d0269b1be0c',
};

/** Every field and its order, including which optional sample fields are present. */
function serialize(p: Profile): string {
  const parts: string[] = [];
  parts.push(JSON.stringify([p.sampleTypes, p.periodType, p.period, String(p.timeNanos), String(p.durationNanos)]));
  parts.push(JSON.stringify(p.names));
  for (const s of p.stacks) {
    if (!(s instanceof Uint32Array)) throw new Error('a stack is not a Uint32Array');
    parts.push(s.join(','));
  }
  for (const s of p.samples) {
    parts.push(JSON.stringify([Object.keys(s), s.stack, s.values, s.labelSet, s.spanId ?? null, s.traceId ?? null]));
  }
  for (const l of p.sampleLabelSets) parts.push(JSON.stringify([Object.keys(l), Object.values(l)]));
  return parts.join('\n');
}

function outcome(input: Uint8Array, maxBytes?: number): string {
  try {
    return `ok ${serialize(decodePprof(input, maxBytes === undefined ? {} : { maxBytes }))}`;
  } catch (err) {
    if (!(err instanceof HearthError)) throw err;
    return `refused ${err.constructor.name} ${err.status} ${err.message}`;
  }
}

function seedOf(rel: string): number {
  return createHash('sha256').update(rel).digest().readUInt32LE(0);
}

/** The outcomes of one corpus file and its mutations, as one digest. */
function fileDigest(rel: string): string {
  const file = corpusFile(rel);
  const isGz = file.length >= 2 && file[0] === 0x1f && file[1] === 0x8b;
  let plain: Uint8Array = file;
  if (isGz) {
    try {
      plain = gunzipSync(file);
    } catch {
      plain = file;
    }
  }
  const h = createHash('sha256');
  const add = (label: string, input: Uint8Array, maxBytes?: number): void => {
    h.update(`${label}\n${outcome(input, maxBytes)}\n`);
  };
  add('file', file);
  if (isGz) add('gunzipped', plain);
  add('limit: exact size', plain, plain.length);
  add('limit: one byte short', plain, Math.max(0, plain.length - 1));
  if (isGz) add('gzip limit: one byte short', file, Math.max(0, plain.length - 1));
  if (plain.length === 0) return h.digest('hex');

  const next = rng(seedOf(rel));
  const pick = (n: number): number => Math.floor(next() * n);
  const count = plain.length > LARGE_BYTES ? MUTATIONS_LARGE : MUTATIONS_SMALL;
  for (let i = 0; i < count; i++) {
    let b = Uint8Array.from(plain);
    const kind = i % 6;
    if (kind === 0) {
      b = b.subarray(0, pick(b.length));
    } else if (kind === 1) {
      for (let k = 1 + pick(8); k > 0; k--) b[pick(b.length)] ^= 1 << pick(8);
    } else if (kind === 2) {
      for (let k = 1 + pick(4); k > 0; k--) b[pick(b.length)] = pick(256);
    } else if (kind === 3) {
      // A run of bytes set to a varint continuation, which stretches lengths and ids.
      const at = pick(b.length);
      b.fill(0x80 | pick(128), at, Math.min(b.length, at + 1 + pick(6)));
    } else if (kind === 4) {
      const cut = pick(b.length);
      b = Uint8Array.from([...b.subarray(0, cut), ...b.subarray(Math.min(b.length, cut + 1 + pick(32)))]);
    } else {
      b[pick(b.length)] ^= 1 << pick(8);
      add(`mutation ${i} gzipped`, gzipSync(b));
      const gz = gzipSync(b);
      add(`mutation ${i} gzip cut`, gz.subarray(0, 10 + pick(gz.length - 10)));
      continue;
    }
    add(`mutation ${i}`, b);
  }
  return h.digest('hex');
}

function corpusFiles(): string[] {
  if (!HAS_CORPUS) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name !== 'MANIFEST.md') out.push(relative(CORPUS_DIR, p).split('\\').join('/'));
    }
  };
  walk(CORPUS_DIR);
  return out.sort();
}

if (process.env.PPROF_GOLDEN_PRINT) {
  for (const rel of corpusFiles()) console.log(`  '${rel}': '${fileDigest(rel)}',`);
} else {
  describe('decodePprof output is unchanged on every corpus file and its mutations', () => {
    const files = corpusFiles();
    test('every corpus file has a recorded digest', { skip: CORPUS_SKIP }, () => {
      assert.deepEqual(files, Object.keys(GOLDEN).sort());
    });
    for (const rel of files) {
      test(rel, { skip: GOLDEN[rel] === undefined ? 'no digest recorded' : false }, () => {
        assert.equal(fileDigest(rel), GOLDEN[rel]);
      });
    }
  });
}
