import { after, test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '../../core/errors.ts';
import {
  buildTree,
  compareNames,
  decodeTreeBytes,
  diffFlameGraph,
  encodeTreeBytes,
  minTotal,
  nodeCount,
  renderFlameGraph,
  toFlamebearer,
  toFlameGraph,
  toTreeBytes,
  treeToStacks,
  truncateTree,
  TREE_BYTES_TRUNCATION,
  type FlameGraph,
  type MergedStacks,
} from '../../formats/flamegraph/index.ts';
import { closeFlameGraphWorkers, toFlameGraphOffThread } from '../../formats/flamegraph/worker.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { rng } from '../support/rng.ts';

/** Stacks written root first, as in folded files, e.g. 'a;b;c'. */
function stacks(list: Array<[string, number]>): MergedStacks {
  const names: string[] = [];
  const index = new Map<string, number>();
  const out: Uint32Array[] = [];
  for (const [path] of list) {
    const frames = path === '' ? [] : path.split(';');
    const ids = frames.map((f) => {
      let i = index.get(f);
      if (i === undefined) {
        i = names.push(f) - 1;
        index.set(f, i);
      }
      return i;
    });
    out.push(Uint32Array.from(ids.reverse()));
  }
  return { names, stacks: out, values: list.map(([, v]) => v) };
}

function randomStacks(seed: number, count: number, maxDepth: number, nameCount: number, maxValue = 100): MergedStacks {
  const r = rng(seed);
  const names = Array.from({ length: nameCount }, (_, i) => `fn_${i.toString(36)}`);
  const list: Uint32Array[] = [];
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const depth = 1 + Math.floor(r() * maxDepth);
    const s = new Uint32Array(depth);
    // Skewed choice so that prefixes repeat, like real profiles.
    for (let j = 0; j < depth; j++) s[j] = Math.floor(r() * r() * nameCount);
    list.push(s);
    values.push(1 + Math.floor(r() * maxValue));
  }
  return { names, stacks: list, values };
}

interface FgNode {
  level: number;
  x: number;
  total: number;
  self: number;
  name: string;
}

/** Undoes the delta encoding into absolute positions. */
function decodeLevels(fg: FlameGraph): FgNode[][] {
  return fg.levels.map((l, level) => {
    const nodes: FgNode[] = [];
    let end = 0;
    for (let i = 0; i < l.length; i += 4) {
      const x = end + l[i];
      nodes.push({ level, x, total: l[i + 1], self: l[i + 2], name: fg.names[l[i + 3]] });
      end = x + l[i + 1];
    }
    return nodes;
  });
}

/** Stack path (root first) → value, for comparing trees regardless of layout. */
function stackMap(m: MergedStacks): Map<string, number> {
  const out = new Map<string, number>();
  m.stacks.forEach((s, i) => {
    if (s.length === 0 || m.values[i] === 0) return;
    const key = Array.from(s, (f) => m.names[f]).reverse().join(';');
    out.set(key, (out.get(key) ?? 0) + m.values[i]);
  });
  for (const [k, v] of out) if (v <= 0) out.delete(k);
  return out;
}

// ---- A slow, object-based reference of Pyroscope's algorithm, for randomized comparison ----

interface RefNode {
  name: string;
  self: number;
  total: number;
  children: RefNode[];
}

function refTree(m: MergedStacks): RefNode {
  const root: RefNode = { name: '', self: 0, total: 0, children: [] };
  for (const [path, v] of stackMap(m)) {
    let n = root;
    n.total += v;
    for (const f of path.split(';')) {
      let c = n.children.find((x) => x.name === f);
      if (!c) {
        c = { name: f, self: 0, total: 0, children: [] };
        n.children.push(c);
        n.children.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
      }
      c.total += v;
      n = c;
    }
    n.self += v;
  }
  return root;
}

