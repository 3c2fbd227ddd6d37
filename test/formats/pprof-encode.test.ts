import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Profile as PfProfile } from 'pprof-format';
import { BadRequestError } from '../../core/errors.ts';
import type { Profile } from '../../core/model.ts';
import { decodePprof, encodePprof } from '../../formats/pprof/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';

const ROUND_TRIP_FILES = [
  'google-pprof/large.cpu',
  'google-pprof/cppbench.cpu_no_samples_type',
  'grafana-pyroscope/go-heap.pb.gz',
  'grafana-pyroscope/go.cpu.labels.pprof',
  'grafana-pyroscope/single_group_with_optional_span_id.pb.gz',
  'grafana-pyroscope/dotnet-pprof-3.pb.gz',
  'grafana-pyroscope/profile_ruby',
  'grafana-pyroscope/invalid_utf8.pb.gz',
  'parca/query_alloc_space_delta.pb.gz',
  'datadog-pprof-format/test.pprof',
];

const goAvailable = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
const GO_SKIP = goAvailable ? false : 'the go toolchain is not installed, so `go tool pprof` cannot be run';

/**
 * What a profile means, independent of how it is laid out: per (labels, span, trace, stack
 * as names) the summed values. Two profiles with equal folds draw the same flame graphs.
 */
function fold(p: Profile): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of p.samples) {
    const labels = Object.entries(p.sampleLabelSets[s.labelSet]).sort();
    const frames = [...p.stacks[s.stack]].map((f) => p.names[f]).join(';');
    const key = JSON.stringify([labels, s.spanId ?? '', s.traceId ?? '', frames]);
    const acc = out.get(key) ?? p.sampleTypes.map(() => 0);
    s.values.forEach((v, i) => (acc[i] += v));
    out.set(key, acc);
  }
  return out;
}

function totals(p: Profile): number[] {
  const t = p.sampleTypes.map(() => 0);
  for (const s of p.samples) s.values.forEach((v, i) => (t[i] += v));
  return t;
}

