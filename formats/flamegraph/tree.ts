/**
 * A call tree (root → leaf) built from merged stacks, stored in parallel typed arrays.
 *
 * Query results can hold millions of stacks; one JS object per node would cost an order of
 * magnitude more memory and GC time than a handful of typed arrays, so nodes are plain ids.
 */
import { BadRequestError } from '../../core/errors.ts';

export interface MergedStacks {
  /** Function names. */
  names: string[];
  /** Frames as indices into `names`, leaf first. */
  stacks: Uint32Array[];
  /** Value per stack (same order). May be negative for diffs of deltas. */
  values: number[];
  /** The stacks are a call tree already cut to a flame graph's max_nodes: nothing more is cut. */
  precut?: boolean;
}

/**
 * Node 0 is a virtual root without a name; every other node is reachable from it.
 * Children of node `n` are `children[childStart[n] .. childStart[n + 1])`, sorted by name in
 * UTF-8 byte order (Pyroscope keeps children sorted that way), unless a truncation put a
 * synthetic `other` node last.
 */
export interface CallTree {
  /** Distinct function names; `name[n]` indexes into it. */
  names: string[];
  /** Number of nodes, including the virtual root. */
  size: number;
  /** Name index per node; -1 for the virtual root. */
  name: Int32Array;
  self: Float64Array;
  /** self plus the totals of all children. */
  total: Float64Array;
  /** length size + 1 */
  childStart: Uint32Array;
  /** length size - 1: every node but the root is somebody's child exactly once. */
  children: Uint32Array;
}

export const ROOT = 0;
export const OTHER_NAME = 'other';

/**
 * Orders strings as Go orders them (by UTF-8 bytes, i.e. by code point). JS `<` compares UTF-16
 * code units, which disagrees for characters above U+FFFF against U+E000–U+FFFF.
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  // Surrogates encode code points above U+FFFF, so they must sort after U+E000–U+FFFF.
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

export function childCount(tree: CallTree, node: number): number {
  return tree.childStart[node + 1] - tree.childStart[node];
}

/** Visits the children of `node` in order. */
export function forEachChild(tree: CallTree, node: number, fn: (child: number) => void): void {
  for (let j = tree.childStart[node], end = tree.childStart[node + 1]; j < end; j++) fn(tree.children[j]);
}

/** Display name of a node; the virtual root has none. */
export function nodeName(tree: CallTree, node: number): string {
  const i = tree.name[node];
  return i < 0 ? '' : tree.names[i];
}

/**
 * Open-addressing hash table from (parent, name) to node id. A JS Map would need a composite
 * key per lookup and stops at 2^24 entries, which a million deep stacks can exceed. Parent and
 * name sit side by side in `keys` so that checking a slot costs one cache line, not two.
 */
class NodeTable {
  size = 1;
  /** [parent, name] per node. */
  keys: Int32Array;
  self: Float64Array;
  private slots: Int32Array;
  private mask: number;

  constructor(capacity: number) {
    const cap = Math.max(16, capacity);
    this.keys = new Int32Array(cap * 2);
    this.self = new Float64Array(cap);
    this.keys[0] = -1;
    this.keys[1] = -1;
    this.slots = new Int32Array(1 << 12);
    this.mask = this.slots.length - 1;
  }

  child(parent: number, name: number): number {
    const slots = this.slots;
    const keys = this.keys;
    const mask = this.mask;
    let h = hashPair(parent, name) & mask;
    for (;;) {
      const id = slots[h];
      // Slot value 0 means empty: the root (id 0) is never anybody's child.
      if (id === 0) break;
      if (keys[2 * id] === parent && keys[2 * id + 1] === name) return id;
      h = (h + 1) & mask;
    }
    const id = this.size++;
    if (id >= this.self.length) this.growNodes();
    this.keys[2 * id] = parent;
    this.keys[2 * id + 1] = name;
    slots[h] = id;
    if (this.size * 2 > slots.length) this.growSlots();
    return id;
  }

