/**
 * The JFR reader on its own: the corpus recordings, recordings written here in both integer
 * encodings, labels from a LabelsSnapshot, several chunks, and truncated or mutated input.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeJfr, decodeLabelsSnapshot, JfrError, type JfrDecodeResult } from '../../formats/jfr/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { writeJfr } from '../support/jfr-writer.ts';

const BIG = 64 * 1024 * 1024;

/** `root;…;leaf` → value of sample type `i`, per profile type. */
function folded(r: JfrDecodeResult, name: string, typeIndex = 0, sampleType?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const { name: n, profile: p } of r.profiles) {
    if (n !== name || (sampleType !== undefined && p.sampleTypes[0].type !== sampleType)) continue;
    for (const s of p.samples) {
      const key = Array.from(p.stacks[s.stack]).reverse().map((i) => p.names[i]).join(';');
      out.set(key, (out.get(key) ?? 0) + s.values[typeIndex]);
    }
  }
  return out;
}

function types(r: JfrDecodeResult): string[] {
  return r.profiles.flatMap((p) => p.profile.sampleTypes.map((t) => `${p.name}:${t.type}:${t.unit}:${p.profile.periodType.type}:${p.profile.periodType.unit}`)).sort();
}

describe('corpus recordings', { skip: CORPUS_SKIP }, () => {
  const files: Record<string, number> = {
    'example.jfr.gz': 4,
    'cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz': 5,
    'dump2.jfr.gz': 4,
    'goland-multichunk.jfr.gz': 5,
    'object-allocation-sample.jfr.gz': 3,
  };
  for (const [file, profiles] of Object.entries(files)) {
    test(`${file} decodes into the ${profiles} profiles Pyroscope derives`, () => {
      const r = decodeJfr(corpusFile(`grafana-jfr-parser/${file}`), { maxBytes: BIG });
      assert.equal(r.profiles.length, profiles);
      for (const p of r.profiles) assert.ok(p.profile.samples.length > 0);
      if (file.startsWith('goland')) assert.equal(r.chunks, 6);
    });
  }

  test('example.jfr.gz: CPU stacks and totals equal Pyroscope\'s golden output', () => {
    const r = decodeJfr(corpusFile('grafana-jfr-parser/example.jfr.gz'));
    assert.deepEqual(types(r), [
      'memory:alloc_in_new_tlab_bytes:bytes:space:bytes',
      'memory:alloc_in_new_tlab_objects:count:space:bytes',
      'memory:alloc_outside_tlab_bytes:bytes:space:bytes',
      'memory:alloc_outside_tlab_objects:count:space:bytes',
      'mutex:contentions:count:mutex:count',
      'mutex:delay:nanoseconds:mutex:count',
      'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
    ]);
    const expected = new Map<string, number>();
    const text = gunzipSync(corpusFile('grafana-jfr-parser/example_3_process_cpu_cpu__nanoseconds_expected_collapsed.txt.gz')).toString();
    for (const line of text.split('\n').filter(Boolean)) {
      const m = /^(.*) \[(\d+)\]$/.exec(line)!;
      // Golden frames are `function:line`; profiles name functions.
      const key = m[1].split(';').map((f) => f.replace(/:\d+$/, '')).join(';');
      expected.set(key, (expected.get(key) ?? 0) + Number(m[2]));
    }
    const got = folded(r, 'process_cpu');
    assert.equal(got.size, expected.size);
    assert.deepEqual(new Map([...got].sort()), new Map([...expected].sort()));
    assert.equal([...got.values()].reduce((a, b) => a + b, 0), 10_310_000_000);
  });

  test('dump2 with its LabelsSnapshot: context labels on samples, profile IDs as span IDs', () => {
    const labels = decodeLabelsSnapshot(gunzipSync(corpusFile('grafana-jfr-parser/dump2.labels.pb.gz')));
    assert.equal(labels.contexts.size, 56);
    const r = decodeJfr(corpusFile('grafana-jfr-parser/dump2.jfr.gz'), { labels, maxBytes: BIG });
    assert.equal(r.event, 'wall');
    const wall = r.profiles.find((p) => p.name === 'wall')!.profile;
    const withSpan = wall.samples.filter((s) => s.spanId !== undefined);
    assert.ok(withSpan.length > 0);
    for (const s of withSpan) {
      assert.match(s.spanId!, /^[0-9a-f]{16}$/);
      assert.ok(wall.sampleLabelSets[s.labelSet].thread_name, 'a sample with a context has its thread_name');
      assert.equal(wall.sampleLabelSets[s.labelSet].profile_id, undefined);
    }
    const names = new Set([...labels.strings.values()]);
    for (const set of wall.sampleLabelSets) for (const [k, v] of Object.entries(set)) assert.ok(names.has(k) && names.has(v));
  });

  test('truncated recordings are a JfrError at every cut', () => {
    const raw = gunzipSync(corpusFile('grafana-jfr-parser/example.jfr.gz'));
    for (let i = 0; i < 300; i++) {
      const cut = Math.floor((raw.length * i) / 300);
      assert.throws(() => decodeJfr(raw.subarray(0, cut)), JfrError, `cut at ${cut}`);
    }
    assert.throws(() => decodeJfr(gzipSync(raw).subarray(0, 5000)), JfrError);
  });

  test('the size limit holds for raw and gzipped recordings', () => {
    const gz = corpusFile('grafana-jfr-parser/example.jfr.gz');
    assert.throws(() => decodeJfr(gz, { maxBytes: 100_000 }), (e) => e instanceof JfrError && e.tooLarge);
    assert.throws(() => decodeJfr(gunzipSync(gz), { maxBytes: 100_000 }), (e) => e instanceof JfrError && e.tooLarge);
  });
});

