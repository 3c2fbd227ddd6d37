import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import {
  Function as PfFunction,
  Label as PfLabel,
  Line as PfLine,
  Location as PfLocation,
  Mapping as PfMapping,
  Profile as PfProfile,
  Sample as PfSample,
  StringTable,
  ValueType as PfValueType,
} from 'pprof-format';
import { BadRequestError, HearthError, ProfileTooLargeError } from '../../core/errors.ts';
import type { Profile } from '../../core/model.ts';
import { inflateBounded, isGzip } from '../../formats/gzip.ts';
import { decodePprof, DEFAULT_MAX_PPROF_BYTES } from '../../formats/pprof/index.ts';
import { ProtoReader } from '../../formats/protobuf/reader.ts';
import { ProtoWriter } from '../../formats/protobuf/writer.ts';
import { CORPUS_DIR, CORPUS_SKIP, HAS_CORPUS, corpusFile } from '../support/corpus.ts';
import { rng } from '../support/rng.ts';

// ---- reference computation from pprof-format's objects ------------------------------------

interface Reference {
  sampleTypes: Array<{ type: string; unit: string }>;
  totals: number[];
  /** Per sample type: leaf frame name → summed value. */
  self: Array<Map<string, number>>;
  /** Samples with at least one non-zero value, by the key of their span label, if any. */
  nonZeroSamples: number;
  samplesWithSpan: number;
  pf: PfProfile;
}

function raw(bytes: Uint8Array): Uint8Array {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
}

/** int64 values come back from pprof-format as unsigned 64-bit; negative deltas must stay negative. */
const signed = (v: number | bigint): number => Number(BigInt.asIntN(64, BigInt(v)));

function reference(bytes: Uint8Array): Reference {
  const pf = PfProfile.decode(raw(bytes));
  const str = (i: number | bigint): string => pf.stringTable.strings[Number(i)] ?? '';
  const positional = pf.function.some((f) => Number(f.id) === 0);
  const functions = new Map(pf.function.map((f, i) => [positional ? i + 1 : Number(f.id), f]));
  const mappings = new Map(pf.mapping.map((m) => [Number(m.id), m]));
  const locations = new Map(pf.location.map((l) => [Number(l.id), l]));
  const addressName = (loc: PfLocation): string => {
    const hex = BigInt(loc.address).toString(16);
    const m = mappings.get(Number(loc.mappingId));
    const file = m ? str(m.filename) : '';
    const base = file.split(/[\\/]/).pop() ?? '';
    return base ? `${base}+0x${hex}` : `0x${hex}`;
  };
  const leafName = (locationId: number): string => {
    const loc = locations.get(locationId);
    assert.ok(loc, `reference: location ${locationId} exists`);
    if (loc.line.length === 0) return addressName(loc);
    const fn = functions.get(Number(loc.line[0].functionId));
    return (fn && (str(fn.name) || str(fn.systemName))) || addressName(loc);
  };
  const sampleTypes = pf.sampleType.map((t) => ({ type: str(t.type), unit: str(t.unit) }));
  const totals = sampleTypes.map(() => 0);
  const self = sampleTypes.map(() => new Map<string, number>());
  let nonZeroSamples = 0;
  let samplesWithSpan = 0;
  for (const s of pf.sample) {
    const values = s.value.map(signed);
    if (values.every((v) => v === 0)) continue;
    nonZeroSamples++;
    if (s.label.some((l) => Number(l.str) !== 0 && ['span_id', 'profile_id'].includes(str(l.key)))) samplesWithSpan++;
    const leaf = s.locationId.length > 0 ? leafName(Number(s.locationId[0])) : '';
    values.forEach((v, i) => {
      totals[i] += v;
      self[i].set(leaf, (self[i].get(leaf) ?? 0) + v);
    });
  }
  return { sampleTypes, totals, self, nonZeroSamples, samplesWithSpan, pf };
}