function refMinValue(root: RefNode, maxNodes: number): number {
  if (maxNodes < 1) return 0;
  const totals: number[] = [];
  const walk = (n: RefNode): void => n.children.forEach((c) => (totals.push(c.total), walk(c)));
  walk(root);
  if (totals.length <= maxNodes) return 0;
  totals.sort((a, b) => b - a);
  return totals[maxNodes - 1];
}

function refFlameGraph(m: MergedStacks, maxNodes: number): FlameGraph {
  const root = refTree(m);
  const minVal = refMinValue(root, maxNodes);
  const names = ['total'];
  const levels: number[][] = [];
  let maxSelf = 0;
  const stack: Array<{ n: RefNode; level: number; x: number }> = [{ n: root, level: 0, x: 0 }];
  while (stack.length) {
    const { n, level, x } = stack.pop()!;
    maxSelf = Math.max(maxSelf, n.self);
    const key = n === root ? 'total' : n.name;
    let i = names.indexOf(key);
    if (i < 0) i = names.push(key) - 1;
    (levels[level] ??= []).unshift(x, n.total, n.self, i);
    let cx = x + n.self;
    let other = 0;
    for (const c of n.children) {
      if (c.total >= minVal && c.name !== 'other') {
        stack.push({ n: c, level: level + 1, x: cx });
        cx += c.total;
      } else other += c.total;
    }
    if (other) stack.push({ n: { name: 'other', self: other, total: other, children: [] }, level: level + 1, x: cx });
  }
  for (const l of levels) {
    let prev = 0;
    for (let i = 0; i < l.length; i += 4) {
      l[i] -= prev;
      prev += l[i] + l[i + 1];
    }
  }
  return { names, levels, total: root.total, maxSelf };
}

