/**
 * speedscope, trie and tree: decoders on their own, then a round trip through a real Hearth:
 * one folded profile sent as folded, speedscope (sampled and evented), trie and tree must give
 * the same stored flame graph.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildTree, decodeTreeBytes, encodeTreeBytes } from '../../formats/flamegraph/index.ts';
import { FormatError } from '../../formats/format-error.ts';
import { decodeSpeedscope, SPEEDSCOPE_SCHEMA } from '../../formats/speedscope/index.ts';
import { decodeTrie } from '../../formats/trie/index.ts';
import { foldedFromFlamebearer, type Flamebearer } from '../support/flamebearer.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';

/** A known folded profile: shared prefixes, a stack that is a prefix of another, repeated frames. */
const FOLDED: [string, number][] = [
  ['main;serve;handle;parse', 12],
  ['main;serve;handle;parse;utf8', 5],
  ['main;serve;handle;render', 30],
  ['main;serve;gc', 3],
  ['main;idle', 1],
  ['main;serve;handle;handle', 7],
];

// ---- encoders written for the test, from the formats' descriptions

function uvarint(v: number, out: number[]): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** A path-compressed trie of the stack keys, depth-first pre-order: len, prefix, value, children. */
function encodeTrie(entries: [string, number][]): Uint8Array {
  interface Node { prefix: string; value: number; children: Node[] }
  const root: Node = { prefix: '', value: 0, children: [] };
  for (const [key, value] of entries) {
    let node = root;
    let rest = key;
    for (;;) {
      const child = node.children.find((c) => c.prefix[0] === rest[0]);
      if (!child) {
        node.children.push({ prefix: rest, value, children: [] });
        break;
      }
      let i = 0;
      while (i < child.prefix.length && i < rest.length && child.prefix[i] === rest[i]) i++;
      if (i < child.prefix.length) {
        // Split the child at the common prefix.
        const tail: Node = { prefix: child.prefix.slice(i), value: child.value, children: child.children };
        child.prefix = child.prefix.slice(0, i);
        child.value = 0;
        child.children = [tail];
      }
      rest = rest.slice(i);
      node = child;
      if (rest === '') {
        node.value += value;
        break;
      }
    }
  }
  const out: number[] = [];
  const write = (n: Node) => {
    const b = Buffer.from(n.prefix);
    uvarint(b.length, out);
    out.push(...b);
    uvarint(n.value, out);
    uvarint(n.children.length, out);
    n.children.forEach(write);
  };
  write(root);
  return Uint8Array.from(out);
}

function encodeTree(entries: [string, number][]): Uint8Array {
  const names: string[] = [];
  const stacks = entries.map(([k]) => Uint32Array.from(k.split(';').map((n) => (names.includes(n) ? names.indexOf(n) : names.push(n) - 1))).reverse());
  return encodeTreeBytes(buildTree({ names, stacks, values: entries.map(([, v]) => v) }));
}

function speedscopeSampled(entries: [string, number][], unit: string, weightOf: (count: number) => number, name = 'main thread') {
  const frames: { name: string }[] = [];
  const idx = (n: string) => (frames.findIndex((f) => f.name === n) + 1 || frames.push({ name: n })) - 1;
  const samples = entries.map(([k]) => k.split(';').map(idx));
  return { type: 'sampled', name, unit, startValue: 0, endValue: 0, samples, weights: entries.map(([, v]) => weightOf(v)), frames };
}

function speedscopeFile(profiles: ReturnType<typeof speedscopeSampled>[], evented = false): string {
  const names: { name: string }[] = [];
  const idx = (n: string) => (names.findIndex((f) => f.name === n) + 1 || names.push({ name: n })) - 1;
  const out = profiles.map((p) => {
    const samples = p.samples.map((s) => s.map((i) => idx(p.frames[i].name)));
    if (!evented) return { type: 'sampled', name: p.name, unit: p.unit, startValue: 0, endValue: 0, samples, weights: p.weights };
    // The same samples laid end to end as open/close events.
    const events: { type: string; at: number; frame: number }[] = [];
    let t = 0;
    samples.forEach((s, i) => {
      for (const f of s) events.push({ type: 'O', at: t, frame: f });
      t += p.weights[i];
      for (const f of [...s].reverse()) events.push({ type: 'C', at: t, frame: f });
    });
    return { type: 'evented', name: p.name, unit: p.unit, startValue: 0, endValue: t, events };
  });
  return JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: names }, profiles: out, name: 'test', exporter: 'hearth-test' });
}