function ourSelf(p: Profile): { totals: number[]; self: Array<Map<string, number>> } {
  const totals = p.sampleTypes.map(() => 0);
  const self = p.sampleTypes.map(() => new Map<string, number>());
  for (const s of p.samples) {
    const stack = p.stacks[s.stack];
    const leaf = stack.length > 0 ? p.names[stack[0]] : '';
    s.values.forEach((v, i) => {
      totals[i] += v;
      self[i].set(leaf, (self[i].get(leaf) ?? 0) + v);
    });
  }
  return { totals, self };
}

function top(m: Map<string, number>, n: number): Array<[string, number]> {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, n);
}

/** Structural invariants every decoded profile must satisfy, whatever its source. */
function assertWellFormed(p: Profile): void {
  assert.equal(p.names[0], '');
  assert.equal(new Set(p.names).size, p.names.length, 'names are unique');
  const stackKeys = new Set<string>();
  for (const s of p.stacks) {
    for (const f of s) assert.ok(f > 0 && f < p.names.length, `frame ${f} is a valid name index`);
    stackKeys.add(s.join(','));
  }
  assert.equal(stackKeys.size, p.stacks.length, 'stacks are unique');
  assert.deepEqual(p.sampleLabelSets[0], {});
  const setKeys = p.sampleLabelSets.map((l) => JSON.stringify(Object.entries(l).sort()));
  assert.equal(new Set(setKeys).size, setKeys.length, 'label sets are unique');
  for (const l of p.sampleLabelSets) {
    for (const k of ['span_id', 'trace_id', 'profile_id']) assert.ok(!(k in l), `${k} is not a label`);
  }
  for (const s of p.samples) {
    assert.equal(s.values.length, p.sampleTypes.length);
    assert.ok(s.values.some((v) => v !== 0), 'all-zero samples are dropped');
    assert.ok(s.stack >= 0 && s.stack < p.stacks.length);
    assert.ok(s.labelSet >= 0 && s.labelSet < p.sampleLabelSets.length);
    if (s.spanId !== undefined) assert.match(s.spanId, /^[0-9a-f]{16}$/);
    if (s.traceId !== undefined) assert.match(s.traceId, /^[0-9a-f]{32}$/);
  }
}

// ---- the corpus ------------------------------------------------------------------------

const NOT_PPROF = [/\.jfr\.gz$/, /\.collapsed$/, /\.txt$/, /\.txt\.gz$/, /(^|\/)dump2\.labels\.pb\.gz$/, /(^|\/)otel-ebpf-profile\./, /(^|\/)MANIFEST\.md$/, /^google-pprof\/cppbench\.cpu$/];

function corpusPprofFiles(): string[] {
  if (!HAS_CORPUS) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const rel = relative(CORPUS_DIR, p).split('\\').join('/');
        if (!NOT_PPROF.some((re) => re.test(rel))) out.push(rel);
      }
    }
  };
  walk(CORPUS_DIR);
  return out.sort();
}

describe('decodePprof on every pprof file of the corpus, against pprof-format', () => {
  const files = corpusPprofFiles();
  test('the corpus lists the pprof files', { skip: CORPUS_SKIP }, () => {
    assert.ok(files.length >= 25, `found ${files.length} pprof files`);
    assert.ok(files.includes('grafana-pyroscope/dotnet-pprof-3.pb.gz'));
    assert.ok(files.includes('grafana-pyroscope/invalid_utf8.pb.gz'));
  });
  for (const rel of files) {
    test(rel, () => {
      const bytes = corpusFile(rel);
      const ours = decodePprof(bytes);
      const ref = reference(bytes);
      assertWellFormed(ours);
      assert.deepEqual(ours.sampleTypes, ref.sampleTypes);
      const mine = ourSelf(ours);
      assert.deepEqual(mine.totals, ref.totals, 'totals per sample type');
      assert.equal(ours.samples.length, ref.nonZeroSamples, 'samples with a non-zero value');
      for (let i = 0; i < ref.sampleTypes.length; i++) {
        assert.deepEqual(top(mine.self[i], 10), top(ref.self[i], 10), `top self of ${ref.sampleTypes[i].type}`);
      }
    });
  }
});