  private growNodes(): void {
    const cap = this.self.length * 2;
    const keys = new Int32Array(cap * 2);
    keys.set(this.keys);
    const self = new Float64Array(cap);
    self.set(this.self);
    this.keys = keys;
    this.self = self;
  }

  private growSlots(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    const keys = this.keys;
    for (let id = 1; id < this.size; id++) {
      let h = hashPair(keys[2 * id], keys[2 * id + 1]) & mask;
      while (slots[h] !== 0) h = (h + 1) & mask;
      slots[h] = id;
    }
    this.slots = slots;
    this.mask = mask;
  }

  releaseSlots(): void {
    this.slots = new Int32Array(0);
  }
}

function hashPair(parent: number, name: number): number {
  let h = Math.imul(parent, 0x9e3779b1) ^ Math.imul(name + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 13;
  return h >>> 0;
}

/**
 * Node arrays start at this many entries at most; beyond it they double. Unused capacity of a
 * fresh typed array costs address space only, so starting near the frame count is cheap.
 */
const INITIAL_NODES_MAX = 1 << 24;

/**
 * Builds the call tree. Identical names under one parent merge, even when `names` lists the
 * same string twice. Each node's self is the sum of the values of the stacks ending there;
 * a node whose sum is not positive keeps self 0 (Pyroscope's trees and TREE bytes cannot carry
 * negative values, and its InsertStack drops them), and nodes left with total 0 are removed.
 * Empty stacks are dropped, as in Pyroscope.
 */
export function buildTree(merged: MergedStacks): CallTree {
  const { stacks, values } = merged;
  if (stacks.length !== values.length) {
    throw new BadRequestError(`merged stacks: ${stacks.length} stacks but ${values.length} values`);
  }
  const { names, canon } = canonicalNames(merged.names);

  let frames = 0;
  let deepest = 0;
  for (const s of stacks) {
    frames += s.length;
    if (s.length > deepest) deepest = s.length;
  }
  const table = new NodeTable(Math.min(frames + 1, INITIAL_NODES_MAX));
  const nameCount = canon.length;
  // The previous stack's path, root first, as (name, node): consecutive stacks often share a
  // prefix, and reusing it skips the hash lookups for those frames.
  const pathName = new Int32Array(deepest);
  const pathNode = new Int32Array(deepest);
  let pathLength = 0;
  for (let i = 0; i < stacks.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new BadRequestError(`merged stacks: value ${i} is not a finite number`);
    const stack = stacks[i];
    const depth = stack.length;
    if (v === 0) continue;
    // A sample with no frames still counts toward the total, as the root's own value.
    if (depth === 0) {
      table.self[0] += v;
      continue;
    }
    let node = 0;
    let d = 0;
    for (let j = depth - 1; j >= 0; j--, d++) {
      const f = stack[j];
      if (f >= nameCount) {
        throw new BadRequestError(`merged stacks: stack ${i} references name ${f}, but there are ${nameCount} names`);
      }
      const n = canon[f];
      if (d < pathLength && pathName[d] === n) {
        node = pathNode[d];
        continue;
      }
      pathLength = d;
      node = table.child(node, n);
      pathName[d] = n;
      pathNode[d] = node;
      pathLength = d + 1;
    }
    pathLength = Math.min(pathLength, depth);
    table.self[node] += v;
  }
  table.releaseSlots();
  return finishTree(names, table.size, table.keys, table.self);
}

function canonicalNames(input: string[]): { names: string[]; canon: Int32Array } {
  const distinct = Array.from(new Set(input)).sort(compareNames);
  const index = new Map<string, number>();
  for (let i = 0; i < distinct.length; i++) index.set(distinct[i], i);
  const canon = new Int32Array(input.length);
  for (let i = 0; i < input.length; i++) canon[i] = index.get(input[i])!;
  return { names: distinct, canon };
}

/**
 * Turns raw nodes (parent id < child id, names sorted so that name index = sort rank) into a
 * CallTree: sums totals, drops nodes whose values cancel out, and lays children out sorted.
 * Negative values (deltas of gauges) are kept, so that every total equals the sum of what was
 * ingested. Works in
 * place where it can: for big trees, touching fresh memory costs more than the arithmetic.
 */
function finishTree(names: string[], rawSize: number, keys: Int32Array, self: Float64Array): CallTree {
  const total = new Float64Array(rawSize);
  const kept = (id: number) => total[id] !== 0 || self[id] !== 0;
  for (let id = rawSize - 1; id > 0; id--) {
    const t = total[id] + self[id];
    total[id] = t;
    total[keys[2 * id]] += t;
  }
  total[0] += self[0];

  let size = 1;
  for (let id = 1; id < rawSize; id++) if (kept(id)) size++;
  if (size !== rawSize) {
    // Parents precede children and new ids never exceed old ones, so compacting in id order
    // reads every entry before overwriting it.
    const remap = new Int32Array(rawSize);
    for (let id = 1, next = 1; id < rawSize; id++) {
      if (!kept(id)) continue;
      remap[id] = next;
      keys[2 * next] = remap[keys[2 * id]];
      keys[2 * next + 1] = keys[2 * id + 1];
      self[next] = self[id];
      total[next] = total[id];
      next++;
    }
  }
  const name = new Int32Array(size);
  name[0] = -1;
  for (let id = 1; id < size; id++) name[id] = keys[2 * id + 1];

  // Children grouped per parent in id order (ids mostly sit near their parent, which keeps this
  // cache friendly), then each group sorted by name.
  const childStart = new Uint32Array(size + 1);
  for (let id = 1; id < size; id++) childStart[keys[2 * id] + 1]++;
  for (let n = 1; n <= size; n++) childStart[n] += childStart[n - 1];
  const children = new Uint32Array(Math.max(0, size - 1));
  // childStart doubles as the fill cursor; afterwards entry n holds the end of n, i.e. the
  // start of n + 1, so shifting it by one restores it.
  for (let id = 1; id < size; id++) children[childStart[keys[2 * id]]++] = id;
  childStart.copyWithin(1, 0, size);
  childStart[0] = 0;
  const byName = (a: number, b: number): number => name[a] - name[b];
  for (let n = 0; n < size; n++) {
    const from = childStart[n];
    const to = childStart[n + 1];
    if (to - from < 2) continue;
    if (to - from <= 16) {
      for (let i = from + 1; i < to; i++) {
        const c = children[i];
        const k = name[c];
        let j = i - 1;
        while (j >= from && name[children[j]] > k) {
          children[j + 1] = children[j];
          j--;
        }
        children[j + 1] = c;
      }
    } else {
      children.subarray(from, to).sort(byName);
    }
  }
  return {
    names,
    size,
    name,
    self: self.subarray(0, size),
    total: total.subarray(0, size),
    childStart,
    children,
  };
}

/** Number of nodes below the virtual root. */
export function nodeCount(tree: CallTree): number {
  return tree.size - 1;
}

/** Expands a tree back into one stack per node with self > 0 (leaf first), e.g. for tests. */
export function treeToStacks(tree: CallTree): MergedStacks {
  const stacks: Uint32Array[] = [];
  const values: number[] = [];
  const path: number[] = [];
  // Iterative: recursive programs produce stacks deeper than the JS call stack allows.
  const todo: number[] = [];
  const depthOf: number[] = [];
  for (let j = tree.childStart[ROOT + 1] - 1; j >= tree.childStart[ROOT]; j--) {
    todo.push(tree.children[j]);
    depthOf.push(0);
  }
  while (todo.length > 0) {
    const node = todo.pop()!;
    const depth = depthOf.pop()!;
    path.length = depth;
    path.push(tree.name[node]);
    if (tree.self[node] > 0) {
      stacks.push(Uint32Array.from(path).reverse());
      values.push(tree.self[node]);
    }
    for (let j = tree.childStart[node + 1] - 1; j >= tree.childStart[node]; j--) {
      todo.push(tree.children[j]);
      depthOf.push(depth + 1);
    }
  }
  return { names: tree.names.slice(), stacks, values };
}