for (const compressed of [true, false]) {
  describe(`written recordings, ${compressed ? 'compressed' : 'fixed-width'} integers`, () => {
    test('CPU samples: counted per stack times the period; sleeping threads are not on CPU', () => {
      const r = decodeJfr(
        writeJfr({
          compressed,
          event: 'itimer',
          samples: [
            { stack: ['app/Work.hot', 'app/Main.main'], times: 7 },
            { stack: ['app/Work.cold', 'app/Main.main'], times: 2 },
            { stack: ['app/Idle.sleep', 'app/Main.main'], state: 'STATE_SLEEPING', times: 5 },
          ],
        }),
        { sampleRate: 100 },
      );
      assert.equal(r.event, 'itimer');
      assert.deepEqual(types(r), ['process_cpu:cpu:nanoseconds:cpu:nanoseconds']);
      assert.deepEqual(folded(r, 'process_cpu'), new Map([['app/Main.main;app/Work.hot', 70_000_000], ['app/Main.main;app/Work.cold', 20_000_000]]));
    });

    test('wall mode: execution samples count as wall time too, sleeping ones included', () => {
      const r = decodeJfr(
        writeJfr({ compressed, event: 'wall', samples: [{ stack: ['a/B.c'], times: 3 }, { stack: ['a/B.sleep'], state: 'STATE_SLEEPING', times: 2 }] }),
        { sampleRate: 1000 },
      );
      assert.deepEqual(folded(r, 'wall'), new Map([['a/B.c', 3_000_000], ['a/B.sleep', 2_000_000]]));
      assert.deepEqual(folded(r, 'process_cpu'), new Map([['a/B.c', 3_000_000]]));
    });

    test('allocations in new TLABs: objects and bytes', () => {
      const r = decodeJfr(writeJfr({ compressed, allocations: [{ stack: ['x/Y.alloc', 'x/Y.main'], tlabSize: 4096, times: 3 }] }));
      assert.deepEqual(types(r), ['memory:alloc_in_new_tlab_bytes:bytes:space:bytes', 'memory:alloc_in_new_tlab_objects:count:space:bytes']);
      assert.deepEqual(folded(r, 'memory', 0), new Map([['x/Y.main;x/Y.alloc', 3]]));
      assert.deepEqual(folded(r, 'memory', 1), new Map([['x/Y.main;x/Y.alloc', 3 * 4096]]));
    });

    test('JVM-generated class names are made stable as Pyroscope makes them', () => {
      const r = decodeJfr(writeJfr({ compressed, samples: [{ stack: ['org/example/Svc$$Lambda$669.0x0000000800fd7318.run', 'jdk/internal/reflect/GeneratedMethodAccessor31.invoke'] }] }));
      assert.deepEqual([...folded(r, 'process_cpu').keys()], ['jdk/internal/reflect/GeneratedMethodAccessor_.invoke;org/example/Svc$$Lambda_.run']);
    });

    test('context IDs take the labels of a LabelsSnapshot', () => {
      const snapshot = labelsSnapshot({ 7: { service_region: 'eu', span_id: '00000000000000ab' } }, { 1: 'service_region', 2: 'eu', 3: 'span_id', 4: '00000000000000ab' });
      const labels = decodeLabelsSnapshot(snapshot);
      const r = decodeJfr(writeJfr({ compressed, samples: [{ stack: ['a/B.c'], contextId: 7, times: 2 }, { stack: ['a/B.c'], times: 1 }] }), { labels });
      const p = r.profiles[0].profile;
      const byContext = p.samples.map((s) => [p.sampleLabelSets[s.labelSet], s.spanId, s.values[0]]);
      assert.deepEqual(byContext, [[{ service_region: 'eu' }, '00000000000000ab', 20_000_000], [{}, undefined, 10_000_000]]);
    });

    test('several chunks in one file add up', () => {
      const one = writeJfr({ compressed, samples: [{ stack: ['a/B.c'], times: 2 }] });
      const two = writeJfr({ compressed, samples: [{ stack: ['a/B.c'], times: 3 }, { stack: ['a/B.d'], times: 1 }] });
      const r = decodeJfr(Buffer.concat([one, two]));
      assert.equal(r.chunks, 2);
      assert.deepEqual(folded(r, 'process_cpu'), new Map([['a/B.c', 50_000_000], ['a/B.d', 10_000_000]]));
    });

    test('every truncation is a JfrError', () => {
      const file = writeJfr({ compressed, event: 'cpu', samples: [{ stack: ['a/B.c', 'a/B.main'], times: 2 }], allocations: [{ stack: ['a/B.c'], tlabSize: 10 }] });
      for (let cut = 0; cut < file.length; cut++) assert.throws(() => decodeJfr(file.subarray(0, cut)), JfrError, `cut at ${cut}`);
      // With a clean end but a header claiming more, it is still a truncation.
      assert.doesNotThrow(() => decodeJfr(file));
    });
  });
}