describe('decodePprof specifics on corpus files', () => {
  test('non-packed repeated fields append', { skip: CORPUS_SKIP }, () => {
    const p = decodePprof(corpusFile('datadog-pprof-format/non-packed-repeated.pprof'));
    assert.equal(p.samples.length, 1);
    assert.deepEqual(p.samples[0].values, [1, 10000000]);
  });

  test('span_id labels become Sample.spanId', { skip: CORPUS_SKIP }, () => {
    const bytes = corpusFile('grafana-pyroscope/single_group_with_optional_span_id.pb.gz');
    const p = decodePprof(bytes);
    const ref = reference(bytes);
    const withSpan = p.samples.filter((s) => s.spanId !== undefined);
    assert.ok(ref.samplesWithSpan > 0);
    assert.equal(withSpan.length, ref.samplesWithSpan);
    // The label value is `239`, a hex integer shorter than 16 digits.
    for (const s of withSpan) assert.equal(s.spanId, '0000000000000239');
    for (const s of p.samples) {
      assert.deepEqual(p.sampleLabelSets[s.labelSet], { asdasd: 'zxczxc', function: 'slow', qwe: 'asd' });
    }
  });

  test('profile_id labels are treated as span_id', { skip: CORPUS_SKIP }, () => {
    const bytes = corpusFile('grafana-pyroscope/go.cpu.labels.pprof');
    const p = decodePprof(bytes);
    const ref = reference(bytes);
    const withSpan = p.samples.filter((s) => s.spanId !== undefined);
    assert.equal(withSpan.length, ref.samplesWithSpan);
    assert.ok(withSpan.length > 400);
    assert.ok(withSpan.some((s) => s.spanId === '8c946fa4ae322f7f'));
    const sets = p.sampleLabelSets.slice(1);
    assert.ok(sets.every((l) => l.foo === 'bar' && !('profile_id' in l)));
    assert.deepEqual(new Set(sets.map((l) => l.function ?? '')), new Set(['', 'slow', 'fast']));
  });

  test('Function.id 0 everywhere: functions are numbered by position', { skip: CORPUS_SKIP }, () => {
    const bytes = corpusFile('grafana-pyroscope/dotnet-pprof-3.pb.gz');
    assert.ok(!isGzip(bytes), 'this file is raw protobuf despite its name');
    const p = decodePprof(bytes);
    assert.ok(p.names.includes('WebApplication1.Controllers!CpuController.fib'));
    assert.ok(p.samples.length > 0);
  });

  test('invalid UTF-8 is decoded with replacement characters', { skip: CORPUS_SKIP }, () => {
    const p = decodePprof(corpusFile('grafana-pyroscope/invalid_utf8.pb.gz'));
    assert.ok(p.names.some((n) => n.includes('\uFFFD')));
  });

  test('unsymbolized locations are named by mapping and address', { skip: CORPUS_SKIP }, () => {
    const p = decodePprof(corpusFile('google-pprof/cppbench.cpu_no_samples_type'));
    assert.ok(p.names.slice(1).every((n) => /^(.+\+)?0x[0-9a-f]+$/.test(n)), 'every name is an address');
    assert.ok(p.names.some((n) => n.startsWith('cppbench_server_main+0x')));
  });

  test('time, duration and period', { skip: CORPUS_SKIP }, () => {
    const p = decodePprof(corpusFile('google-pprof/large.cpu'));
    assert.equal(p.timeNanos, 1666107597086748038n);
    assert.equal(p.durationNanos, 240359136496n);
    assert.deepEqual(p.periodType, { type: 'cpu', unit: 'nanoseconds' });
    assert.equal(p.period, 10000000);
  });
});

// ---- hand-built profiles ---------------------------------------------------------------