const asMap = (entries: [string, number][]) => {
  const m = new Map<string, number>();
  for (const [k, v] of entries) m.set(k, (m.get(k) ?? 0) + v);
  return m;
};

describe('decoders', () => {
  test('trie: every key with its value, shared prefixes included', () => {
    const got = decodeTrie(encodeTrie(FOLDED)).map((e) => [e.key, e.value] as [string, number]);
    assert.deepEqual(asMap(got), asMap(FOLDED));
    assert.deepEqual(decodeTrie(new Uint8Array(0)), []);
  });

  test('tree: one stack per node with a self value', () => {
    const t = decodeTreeBytes(encodeTree(FOLDED));
    const got = t.stacks.map((s, i) => [Array.from(s, (n) => t.names[n]).reverse().join(';'), t.values[i]] as [string, number]);
    assert.deepEqual(asMap(got), asMap(FOLDED));
  });

  test('speedscope: sampled and evented profiles give the same stacks; same-named profiles merge', () => {
    const p = speedscopeSampled(FOLDED, 'milliseconds', (c) => c * 10);
    for (const evented of [false, true]) {
      const [one] = decodeSpeedscope(speedscopeFile([p], evented));
      assert.equal(one.unit, 'milliseconds');
      assert.deepEqual(asMap(one.stacks.map((s) => [s.frames.join(';'), s.value])), asMap(FOLDED.map(([k, v]) => [k, v * 10])));
    }
    const split = decodeSpeedscope(speedscopeFile([speedscopeSampled(FOLDED.slice(0, 2), 'seconds', (c) => c), speedscopeSampled(FOLDED.slice(2), 'seconds', (c) => c)]));
    assert.equal(split.length, 1);
    assert.equal(split[0].stacks.length, FOLDED.length);
    // Fractions of a unit are cut, as Pyroscope cuts them.
    const frac = decodeSpeedscope(speedscopeFile([speedscopeSampled([['a;b', 1]], 'milliseconds', () => 2.9)]));
    assert.equal(frac[0].stacks[0].value, 2);
  });

  test('malformed input is a FormatError that says what is wrong', () => {
    const bad: [string, () => unknown, RegExp][] = [
      ['trie overrun', () => decodeTrie(Uint8Array.from([5, 0x61])), /overruns/],
      ['trie children', () => decodeTrie(Uint8Array.from([0, 0, 100])), /children/],
      ['trie trailing', () => decodeTrie(Uint8Array.from([0, 0, 0, 9])), /trailing/],
      ['speedscope JSON', () => decodeSpeedscope('{'), /not JSON/],
      ['speedscope schema', () => decodeSpeedscope('{"$schema":"x"}'), /schema/],
      ['speedscope frame', () => decodeSpeedscope(JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [] }, profiles: [{ type: 'sampled', unit: 'none', samples: [[0]], weights: [1] }] })), /frame 0/],
      ['speedscope unit', () => decodeSpeedscope(JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, profiles: [{ type: 'sampled', unit: 'parsecs', samples: [], weights: [] }] })), /unit/],
      ['speedscope weights', () => decodeSpeedscope(JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [{ name: 'a' }] }, profiles: [{ type: 'sampled', unit: 'none', samples: [[0]], weights: [] }] })), /weights/],
      ['speedscope order', () => decodeSpeedscope(JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [{ name: 'a' }] }, profiles: [{ type: 'evented', unit: 'none', startValue: 0, events: [{ type: 'O', at: 5, frame: 0 }, { type: 'C', at: 1, frame: 0 }] }] })), /before/],
      ['speedscope close', () => decodeSpeedscope(JSON.stringify({ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [{ name: 'a' }] }, profiles: [{ type: 'evented', unit: 'none', events: [{ type: 'C', at: 1, frame: 0 }] }] })), /no frame is open/],
    ];
    for (const [what, fn, msg] of bad) assert.throws(fn, (e) => e instanceof FormatError && msg.test(e.message), what);
  });
});