/** Leaf-frame self values from pprof-format's reading of our output, for a second opinion. */
function pprofFormatView(bytes: Uint8Array): { types: string[]; totals: number[]; self: Array<Map<string, number>> } {
  const pf = PfProfile.decode(bytes);
  const str = (i: number | bigint) => pf.stringTable.strings[Number(i)] ?? '';
  const fns = new Map(pf.function.map((f) => [Number(f.id), str(f.name)]));
  const locs = new Map(pf.location.map((l) => [Number(l.id), l]));
  const types = pf.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`);
  const sums = types.map(() => 0);
  const self = types.map(() => new Map<string, number>());
  for (const s of pf.sample) {
    const leafLoc = locs.get(Number(s.locationId[0]));
    const leaf = leafLoc ? fns.get(Number(leafLoc.line[0].functionId)) ?? '?' : '';
    s.value.forEach((v, i) => {
      const n = Number(BigInt.asIntN(64, BigInt(v)));
      sums[i] += n;
      self[i].set(leaf, (self[i].get(leaf) ?? 0) + n);
    });
  }
  return { types, totals: sums, self };
}

function topSelf(p: Profile, type: number): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const s of p.samples) {
    const st = p.stacks[s.stack];
    const leaf = st.length > 0 ? p.names[st[0]] : '';
    m.set(leaf, (m.get(leaf) ?? 0) + s.values[type]);
  }
  return top(m);
}

function top(m: Map<string, number>): Array<[string, number]> {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
}

describe('encodePprof round trips', () => {
  for (const rel of ROUND_TRIP_FILES) {
    test(rel, { skip: CORPUS_SKIP }, () => {
      const first = decodePprof(corpusFile(rel));
      const bytes = encodePprof(first);
      const second = decodePprof(bytes);

      assert.deepEqual(second.sampleTypes, first.sampleTypes);
      assert.deepEqual(second.periodType, first.periodType);
      assert.equal(second.period, first.period);
      assert.equal(second.timeNanos, first.timeNanos);
      assert.equal(second.durationNanos, first.durationNanos);
      assert.deepEqual(totals(second), totals(first));
      assert.deepEqual(fold(second), fold(first));

      const pf = pprofFormatView(bytes);
      assert.deepEqual(pf.types, first.sampleTypes.map((t) => `${t.type}/${t.unit}`));
      assert.deepEqual(pf.totals, totals(first));
      for (let i = 0; i < first.sampleTypes.length; i++) assert.deepEqual(top(pf.self[i]), topSelf(first, i));
    });
  }

  test('selected sample types only', { skip: CORPUS_SKIP }, () => {
    const p = decodePprof(corpusFile('grafana-pyroscope/go-heap.pb.gz'));
    const back = decodePprof(encodePprof(p, [3, 1]));
    assert.deepEqual(back.sampleTypes, [p.sampleTypes[3], p.sampleTypes[1]]);
    const t = totals(p);
    assert.deepEqual(totals(back), [t[3], t[1]]);
    assert.ok(back.samples.length <= p.samples.length, 'samples that become all zero are dropped');
  });

  test('span and trace ids and label sets survive', () => {
    const p: Profile = {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: 1_700_000_000_000_000_000n,
      durationNanos: 10_000_000_000n,
      names: ['', 'main', 'work', 'héllo'],
      stacks: [Uint32Array.of(2, 1), Uint32Array.of(3, 2, 1)],
      samples: [
        { stack: 0, values: [30], labelSet: 1, spanId: '00000000000000ab' },
        { stack: 1, values: [-5], labelSet: 0, traceId: '0123456789abcdef0123456789abcdef' },
        { stack: 1, values: [7], labelSet: 1 },
      ],
      sampleLabelSets: [{}, { endpoint: '/api', region: 'eu' }],
    };
    const back = decodePprof(encodePprof(p));
    assert.deepEqual(fold(back), fold(p));
    assert.deepEqual(back.sampleLabelSets, p.sampleLabelSets);
    assert.equal(back.samples[0].spanId, '00000000000000ab');
    assert.equal(back.samples[1].traceId, '0123456789abcdef0123456789abcdef');
    assert.equal(back.timeNanos, p.timeNanos);
  });

  test('bad arguments', () => {
    const p = decodePprof(encodePprof({
      sampleTypes: [{ type: 'samples', unit: 'count' }],
      periodType: { type: '', unit: '' },
      period: 0,
      timeNanos: 0n,
      durationNanos: 0n,
      names: ['', 'f'],
      stacks: [Uint32Array.of(1)],
      samples: [{ stack: 0, values: [1], labelSet: 0 }],
      sampleLabelSets: [{}],
    }));
    assert.equal(p.samples.length, 1);
    assert.throws(() => encodePprof(p, [1]), BadRequestError);
    assert.throws(() => encodePprof(p, [-1]), BadRequestError);
  });
});

describe('go tool pprof reads the output', () => {
  test('go tool pprof -top', { skip: CORPUS_SKIP || GO_SKIP, timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-pprof-'));
    try {
      for (const rel of ['google-pprof/large.cpu', 'grafana-pyroscope/go.cpu.labels.pprof', 'parca/query_alloc_space_delta.pb.gz']) {
        const p = decodePprof(corpusFile(rel));
        const file = join(dir, 'profile.pb');
        writeFileSync(file, encodePprof(p));
        const res = spawnSync('go', ['tool', 'pprof', '-top', '-nodecount=5', '-symbolize=none', file], {
          encoding: 'utf8',
          env: { ...process.env, PPROF_TMPDIR: dir, HOME: dir },
        });
        assert.equal(res.status, 0, `go tool pprof failed on ${rel}: ${res.stderr}`);
        const leader = topSelf(p, p.sampleTypes.length - 1)[0][0];
        assert.ok(res.stdout.includes(leader), `${rel}: expected ${leader} in\n${res.stdout}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