interface Built {
  st: StringTable;
  s: (v: string) => number;
}

function strings(): Built {
  const st = new StringTable();
  return { st, s: (v) => st.dedup(v) };
}

describe('decoding rules on hand-built profiles', () => {
  test('inlined lines expand leaf first; names and stacks are deduplicated', () => {
    const { st, s } = strings();
    const pf = new PfProfile({
      sampleType: [new PfValueType({ type: s('cpu'), unit: s('nanoseconds') })],
      periodType: new PfValueType({ type: s('cpu'), unit: s('nanoseconds') }),
      period: 10,
      function: [
        new PfFunction({ id: 1, name: s('leaf') }),
        new PfFunction({ id: 2, name: s('inlinedCaller') }),
        new PfFunction({ id: 3, name: s('main') }),
        // Same name under another id: the same frame.
        new PfFunction({ id: 4, name: s('main'), filename: s('other.go') }),
        new PfFunction({ id: 5, name: 0, systemName: s('_ZN3sys4nameE') }),
      ],
      mapping: [new PfMapping({ id: 1, filename: s('/usr/lib/x86_64-linux-gnu/libc.so.6') })],
      location: [
        new PfLocation({ id: 10, line: [new PfLine({ functionId: 1 }), new PfLine({ functionId: 2 })] }),
        new PfLocation({ id: 11, line: [new PfLine({ functionId: 3 })] }),
        new PfLocation({ id: 12, line: [new PfLine({ functionId: 4 })] }),
        new PfLocation({ id: 13, mappingId: 1, address: 0xabc }),
        new PfLocation({ id: 14, address: 0xdef0 }),
        new PfLocation({ id: 15 }),
        new PfLocation({ id: 16, mappingId: 99, address: 0x10 }),
        new PfLocation({ id: 17, line: [new PfLine({ functionId: 5 })] }),
      ],
      sample: [
        new PfSample({ locationId: [10, 11], value: [1] }),
        new PfSample({ locationId: [10, 12], value: [2] }),
        new PfSample({ locationId: [13, 14, 15, 16, 17], value: [3] }),
        new PfSample({ locationId: [11], value: [0] }),
      ],
      stringTable: st,
    });
    const p = decodePprof(pf.encode());
    assertWellFormed(p);
    const frames = (i: number) => [...p.stacks[p.samples[i].stack]].map((f) => p.names[f]);
    assert.equal(p.samples.length, 3, 'the all-zero sample is dropped');
    assert.deepEqual(frames(0), ['leaf', 'inlinedCaller', 'main']);
    assert.equal(p.samples[1].stack, p.samples[0].stack, 'same frames, same stack');
    assert.deepEqual(frames(2), ['libc.so.6+0xabc', '0xdef0', '0x0', '0x10', '_ZN3sys4nameE']);
    assert.equal(p.stacks.length, 2);
    assert.deepEqual(p.periodType, { type: 'cpu', unit: 'nanoseconds' });
    assert.equal(p.period, 10);
  });

  test('labels: sets are sorted and deduplicated, numeric labels ignored, span and trace ids extracted', () => {
    const { st, s } = strings();
    const label = (k: string, v: string) => new PfLabel({ key: s(k), str: s(v) });
    const pf = new PfProfile({
      sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })],
      function: [new PfFunction({ id: 1, name: s('f') })],
      location: [new PfLocation({ id: 1, line: [new PfLine({ functionId: 1 })] })],
      sample: [
        new PfSample({ locationId: [1], value: [1], label: [label('b', '2'), label('a', '1'), new PfLabel({ key: s('bytes'), num: 512 })] }),
        new PfSample({ locationId: [1], value: [1], label: [label('a', '1'), label('b', '2'), label('span_id', 'ABCDEF0123456789')] }),
        new PfSample({ locationId: [1], value: [1], label: [label('trace_id', '0123456789abcdef0123456789abcdef')] }),
        new PfSample({ locationId: [1], value: [-4], label: [label('span_id', 'not hex'), label('a', '1'), label('a', '3')] }),
        new PfSample({ locationId: [1], value: [1], label: [label('__proto__', 'x')] }),
      ],
      stringTable: st,
    });
    const p = decodePprof(pf.encode());
    assertWellFormed(p);
    assert.equal(p.sampleLabelSets.length, 4);
    assert.deepEqual(p.sampleLabelSets.slice(0, 3), [{}, { a: '1', b: '2' }, { a: '3' }]);
    assert.deepEqual(Object.entries(p.sampleLabelSets[3]), [['__proto__', 'x']]);
    assert.equal(Object.getPrototypeOf(p.sampleLabelSets[3]), Object.prototype);
    assert.deepEqual(Object.keys(p.sampleLabelSets[1]), ['a', 'b']);
    const [s0, s1, s2, s3] = p.samples;
    assert.equal(s0.labelSet, 1);
    assert.equal(s1.labelSet, 1);
    assert.equal(s1.spanId, 'abcdef0123456789');
    assert.equal(s2.labelSet, 0);
    assert.equal(s2.traceId, '0123456789abcdef0123456789abcdef');
    assert.equal(s3.spanId, undefined, 'a span id that is not hex is dropped');
    assert.equal(s3.labelSet, 2, 'the last of duplicate keys wins');
    assert.deepEqual(s3.values, [-4], 'negative values survive');
    assert.equal('spanId' in s0, false);
  });

  test('empty and missing optional parts decode to defaults', () => {
    const { st, s } = strings();
    s('unused');
    const p = decodePprof(new PfProfile({ stringTable: st }).encode());
    assert.deepEqual(p.sampleTypes, []);
    assert.deepEqual(p.periodType, { type: '', unit: '' });
    assert.equal(p.period, 0);
    assert.equal(p.timeNanos, 0n);
    assert.deepEqual(p.names, ['']);
    assert.deepEqual(p.samples, []);
  });

  test('sparse and huge ids are looked up through a map', () => {
    const { st, s } = strings();
    const big = 2n ** 60n + 7n;
    const pf = new PfProfile({
      sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })],
      function: [new PfFunction({ id: big, name: s('far') })],
      location: [new PfLocation({ id: big, line: [new PfLine({ functionId: big })] })],
      sample: [new PfSample({ locationId: [big], value: [3] })],
      stringTable: st,
    });
    const p = decodePprof(pf.encode());
    assert.deepEqual([...p.stacks[0]].map((f) => p.names[f]), ['far']);
  });
});