describe('flame graph (Pyroscope layout)', () => {
  test('matches the layout of Pyroscope Test_ExportToFlamebearer', () => {
    const fg = toFlameGraph(stacks([['a;b;e', 1], ['a;c', 2], ['a;c;d', 1]]), -1);
    assert.deepEqual(fg, {
      names: ['total', 'a', 'c', 'd', 'b', 'e'],
      levels: [
        [0, 4, 0, 0],
        [0, 4, 0, 1],
        [0, 1, 0, 4, 0, 3, 2, 2],
        [0, 1, 1, 5, 2, 1, 1, 3],
      ],
      total: 4,
      maxSelf: 2,
    });
    assert.deepEqual(toFlamebearer(fg), {
      names: ['total', 'a', 'c', 'd', 'b', 'e'],
      levels: [
        [0, 4, 0, 0],
        [0, 4, 0, 1],
        [0, 1, 0, 4, 0, 3, 2, 2],
        [0, 1, 1, 5, 2, 1, 1, 3],
      ],
      numTicks: 4,
      maxSelf: 2,
    });
  });

  test('max_nodes folds small children into a trailing "other", and a real "other" with them', () => {
    // Totals: foo 4, bar 2, qux 2, fred 2, baz 1, other 1, zoo 1 → the 4th largest is 2.
    const fg = toFlameGraph(
      stacks([
        ['foo;bar', 1],
        ['foo;bar;baz', 1],
        ['foo;qux', 2],
        ['fred;zoo', 1],
        ['fred;other', 1],
      ]),
      4,
    );
    assert.deepEqual(fg, {
      names: ['total', 'fred', 'other', 'foo', 'qux', 'bar'],
      levels: [
        [0, 6, 0, 0],
        [0, 4, 0, 3, 0, 2, 0, 1],
        [0, 2, 1, 5, 0, 2, 2, 4, 0, 2, 2, 2],
        [1, 1, 1, 2],
      ],
      total: 6,
      maxSelf: 2,
    });
  });

  test('an empty input is a lone zero root', () => {
    const fg = toFlameGraph({ names: [], stacks: [], values: [] }, 0);
    assert.deepEqual(fg, { names: ['total'], levels: [[0, 0, 0, 0]], total: 0, maxSelf: 0 });
  });

  test('children are ordered by UTF-8 bytes, not UTF-16 units', () => {
    const high = '\u{1F600}'; // surrogate pair in UTF-16, 4 bytes in UTF-8
    const bmp = '\uFFFD';
    assert.ok(high < bmp, 'JS orders the surrogate first');
    assert.ok(compareNames(bmp, high) < 0, 'byte order puts U+FFFD first');
    assert.equal(Math.sign(compareNames('ab', 'a')), 1);
    assert.equal(compareNames('x', 'x'), 0);
    const fg = toFlameGraph(stacks([[`r;${high}`, 1], [`r;${bmp}`, 2]]), 0);
    const level2 = decodeLevels(fg)[2];
    assert.deepEqual(
      level2.map((n) => n.name),
      [bmp, high],
    );
  });

  test('duplicate name strings merge; zero stacks drop; negative values and empty stacks count toward totals', () => {
    const m: MergedStacks = {
      names: ['main', 'work', 'main', 'idle'],
      stacks: [
        Uint32Array.of(1, 0),
        Uint32Array.of(1, 2),
        Uint32Array.of(3, 0),
        Uint32Array.of(3, 2),
        Uint32Array.of(),
        Uint32Array.of(0),
      ],
      values: [5, 2, 4, -6, 9, 0],
    };
    const fg = toFlameGraph(m, 0);
    // idle: 4 - 6 = -2 is kept (a delta), work: 5 + 2; the empty stack is the root's own 9.
    assert.deepEqual(fg, {
      names: ['total', 'main', 'work', 'idle'],
      levels: [[0, 14, 9, 0], [9, 5, 0, 1], [9, -2, -2, 3, 0, 7, 7, 2]],
      total: 14,
      maxSelf: 9,
    });
  });

  test('bad input raises BadRequestError', () => {
    assert.throws(() => toFlameGraph({ names: ['a'], stacks: [Uint32Array.of(1)], values: [1] }, 0), BadRequestError);
    assert.throws(() => toFlameGraph({ names: ['a'], stacks: [Uint32Array.of(0)], values: [] }, 0), BadRequestError);
    assert.throws(() => toFlameGraph({ names: ['a'], stacks: [Uint32Array.of(0)], values: [NaN] }, 0), BadRequestError);
  });

  test('minTotal matches Pyroscope Test_Tree_minValue', () => {
    const t = buildTree(stacks([['a;b;c', 2], ['a;b;c1', 1], ['a;b1;c', 1]]));
    assert.equal(minTotal(t, 2), 3);
    assert.equal(minTotal(t, Number.MAX_SAFE_INTEGER), 0);
    assert.equal(minTotal(t, 0), 0);
    assert.equal(minTotal(t, -1), 0);
  });

  test('random inputs: identical to a naive reference of the same algorithm', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed * 7919);
      const m = randomStacks(seed, 1 + Math.floor(r() * 300), 1 + Math.floor(r() * 12), 2 + Math.floor(r() * 30), 20);
      const maxNodes = [0, 1, 2, 5, 17, 100, 1000][seed % 7];
      assert.deepEqual(toFlameGraph(m, maxNodes), refFlameGraph(m, maxNodes), `seed ${seed}, maxNodes ${maxNodes}`);
    }
  });

  test('property: max_nodes keeps totals, threshold and node bound', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const m = randomStacks(seed + 1000, 1 + Math.floor(r() * 400), 1 + Math.floor(r() * 10), 3 + Math.floor(r() * 40));
      const full = buildTree(m);
      const maxNodes = 1 + Math.floor(r() * 80);
      const threshold = minTotal(full, maxNodes);
      const fg = toFlameGraph(m, maxNodes);
      const levels = decodeLevels(fg);

      const expectedTotal = m.values.reduce((a, b) => a + b, 0);
      assert.equal(fg.total, expectedTotal);
      assert.equal(levels[0][0].total, expectedTotal, 'root total unchanged');

      let selfSum = 0;
      let kept = 0;
      let others = 0;
      for (const level of levels) {
        for (const n of level) {
          selfSum += n.self;
          if (n.level === 0) continue;
          if (n.name === 'other') {
            others++;
            assert.equal(n.self, n.total, 'other is a leaf');
          } else {
            kept++;
            assert.ok(n.total >= threshold, `seed ${seed}: kept node total ${n.total} < threshold ${threshold}`);
          }
        }
      }
      assert.equal(selfSum, expectedTotal, 'self values add up to the total');

      const totals = Array.from(full.total.subarray(1)).sort((a, b) => b - a);
      const atLeast = totals.filter((t) => t >= threshold).length;
      const above = totals.filter((t) => t > threshold).length;
      assert.equal(kept, atLeast, 'exactly the nodes reaching the threshold are kept');
      if (totals.length > maxNodes) {
        assert.ok(above < maxNodes, 'fewer than maxNodes nodes strictly above the threshold');
        // Without a tie at the threshold the bound is exact.
        if (atLeast - above === 1) assert.equal(kept, maxNodes);
      } else {
        assert.equal(kept, totals.length);
      }
      assert.ok(others <= kept + 1, 'at most one other per kept parent');

      // Children sit inside their parent and after its self.
      for (let l = 1; l < levels.length; l++) {
        for (const n of levels[l]) {
          const p = levels[l - 1].find((q) => q.x <= n.x && n.x + n.total <= q.x + q.total);
          assert.ok(p, 'every node lies under a parent');
          assert.ok(n.x >= p.x + p.self);
          assert.notEqual(p.name, 'other');
        }
      }
      // Each parent's self plus its children's totals is its total.
      for (let l = 0; l + 1 < levels.length; l++) {
        for (const p of levels[l]) {
          const sum = levels[l + 1].filter((c) => c.x >= p.x && c.x < p.x + p.total).reduce((a, c) => a + c.total, 0);
          assert.equal(p.self + sum, p.total);
        }
      }
    }
  });

  test('truncateTree keeps the root total and is idempotent', () => {
    const m = randomStacks(99, 500, 8, 25);
    const t = buildTree(m);
    const cut = truncateTree(t, 30);
    assert.equal(cut.total[0], t.total[0]);
    assert.ok(nodeCount(cut) < nodeCount(t));
    const again = truncateTree(cut, 0);
    assert.deepEqual(Array.from(again.total), Array.from(cut.total));
  });

  test('stress: 200k random stacks of depth up to 64', () => {
    const m = randomStacks(4242, 200_000, 64, 2000, 1000);
    const maxNodes = 8192;
    const started = performance.now();
    const tree = buildTree(m);
    const fg = renderFlameGraph(truncateTree(tree, maxNodes));
    const elapsed = performance.now() - started;
    const expected = m.values.reduce((a, b) => a + b, 0);
    assert.equal(fg.total, expected);
    let kept = 0;
    let others = 0;
    let selfSum = 0;
    for (const l of fg.levels.slice(1)) {
      for (let i = 0; i < l.length; i += 4) {
        if (fg.names[l[i + 3]] === 'other') others++;
        else kept++;
      }
    }
    for (const l of fg.levels) for (let i = 2; i < l.length; i += 4) selfSum += l[i];
    assert.equal(selfSum, expected);
    // Ties at the threshold are all kept, as in Pyroscope; nothing strictly above it is lost.
    const threshold = minTotal(tree, maxNodes);
    let atLeast = 0;
    let above = 0;
    for (let n = 1; n < tree.size; n++) {
      if (tree.total[n] >= threshold) atLeast++;
      if (tree.total[n] > threshold) above++;
    }
    assert.ok(tree.size - 1 > maxNodes, 'the input is big enough to be cut');
    assert.equal(kept, atLeast);
    assert.ok(above < maxNodes);
    assert.ok(others <= kept + 1);
    assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
    const back = decodeTreeBytes(encodeTreeBytes(tree, maxNodes));
    assert.equal(back.values.reduce((a, b) => a + b, 0), expected);
  });

  test('corpus: folded stacks from FlameGraph (perf, 69 frames deep)', { skip: CORPUS_SKIP }, () => {
    const text = corpusFile('brendangregg-flamegraph/perf-vertx-stacks-01-collapsed-all.txt').toString('utf8');
    const list: Array<[string, number]> = [];
    for (const line of text.split('\n')) {
      const cut = line.lastIndexOf(' ');
      if (cut > 0) list.push([line.slice(0, cut), Number(line.slice(cut + 1))]);
    }
    const fg = toFlameGraph(stacks(list), 0);
    assert.equal(fg.total, 285);
    assert.equal(fg.levels.length, 70, 'root plus 69 frames');
    assert.equal(fg.names[0], 'total');
    assert.ok(fg.names.includes('java'));
    const selfSum = fg.levels.reduce((a, l) => a + l.filter((_, i) => i % 4 === 2).reduce((x, y) => x + y, 0), 0);
    assert.equal(selfSum, 285);
    // The root's only child is the process.
    assert.deepEqual(fg.levels[1].slice(1), [285, 0, fg.names.indexOf('java')]);
  });
});