describe('round trips through /ingest', () => {
  let hearth: HearthProcess;
  let tmp: { dir: string; remove(): void };
  before(async () => {
    tmp = tempDir('hearth-legacy-');
    hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
  });
  after(async () => {
    await hearth?.stop();
    tmp?.remove();
  });

  async function push(query: string, body: string | Uint8Array, contentType: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await fetch(`${hearth.url}/ingest?${query}&from=now-10s&until=now`, {
        method: 'POST',
        body: typeof body === 'string' ? body : new Uint8Array(body),
        headers: { 'content-type': contentType },
      });
      if (r.status === 200) return;
      if ((r.status !== 503 && r.status !== 429) || Date.now() > deadline) assert.fail(`${query}: ${r.status} ${await r.text()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async function stored(type: string, service: string): Promise<{ folded: Map<string, number>; total: number }> {
    const r = await fetch(`${hearth.url}/pyroscope/render?query=${encodeURIComponent(`${type}{service_name="${service}"}`)}&from=now-1h&until=now%2B1m&maxNodes=100000`);
    assert.equal(r.status, 200);
    const fb = ((await r.json()) as { flamebearer: Flamebearer }).flamebearer;
    return { folded: foldedFromFlamebearer(fb), total: fb.numTicks };
  }

  test('folded, speedscope (sampled and evented), trie and tree store the same CPU flame graph', async () => {
    const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
    const text = FOLDED.map(([k, v]) => `${k} ${v}`).join('\n');
    await push('name=rt-folded.cpu', text, 'text/plain');
    // 100 Hz: each count is 10 ms; speedscope weights are the same time in milliseconds.
    const ms = speedscopeSampled(FOLDED, 'milliseconds', (c) => c * 10);
    await push('name=rt-speedscope-sampled.cpu&format=speedscope', speedscopeFile([ms]), 'application/json');
    await push('name=rt-speedscope-evented.cpu&format=speedscope', speedscopeFile([ms], true), 'application/json');
    await push('name=rt-trie.cpu&format=trie', encodeTrie(FOLDED), 'binary/octet-stream+trie');
    await push('name=rt-trie-ct.cpu', encodeTrie(FOLDED), 'binary/octet-stream+trie');
    await push('name=rt-tree.cpu', encodeTree(FOLDED), 'binary/octet-stream+tree');

    const original = await stored(CPU, 'rt-folded');
    const expectedTotal = FOLDED.reduce((a, [, v]) => a + v, 0) * 10_000_000;
    assert.equal(original.total, expectedTotal);
    assert.deepEqual(original.folded, asMap(FOLDED.map(([k, v]) => [k, v * 10_000_000])));
    for (const service of ['rt-speedscope-sampled', 'rt-speedscope-evented', 'rt-trie', 'rt-trie-ct', 'rt-tree']) {
      const got = await stored(CPU, service);
      assert.equal(got.total, expectedTotal, service);
      assert.deepEqual(new Map([...got.folded].sort()), new Map([...original.folded].sort()), service);
    }
  });

  test('speedscope with several profiles: one series per unit, named by profile', async () => {
    const file = speedscopeFile([speedscopeSampled(FOLDED, 'milliseconds', (c) => c, 'thread A'), { ...speedscopeSampled(FOLDED, 'bytes', (c) => c * 100, 'heap'), startValue: 1 }]);
    await push('name=rt-multi&format=speedscope', file, 'application/json');
    const wall = await stored('wall:wall:nanoseconds:cpu:nanoseconds', 'rt-multi');
    assert.equal(wall.total, FOLDED.reduce((a, [, v]) => a + v, 0) * 1_000_000);
    const bytes = await stored('memory:samples:bytes::', 'rt-multi');
    assert.equal(bytes.total, FOLDED.reduce((a, [, v]) => a + v, 0) * 100);
    const names = (await (await fetch(`${hearth.url}/pyroscope/label-values?label=profile_name`)).json()) as string[];
    assert.ok(names.includes('thread A') && names.includes('heap'), names.join(','));
  });
});