// ---- malformed input ---------------------------------------------------------------------

function assertRejects(input: Uint8Array, cls: typeof BadRequestError | typeof ProfileTooLargeError, message: RegExp, opts?: { maxBytes?: number }): void {
  assert.throws(
    () => decodePprof(input, opts),
    (err: unknown) => {
      assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
      assert.match((err as Error).message, message);
      return true;
    },
  );
}

function randomBytes(n: number, seed: number): Uint8Array {
  const next = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

describe('malformed input is rejected with a 4xx error', () => {
  test('the legacy gperftools format', { skip: CORPUS_SKIP }, () => {
    assertRejects(corpusFile('google-pprof/cppbench.cpu'), BadRequestError, /^not a pprof protobuf profile \(legacy or unknown format\)/);
  });

  test('a profile cut in half', { skip: CORPUS_SKIP }, () => {
    const bytes = raw(corpusFile('google-pprof/large.cpu'));
    assertRejects(bytes.subarray(0, bytes.length >> 1), BadRequestError, /truncated protobuf at byte \d+/);
  });

  test('a truncated gzip stream', { skip: CORPUS_SKIP }, () => {
    assertRejects(corpusFile('grafana-pyroscope/go-heap.pb.gz').subarray(0, 1000), BadRequestError, /invalid gzip data/);
  });

  test('64 KiB of random bytes', () => {
    for (const seed of [1, 2, 3]) {
      const bytes = randomBytes(64 * 1024, seed);
      assert.throws(() => decodePprof(bytes), (err: unknown) => err instanceof BadRequestError && err.message.length > 10);
    }
  });

  test('empty input', () => {
    assertRejects(new Uint8Array(0), BadRequestError, /empty/);
  });

  test('a raw profile over the size limit', () => {
    assertRejects(new Uint8Array(DEFAULT_MAX_PPROF_BYTES + 1), ProfileTooLargeError, /exceeds the limit of 4194304 bytes/);
  });

  test('a gzipped profile whose content is over the size limit', { skip: CORPUS_SKIP }, () => {
    assertRejects(corpusFile('google-pprof/large.cpu'), ProfileTooLargeError, /^decompressed profile exceeds 1000000 bytes$/, { maxBytes: 1_000_000 });
  });

  test('a gzip bomb is refused quickly with bounded memory', async () => {
    // 256 MiB of zeros compress to about 256 KiB.
    const gz = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gz.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((resolve) => gz.on('end', resolve));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 256; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await done;
    const bomb = Buffer.concat(parts);
    assert.ok(bomb.length < 1 << 20);

    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    assertRejects(bomb, ProfileTooLargeError, /decompressed profile exceeds 4194304 bytes/);
    const elapsed = performance.now() - started;
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(elapsed < 2000, `refused in ${elapsed.toFixed(0)} ms`);
    assert.ok(grown < 64 * 1024 * 1024, `memory grew by ${(grown / 1048576).toFixed(1)} MiB`);
  });

  test('references that point nowhere', () => {
    const { st, s } = strings();
    const base = {
      sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })],
      function: [new PfFunction({ id: 1, name: s('f') })],
      stringTable: st,
    };
    const missingLocation = new PfProfile({
      ...base,
      location: [new PfLocation({ id: 1, line: [new PfLine({ functionId: 1 })] })],
      sample: [new PfSample({ locationId: [1, 99], value: [1] })],
    });
    assertRejects(missingLocation.encode(), BadRequestError, /location id 99, which does not exist/);
    const missingFunction = new PfProfile({
      ...base,
      location: [new PfLocation({ id: 1, line: [new PfLine({ functionId: 7 })] })],
      sample: [new PfSample({ locationId: [1], value: [1] })],
    });
    assertRejects(missingFunction.encode(), BadRequestError, /function id 7, which does not exist/);
  });

  test('sample value count differs from the sample types', () => {
    const { st, s } = strings();
    const pf = new PfProfile({
      sampleType: [new PfValueType({ type: s('samples'), unit: s('count') }), new PfValueType({ type: s('cpu'), unit: s('nanoseconds') })],
      sample: [new PfSample({ value: [1] })],
      stringTable: st,
    });
    assertRejects(pf.encode(), BadRequestError, /sample 0 has 1 values but there are 2 sample types/);
    const tooMany = new PfProfile({ sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })], sample: [new PfSample({ value: [1, 2] })], stringTable: st });
    assertRejects(tooMany.encode(), BadRequestError, /more values than the 1 sample types/);
  });

  test('string table problems', () => {
    const w = new ProtoWriter();
    w.begin(1).varintField(1, 1).varintField(2, 2).end();
    for (const v of ['x', 'cpu', 'ns']) w.stringField(6, v);
    assertRejects(w.finish(), BadRequestError, /string_table\[0\] must be the empty string/);

    const noTable = new ProtoWriter().tag(12, 0).varint(5).finish();
    assertRejects(noTable, BadRequestError, /string table is missing/);

    const outOfRange = new ProtoWriter();
    outOfRange.begin(1).varintField(1, 9).end().stringField(6, '');
    assertRejects(outOfRange.finish(), BadRequestError, /refers to string 9, outside the string table of 1/);
  });

  test('a known field with the wrong wire type', () => {
    const w = new ProtoWriter().stringField(6, '').tag(2, 0).varint(1);
    assertRejects(w.finish(), BadRequestError, /field sample has wire type 0/);
  });

  test('deeply nested groups do not recurse', () => {
    const depth = 200_000;
    const w = new ProtoWriter();
    w.stringField(6, '');
    for (let i = 0; i < depth; i++) w.tag(20, 3);
    for (let i = 0; i < depth; i++) w.tag(20, 4);
    const p = decodePprof(w.finish());
    assert.deepEqual(p.names, ['']);
    const unbalanced = new ProtoWriter().stringField(6, '');
    for (let i = 0; i < 1000; i++) unbalanced.tag(20, 3);
    assertRejects(unbalanced.finish(), BadRequestError, /truncated protobuf/);
  });

  test('a location with many inlined lines referenced everywhere stays linear', () => {
    const { st, s } = strings();
    const inlined = (nLines: number, nSamples: number) =>
      new PfProfile({
        sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })],
        function: [new PfFunction({ id: 1, name: s('f') })],
        location: [new PfLocation({ id: 1, line: Array.from({ length: nLines }, () => new PfLine({ functionId: 1 })) })],
        sample: Array.from({ length: nSamples }, () => new PfSample({ locationId: [1], value: [1] })),
        stringTable: st,
      }).encode();
    let started = performance.now();
    assertRejects(inlined(20_000, 10), BadRequestError, /deeper than 16384 frames/);
    assertRejects(inlined(10_000, 2_000), BadRequestError, /too many frames for the size of the profile/);
    assert.ok(performance.now() - started < 2000);
    started = performance.now();
    const fine = decodePprof(inlined(100, 100));
    assert.equal(fine.stacks.length, 1);
    assert.equal(fine.stacks[0].length, 100);
  });

  test('a sample with too many labels', () => {
    const { st, s } = strings();
    const label = (k: string, v: string) => new PfLabel({ key: s(k), str: s(v) });
    const pf = new PfProfile({
      sampleType: [new PfValueType({ type: s('samples'), unit: s('count') })],
      sample: [new PfSample({ value: [1], label: Array.from({ length: 2000 }, (_, i) => label(`k${i}`, 'v')) })],
      stringTable: st,
    });
    assertRejects(pf.encode(), BadRequestError, /more than 1024 string labels/);
  });

  test('fuzzing: every mutation decodes or throws a HearthError', { skip: CORPUS_SKIP, timeout: 120_000 }, () => {
    const seedInput = raw(corpusFile('grafana-pyroscope/req_2.pprof'));
    const next = rng(42);
    const pick = (n: number) => Math.floor(next() * n);
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      let b = Uint8Array.from(seedInput);
      const kind = i % 4;
      if (kind === 0) {
        for (let k = 1 + pick(8); k > 0; k--) b[pick(b.length)] ^= 1 << pick(8);
      } else if (kind === 1) {
        b = b.subarray(0, pick(b.length));
      } else if (kind === 2) {
        const at = pick(b.length);
        const ins = randomBytes(1 + pick(16), i);
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
      } else {
        for (let k = 1 + pick(4); k > 0; k--) b[pick(b.length)] = pick(256);
      }
      const input = i % 10 === 0 ? gzipSync(b) : b;
      try {
        assertWellFormed(decodePprof(input));
        decoded++;
      } catch (err) {
        if (!(err instanceof HearthError)) {
          throw new Error(`mutation ${i} raised ${String(err)}; input ${Buffer.from(input).toString('base64')}`);
        }
        assert.ok(err.status === 400 || err.status === 413, `status ${err.status}`);
        rejected++;
      }
    }
    assert.equal(decoded + rejected, 2000);
    assert.ok(rejected > 100 && decoded > 100, `decoded ${decoded}, rejected ${rejected}`);
  });
});