describe('diff flame graph (Pyroscope layout)', () => {
  test('matches Pyroscope Test_Diff_Tree', () => {
    const d = diffFlameGraph(stacks([['a;b', 1], ['a;c', 2]]), stacks([['a;b', 4], ['a;c', 8]]), 1024);
    assert.deepEqual(d, {
      names: ['total', 'a', 'c', 'b'],
      levels: [
        [0, 3, 0, 0, 12, 0, 0],
        [0, 3, 0, 0, 12, 0, 1],
        [0, 1, 1, 0, 4, 4, 3, 0, 2, 2, 0, 8, 8, 2],
      ],
      total: 15,
      maxSelf: 8,
      leftTicks: 3,
      rightTicks: 12,
    });
  });

  test('matches Pyroscope Test_Diff_Tree_With_Different_Structure', () => {
    const d = diffFlameGraph(
      stacks([['a;b', 1], ['a;c', 2], ['a;e', 3]]),
      stacks([['a;b', 4], ['a;d', 8], ['a;e', 12]]),
      1024,
    );
    assert.deepEqual(d.names, ['total', 'a', 'e', 'd', 'c', 'b']);
    assert.equal(d.maxSelf, 12);
    assert.equal(d.total, 30);
    assert.deepEqual(d.levels, [
      [0, 6, 0, 0, 24, 0, 0],
      [0, 6, 0, 0, 24, 0, 1],
      [0, 1, 1, 0, 4, 4, 5, 0, 2, 2, 0, 0, 0, 4, 0, 0, 0, 0, 8, 8, 3, 0, 3, 3, 0, 12, 12, 2],
    ]);
  });

  test('matches Pyroscope Test_Diff_Tree_With_MaxNodes', () => {
    const d = diffFlameGraph(stacks([['a;b', 1], ['a;c', 2]]), stacks([['a;b', 4], ['a;c', 8]]), 2);
    assert.deepEqual(d, {
      names: ['total', 'a', 'other'],
      levels: [
        [0, 3, 0, 0, 12, 0, 0],
        [0, 3, 0, 0, 12, 0, 1],
        [0, 3, 3, 0, 12, 12, 2],
      ],
      total: 15,
      maxSelf: 12,
      leftTicks: 3,
      rightTicks: 12,
    });
  });

  test('a node stays when either side needs it', () => {
    // Left is all about x, right all about y. Room for 3 nodes (the root counts): the threshold is
    // 10, which x reaches only on the left and y only on the right.
    const d = diffFlameGraph(stacks([['m;x', 10], ['m;y', 1]]), stacks([['m;x', 1], ['m;y', 10]]), 3);
    assert.deepEqual(d.names, ['total', 'm', 'y', 'x']);
    assert.deepEqual(d.levels[2], [0, 10, 10, 0, 1, 1, 3, 0, 1, 1, 0, 10, 10, 2]);
  });

  test('X against X has identical left and right columns, equal to the single graph', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const m = randomStacks(seed + 500, 200, 9, 20);
      for (const maxNodes of [0, 10, 60]) {
        const d = diffFlameGraph(m, m, maxNodes);
        const expected = m.values.reduce((a, b) => a + b, 0);
        assert.equal(d.leftTicks, expected);
        assert.equal(d.rightTicks, expected);
        assert.equal(d.total, 2 * expected);
        for (const l of d.levels) {
          assert.equal(l.length % 7, 0);
          for (let i = 0; i < l.length; i += 7) assert.deepEqual(l.slice(i, i + 3), l.slice(i + 3, i + 6));
        }
        if (maxNodes === 0) {
          const fg = toFlameGraph(m, 0);
          assert.deepEqual(d.names, fg.names);
          assert.deepEqual(
            d.levels.map((l) => l.filter((_, i) => i % 7 < 3 || i % 7 === 6)),
            fg.levels,
          );
        }
      }
    }
  });

  test('property: each side keeps its total and self sum', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const left = randomStacks(seed, 150, 7, 15);
      const right = randomStacks(seed + 77, 150, 7, 15);
      const d = diffFlameGraph(left, right, 1 + (seed * 13) % 50);
      const lt = left.values.reduce((a, b) => a + b, 0);
      const rt = right.values.reduce((a, b) => a + b, 0);
      assert.deepEqual(d.levels[0], [0, lt, 0, 0, rt, 0, 0]);
      let ls = 0;
      let rs = 0;
      for (const l of d.levels) for (let i = 0; i < l.length; i += 7) (ls += l[i + 2]), (rs += l[i + 5]);
      assert.equal(ls, lt);
      assert.equal(rs, rt);
    }
  });
});