test('fuzz: 20,000 mutated recordings end in a profile or a JfrError, each quickly', () => {
  const seeds = [
    writeJfr({ compressed: true, event: 'wall', samples: [{ stack: ['a/B.c', 'a/B.main'], times: 3 }, { stack: ['a/B.s'], state: 'STATE_SLEEPING' }], allocations: [{ stack: ['a/B.c'], tlabSize: 64 }] }),
    writeJfr({ compressed: false, samples: [{ stack: ['x/Y.z'], contextId: 3, times: 2 }], allocations: [{ stack: ['x/Y.z', 'x/Y.main'], tlabSize: 8 }] }),
  ];
  const labels = decodeLabelsSnapshot(labelsSnapshot({ 3: { k: 'v' } }, { 1: 'k', 2: 'v' }));
  let state = 0x9e3779b9;
  const rand = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  let rejected = 0;
  let slowest = 0;
  for (let i = 0; i < 20_000; i++) {
    const seed = seeds[i % seeds.length];
    let input = Uint8Array.from(seed);
    const kind = rand(4);
    const edits = 1 + rand(4);
    for (let e = 0; e < edits; e++) {
      const at = rand(input.length);
      if (kind === 0) input[at] = rand(256);
      else if (kind === 1) input[at] ^= 1 << rand(8);
      else if (kind === 2) input[at] = [0, 0x7f, 0x80, 0xff][rand(4)];
      else input = Uint8Array.from([...input.subarray(0, at), ...input.subarray(at + 1 + rand(8))]);
    }
    const t = performance.now();
    try {
      decodeJfr(input, { labels });
    } catch (err) {
      if (!(err instanceof JfrError)) throw new Error(`input ${i}: ${(err as Error).stack}`);
      rejected++;
    }
    slowest = Math.max(slowest, performance.now() - t);
  }
  assert.ok(rejected > 1000, `${rejected} rejected`);
  assert.ok(slowest < 2000, `slowest decode took ${slowest} ms`);
});

/** Encodes a LabelsSnapshot protobuf by hand: contexts (field 1) and strings (field 2) as map entries. */
function labelsSnapshot(contexts: Record<number, Record<string, string>>, strings: Record<number, string>): Uint8Array {
  const ids = new Map(Object.entries(strings).map(([id, s]) => [s, Number(id)]));
  const varint = (v: number): number[] => {
    const out: number[] = [];
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return out;
  };
  const len = (field: number, body: number[]): number[] => [(field << 3) | 2, ...varint(body.length), ...body];
  const out: number[] = [];
  for (const [id, labels] of Object.entries(contexts)) {
    const ctx: number[] = [];
    for (const [k, v] of Object.entries(labels)) ctx.push(...len(1, [0x08, ...varint(ids.get(k)!), 0x10, ...varint(ids.get(v)!)]));
    out.push(...len(1, [0x08, ...varint(Number(id)), ...len(2, ctx)]));
  }
  for (const [id, s] of Object.entries(strings)) out.push(...len(2, [0x08, ...varint(Number(id)), ...len(2, [...Buffer.from(s)])]));
  return Uint8Array.from(out);
}