// ---- the shared pieces ---------------------------------------------------------------------

describe('protobuf reader and writer', () => {
  test('varints round-trip, including 64-bit and negative values', () => {
    const values = [0, 1, 127, 128, 300, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -2, -(2 ** 31), -(2 ** 40), Number.MIN_SAFE_INTEGER];
    const w = new ProtoWriter(16);
    for (const v of values) w.varint(v);
    const r = new ProtoReader(w.finish());
    for (const v of values) assert.equal(r.int64(), v);
    assert.ok(r.eof());

    const big = [0n, 1n, 2n ** 63n - 1n, -(2n ** 63n), -5n];
    const wb = new ProtoWriter();
    for (const v of big) wb.bigint(v);
    const rb = new ProtoReader(wb.finish());
    for (const v of big) assert.equal(rb.int64Big(), v);
  });

  test('nested messages, strings and packed fields', () => {
    const w = new ProtoWriter(16);
    const long = 'é'.repeat(200);
    w.begin(1).stringField(2, long).packedVarints(3, [1, 300, 70000]).end().stringField(4, '');
    const r = new ProtoReader(w.finish());
    assert.equal(r.tag(), (1 << 3) | 2);
    const end = r.delimited();
    r.end = end;
    assert.equal(r.tag(), (2 << 3) | 2);
    assert.equal(r.string(), long);
    assert.equal(r.tag(), (3 << 3) | 2);
    const pend = r.delimited();
    const got: number[] = [];
    while (r.pos < pend) got.push(r.uint64());
    assert.deepEqual(got, [1, 300, 70000]);
    r.end = r.buf.length;
    assert.equal(r.tag(), (4 << 3) | 2);
    assert.equal(r.string(), '');
    assert.ok(r.eof());
  });

  test('skips unknown fields of every wire type', () => {
    const w = new ProtoWriter();
    w.tag(1, 0).varint(-1).fixed64Field(2, 1, 2).bytesField(3, new Uint8Array([9, 9])).fixed32Field(5, 7);
    w.tag(6, 3).tag(7, 0).varint(1).tag(6, 4).tag(8, 0).varint(42);
    const r = new ProtoReader(w.finish());
    for (let i = 0; i < 5; i++) r.skipField(r.tag());
    assert.equal(r.tag(), (8 << 3) | 0);
    assert.equal(r.uint64(), 42);
  });

  test('truncation and bad keys are BadRequestErrors that name the byte', () => {
    assert.throws(() => new ProtoReader(new Uint8Array([0x80, 0x80])).uint64(), /truncated protobuf at byte 2/);
    assert.throws(() => new ProtoReader(new Uint8Array([0x0a, 0x05, 1])).bytes(), /truncated protobuf at byte 3/);
    assert.throws(() => new ProtoReader(new Uint8Array([0x00])).tag(), /field number 0 at byte 0/);
    assert.throws(() => new ProtoReader(new Uint8Array([0x0f])).tag(), /wire type 7 at byte 0/);
    assert.throws(() => new ProtoReader(new Uint8Array(11).fill(0xff)).uint64(), /varint longer than 10 bytes/);
    assert.throws(() => new ProtoReader(new Uint8Array([0x0c])).skipField(0x0c), BadRequestError);
  });
});

describe('bounded gunzip', () => {
  test('inflates within the limit and refuses beyond it', () => {
    const data = new Uint8Array(5000).fill(7);
    const gz = gzipSync(data);
    assert.ok(isGzip(gz));
    assert.ok(!isGzip(data));
    assert.ok(Buffer.from(inflateBounded(gz, 5000)).equals(data));
    assert.throws(() => inflateBounded(gz, 4999), ProfileTooLargeError);
    assert.throws(() => inflateBounded(gz, 0), ProfileTooLargeError);
    assert.throws(() => inflateBounded(data, 10_000), BadRequestError);
    const corrupt = Uint8Array.from(gz);
    corrupt[12] ^= 0xff;
    assert.throws(() => inflateBounded(corrupt, 10_000), (e: unknown) => e instanceof BadRequestError && /invalid gzip data/.test(e.message));
  });
});