describe('TREE bytes', () => {
  test('literal encoding of a small tree', () => {
    const bytes = toTreeBytes(stacks([['a;b', 3], ['a', 1]]), 0);
    // root: "" self 0, 1 child; a: self 1, 1 child; b: self 3, 0 children.
    assert.deepEqual(Array.from(bytes), [0, 0, 1, 1, 0x61, 1, 1, 1, 0x62, 3, 0]);
  });

  test('the last child is written first, like Pyroscope', () => {
    const bytes = toTreeBytes(stacks([['a', 1], ['b', 2]]), 0);
    assert.deepEqual(Array.from(bytes), [0, 0, 2, 1, 0x62, 2, 0, 1, 0x61, 1, 0]);
  });

  test('matches Pyroscope Test_Tree_MarshalUnmarshal truncation', () => {
    const full = stacks([
      ['a;b;c', 2],
      ['a;b;c1', 1],
      ['a;b1;c', 1],
      ['a;b1;c1', 1],
      ['a1;b;c', 1],
      ['a1;b;c1', 1],
      ['a1;b1;c', 1],
      ['a1;b1;c1', 1],
    ]);
    const back = decodeTreeBytes(toTreeBytes(full, 3));
    assert.deepEqual(
      stackMap(back),
      new Map([
        ['a;b;other', 3],
        ['a;other', 2],
        ['a1;other', 4],
      ]),
    );
  });

  test('a real "other" child is kept and absorbs the folded nodes', () => {
    const t = buildTree(stacks([['r;other;x', 5], ['r;tiny', 1], ['r;big', 9]]));
    const cut = truncateTree(t, 3, TREE_BYTES_TRUNCATION);
    assert.deepEqual(stackMap(treeToStacks(cut)), new Map([['r;big', 9], ['r;other', 1], ['r;other;x', 5]]));
    // The flame graph instead folds the real "other" into its synthetic one.
    const fg = toFlameGraph(stacks([['r;other;x', 5], ['r;tiny', 1], ['r;big', 9]]), 3);
    assert.deepEqual(
      decodeLevels(fg)[2].map((n) => [n.name, n.total]),
      [['big', 9], ['other', 6]],
    );
  });

  test('round trip over random trees', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const m = randomStacks(seed + 3000, 300, 10, 30);
      const back = decodeTreeBytes(encodeTreeBytes(buildTree(m)));
      assert.deepEqual(stackMap(back), stackMap(m));
      const cut = decodeTreeBytes(toTreeBytes(m, 25));
      const total = (x: MergedStacks): number => x.values.reduce((a, b) => a + b, 0);
      assert.equal(total(cut), total(m));
      assert.ok(buildTree(cut).size <= buildTree(m).size);
    }
  });

  test('unicode names and large values survive', () => {
    const m = stacks([['main;日本;\u{1F600}', 2 ** 40 + 3]]);
    const back = decodeTreeBytes(toTreeBytes(m, 0));
    assert.deepEqual(stackMap(back), new Map([['main;日本;\u{1F600}', 2 ** 40 + 3]]));
  });

  test('empty tree is empty bytes; short input is an empty tree', () => {
    assert.equal(toTreeBytes({ names: [], stacks: [], values: [] }, 0).length, 0);
    assert.deepEqual(decodeTreeBytes(new Uint8Array(0)).stacks, []);
    assert.deepEqual(decodeTreeBytes(Uint8Array.of(0)).stacks, []);
  });

  test('malformed bytes raise BadRequestError', () => {
    const good = toTreeBytes(stacks([['a;b', 3], ['a;c', 1]]), 0);
    assert.throws(() => decodeTreeBytes(good.subarray(0, good.length - 1)), BadRequestError);
    assert.throws(() => decodeTreeBytes(Uint8Array.from([...good, 0])), BadRequestError);
    assert.throws(() => decodeTreeBytes(Uint8Array.of(0, 0, 1, 9, 0x61)), BadRequestError);
    assert.throws(() => decodeTreeBytes(Uint8Array.of(0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f)), BadRequestError);
  });
});

