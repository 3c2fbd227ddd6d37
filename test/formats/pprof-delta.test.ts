import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Labels, Profile } from '../../core/model.ts';
import { cumulativeDelta, type CumulativeBaseline } from '../../formats/pprof/index.ts';

interface S {
  frames: string[]; // leaf first
  values: number[];
  labels?: Labels;
}

/** A profile whose name table is laid out in the order given, so two profiles never share IDs by accident. */
function profile(types: string[], samples: S[], timeSec: number, nameOrder: 'asc' | 'desc' = 'asc'): Profile {
  const all = [...new Set(samples.flatMap((s) => s.frames))].sort();
  if (nameOrder === 'desc') all.reverse();
  const names = ['', ...all];
  const labelSets: Labels[] = [{}];
  return {
    sampleTypes: types.map((t) => ({ type: t, unit: 'count' })),
    periodType: { type: 'contentions', unit: 'count' },
    period: 1,
    timeNanos: BigInt(timeSec) * 1_000_000_000n,
    durationNanos: 0n,
    names,
    stacks: samples.map((s) => Uint32Array.from(s.frames.map((f) => names.indexOf(f)))),
    samples: samples.map((s, i) => {
      let labelSet = 0;
      if (s.labels) {
        labelSets.push(s.labels);
        labelSet = labelSets.length - 1;
      }
      return { stack: i, values: [...s.values], labelSet };
    }),
    sampleLabelSets: labelSets,
  };
}

/** What a profile holds, independent of layout: stack;labels → values. */
function contents(p: Profile): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of p.samples) {
    const key = [...p.stacks[s.stack]].map((i) => p.names[i]).join(';') + JSON.stringify(p.sampleLabelSets[s.labelSet]);
    out.set(key, s.values);
  }
  return out;
}

const MUTEX = ['contentions', 'delay'];

describe('cumulative pprof deltas', () => {
  test('the first profile is a baseline and yields nothing', () => {
    const r = cumulativeDelta(undefined, profile(MUTEX, [{ frames: ['lock', 'main'], values: [3, 300] }], 10), [0, 1]);
    assert.equal(r.kind, 'baseline');
  });

  test('each stack yields what it gained; unchanged stacks vanish; new stacks count in full', () => {
    const a = profile(MUTEX, [
      { frames: ['lock', 'a'], values: [3, 300] },
      { frames: ['lock', 'b'], values: [1, 100] },
    ], 10);
    const b = profile(
      MUTEX,
      [
        { frames: ['lock', 'b'], values: [1, 100] },
        { frames: ['lock', 'a'], values: [5, 420] },
        { frames: ['lock', 'c'], values: [2, 50], labels: { region: 'eu' } },
      ],
      25,
      'desc',
    );
    const base = cumulativeDelta(undefined, a, [0, 1]).baseline;
    const r = cumulativeDelta(base, b, [0, 1]);
    assert.equal(r.kind, 'delta');
    assert.ok(r.kind === 'delta' && r.profile);
    assert.deepEqual(
      contents(r.profile),
      new Map([
        ['lock;a{}', [2, 120]],
        ['lock;c{"region":"eu"}', [2, 50]],
      ]),
    );
    assert.equal(r.profile.durationNanos, 15_000_000_000n, 'the delta covers the time between the two scrapes');
    assert.equal(r.profile.timeNanos, 25_000_000_000n);
  });

  test('samples with the same stack are summed before they are compared', () => {
    const a = profile(MUTEX, [{ frames: ['lock'], values: [1, 10] }, { frames: ['lock'], values: [1, 10] }], 1);
    const b = profile(MUTEX, [{ frames: ['lock'], values: [5, 50] }], 2);
    const r = cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, b, [0, 1]);
    assert.ok(r.kind === 'delta' && r.profile);
    assert.deepEqual(contents(r.profile), new Map([['lock{}', [3, 30]]]));
  });

  test('only the cumulative sample types are differenced; snapshots pass through', () => {
    const types = ['alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space'];
    const a = profile(types, [{ frames: ['alloc'], values: [10, 1000, 4, 400] }], 1);
    const b = profile(types, [{ frames: ['alloc'], values: [15, 1500, 2, 200] }, { frames: ['idle'], values: [0, 0, 1, 64] }], 2);
    const r = cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, b, [0, 1]);
    assert.ok(r.kind === 'delta' && r.profile);
    assert.deepEqual(
      contents(r.profile),
      new Map([
        ['alloc{}', [5, 500, 2, 200]],
        ['idle{}', [0, 0, 1, 64]],
      ]),
    );
  });

  test('nothing new: no profile', () => {
    const a = profile(MUTEX, [{ frames: ['lock'], values: [1, 10] }], 1);
    const r = cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, profile(MUTEX, [{ frames: ['lock'], values: [1, 10] }], 2), [0, 1]);
    assert.deepEqual([r.kind, r.kind === 'delta' && r.profile], ['delta', null]);
  });

  test('counters that went down (a restart) start a new baseline and yield nothing negative', () => {
    const before = profile(MUTEX, [{ frames: ['lock', 'a'], values: [100, 10_000] }], 1);
    const restarted = profile(MUTEX, [{ frames: ['lock', 'a'], values: [2, 150] }], 2);
    const later = profile(MUTEX, [{ frames: ['lock', 'a'], values: [5, 400] }], 3);
    let base: CumulativeBaseline = cumulativeDelta(undefined, before, [0, 1]).baseline;
    const r = cumulativeDelta(base, restarted, [0, 1]);
    assert.equal(r.kind, 'reset');
    base = r.baseline;
    const next = cumulativeDelta(base, later, [0, 1]);
    assert.ok(next.kind === 'delta' && next.profile);
    assert.deepEqual(contents(next.profile), new Map([['lock;a{}', [3, 250]]]));
  });

  test('a stack that had counts and is gone means a restart, even if the totals grew', () => {
    const a = profile(MUTEX, [{ frames: ['old'], values: [1, 10] }], 1);
    const b = profile(MUTEX, [{ frames: ['new'], values: [50, 5000] }], 2);
    assert.equal(cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, b, [0, 1]).kind, 'reset');
  });

  test('one stack dipping while the totals grow (scaled estimates) gives zero, not a negative value', () => {
    const types = ['alloc_objects', 'alloc_space'];
    const a = profile(types, [{ frames: ['x'], values: [100, 1000] }, { frames: ['y'], values: [10, 100] }], 1);
    const b = profile(types, [{ frames: ['x'], values: [99, 998] }, { frames: ['y'], values: [20, 200] }], 2);
    const r = cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, b, [0, 1]);
    assert.ok(r.kind === 'delta' && r.profile);
    assert.deepEqual(contents(r.profile), new Map([['y{}', [10, 100]]]));
    for (const s of r.profile.samples) for (const v of s.values) assert.ok(v >= 0);
  });

  test('a change of sample types starts a new baseline', () => {
    const a = profile(MUTEX, [{ frames: ['lock'], values: [1, 10] }], 1);
    const b = profile(['contentions'], [{ frames: ['lock'], values: [5] }], 2);
    assert.equal(cumulativeDelta(cumulativeDelta(undefined, a, [0, 1]).baseline, b, [0]).kind, 'baseline');
  });
});
