/**
 * A flame graph's max_nodes cut, done in the store.
 *
 * Pyroscope's cut keeps the call-tree nodes whose total reaches the max_nodes-th largest total
 * and folds each kept node's other children into one `other` child. Shipping every distinct
 * stack to build the whole tree first costs seconds once a selection holds a few hundred
 * thousand of them (200,000 stacks: 32 MB of answer). Here ClickHouse sums the values of every
 * node (a node is a path from the root, keyed by a hash of the path), finds the threshold and
 * returns only the kept nodes; they come back as stacks that rebuild exactly the cut tree.
 *
 * The threshold is the k-th largest total only when no value is negative (then no child
 * outweighs its parent); a selection with negative values is answered the usual way.
 */
import { functionNames } from './function-names.ts';
import type { MergedStacks } from './query.ts';

/**
 * The answer: the selection's total and smallest stack value; for each kept node, its key and
 * its parent's (0 for the root), its function number, total and self; the functions' numbers and
 * names; and the sum of the totals of all the root's children, kept or not.
 */
export type CutRow = [
  total: number,
  minValue: number,
  keys: string[],
  parents: string[],
  fnums: number[],
  totals: number[],
  selves: number[],
  fnNumbers: number[],
  fnNames: string[],
  topTotal: number,
];

/**
 * The query. `source` yields (stack_id, value) rows of the selection; `stacks` and `functions`
 * are the tables' names; `maxNodes` is a bound literal.
 *
 * Only small arrays become scalars: a scalar of every node (millions) is copied at each use.
 */
export function cutTreeQuery(source: string, stacks: string, functions: string, maxNodes: string): string {
  return `WITH
  -- Every stack of the selection with its summed value.
  (SELECT tuple(groupArray(stack_id), groupArray(v), toFloat64(sum(v)), toFloat64(min(v)))
   FROM (SELECT stack_id, sum(value) AS v FROM (${source}) GROUP BY stack_id HAVING v != 0)) AS merged,
  -- The kept nodes. A node's key is the wrapping sum of (function, depth) hashes along its path
  -- from the root, so its parent's key is its own minus its last hash. Pyroscope keeps the nodes
  -- whose total reaches the max_nodes-th largest: the first max_nodes by total, with ties.
  (SELECT tuple(groupArray(toString(node)), groupArray(toString(parent)), groupArray(fid), groupArray(toFloat64(total)),
                groupArray(toFloat64(self)), toFloat64(any(top)))
   FROM (
     SELECT node, parent, fid, total, self, sum(if(parent = 0, total, 0)) OVER () AS top
     FROM (
       SELECT node, any(parent) AS parent, any(fid) AS fid, sum(v) AS total, sumIf(v, depth = length(path)) AS self
       FROM (
         -- Each stack's value comes with it by transform (a hash lookup), cheaper than a join.
         SELECT transform(id, merged.1, merged.2, 0) AS v, arrayReverse(frames) AS path,
                arrayCumSum(arrayMap((f, d) -> cityHash64(f, d), path, arrayEnumerate(path))) AS keys
         -- Stacks are a ReplacingMergeTree: an ID not merged yet is read once. IDs go through a
         -- subquery's set: IN an array constant tests every row against the whole array.
         FROM (SELECT id, any(frames) AS frames FROM ${stacks} WHERE id IN (SELECT arrayJoin(merged.1)) GROUP BY id)
         -- Stacks without frames are the root's own value: the total less its children's.
         WHERE notEmpty(frames)
       )
       ARRAY JOIN keys AS node, arrayPushFront(arrayPopBack(keys), toUInt64(0)) AS parent, path AS fid, arrayEnumerate(path) AS depth
       GROUP BY node
     )
     ORDER BY total DESC LIMIT ${maxNodes} WITH TIES
   )) AS kept,
  (SELECT arraySort(arrayDistinct(kept.3))) AS fn,
  (SELECT tuple(groupArray(toUInt32(transform(id, fn, arrayEnumerate(fn), 0))), groupArray(name))
   FROM (SELECT id, any(name) AS name FROM ${functions} WHERE id IN (SELECT arrayJoin(fn)) GROUP BY id)) AS fnames
SELECT merged.3, merged.4, kept.1, kept.2, arrayMap(f -> toUInt32(transform(f, fn, arrayEnumerate(fn), 0)), kept.3),
       kept.4, kept.5, fnames.1, fnames.2, kept.6`;
}

/**
 * The kept nodes as stacks: each node's self as its path, and what was cut below it (its total
 * less its self and its kept children) as its path plus `other`. A flame graph built from them
 * without a further cut is the cut flame graph of the whole selection. Undefined when a value is
 * negative, where the threshold above does not hold.
 */
export function cutTreeStacks(row: CutRow | undefined, divisor: number): MergedStacks | undefined {
  if (!row) return { names: [], stacks: [], values: [], total: 0, precut: true };
  const [total, minValue, keys, parentKeys, fnums, totals, selves, fnNumbers, fnNames, topTotal] = row;
  if (minValue < 0) return undefined;
  const { names, nameOf } = functionNames(fnNumbers, fnNames);
  const n = keys.length;
  // Each kept node's parent as its place among them, -1 for the root (whose key is 0).
  const place = new Map(keys.map((k, j) => [k, j]));
  const parents = parentKeys.map((k) => place.get(k) ?? -1);
  // Leaf-first paths, each its parent's with one more frame; the answer lists nodes by total,
  // not parents first, so a path is made when first needed, with its missing ancestors.
  const paths: Array<Uint32Array | undefined> = new Array(n);
  const pathOf = (j: number): Uint32Array => {
    const chain: number[] = [];
    let at = j;
    while (at >= 0 && paths[at] === undefined) {
      chain.push(at);
      at = parents[at];
    }
    let tail = at >= 0 ? paths[at]! : new Uint32Array(0);
    for (let c = chain.length - 1; c >= 0; c--) {
      const k = chain[c];
      const p = new Uint32Array(tail.length + 1);
      p[0] = nameOf(fnums[k]);
      p.set(tail, 1);
      paths[k] = p;
      tail = p;
    }
    return paths[j]!;
  };
  const cutBelow = Float64Array.from(totals, (t, j) => t - selves[j]);
  let keptTop = 0;
  for (let j = 0; j < n; j++) {
    const p = parents[j];
    if (p >= 0) cutBelow[p] -= totals[j];
    else keptTop += totals[j];
  }
  let other = -1;
  const otherName = (): number => (other >= 0 ? other : (other = names.push('other') - 1));
  const stacks: Uint32Array[] = [];
  const values: number[] = [];
  const add = (stack: Uint32Array, v: number) => {
    if (v === 0) return;
    stacks.push(stack);
    values.push(v / divisor);
  };
  for (let j = 0; j < n; j++) {
    const path = pathOf(j);
    add(path, selves[j]);
    if (cutBelow[j] !== 0) {
      const p = new Uint32Array(path.length + 1);
      p[0] = otherName();
      p.set(path, 1);
      add(p, cutBelow[j]);
    }
  }
  // Stacks without frames count as the root's own value; children of the root that were cut, as its `other`.
  add(new Uint32Array(0), total - topTotal);
  if (topTotal - keptTop !== 0) add(Uint32Array.of(otherName()), topTotal - keptTop);
  return { names, stacks, values, total: total / divisor, precut: true };
}