describe('off-thread flame graphs', () => {
  after(() => closeFlameGraphWorkers());

  test('a worker gives the same graph as the calling thread', async () => {
    const m = randomStacks(77, 3000, 20, 200);
    const fg = await toFlameGraphOffThread(m, 500, { threshold: 1 });
    assert.deepEqual(fg, toFlameGraph(m, 500));
  });

  test('concurrent jobs queue on the pool and all finish', async () => {
    const inputs = [1, 2, 3, 4, 5].map((seed) => randomStacks(seed, 2000, 15, 100));
    const graphs = await Promise.all(inputs.map((m) => toFlameGraphOffThread(m, 100, { threshold: 1 })));
    graphs.forEach((fg, i) => assert.deepEqual(fg, toFlameGraph(inputs[i], 100)));
  });

  test('small inputs stay inline, large ones use the default threshold', async () => {
    const small = stacks([['a;b', 1]]);
    assert.deepEqual(await toFlameGraphOffThread(small, 0), toFlameGraph(small, 0));
    const large = randomStacks(5, 60_000, 6, 300);
    const fg = await toFlameGraphOffThread(large, 2000);
    assert.equal(fg.total, large.values.reduce((a, b) => a + b, 0));
  });

  test('bad input in a worker rejects with BadRequestError', async () => {
    const bad: MergedStacks = { names: ['a'], stacks: [Uint32Array.of(0), Uint32Array.of(3)], values: [1, 1] };
    await assert.rejects(toFlameGraphOffThread(bad, 0, { threshold: 1 }), BadRequestError);
    // The pool still works afterwards.
    const ok = stacks([['a;b', 2]]);
    assert.deepEqual(await toFlameGraphOffThread(ok, 0, { threshold: 1 }), toFlameGraph(ok, 0));
  });
});
