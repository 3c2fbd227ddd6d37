/**
 * Pyroscope's max_nodes: keep the nodes whose total reaches the maxNodes-th largest total, and
 * fold every other child of a kept node into one synthetic `other` child of that node.
 *
 * Ties at the threshold are all kept (Pyroscope compares with >=), so a tree with many equal
 * totals can keep more than maxNodes real nodes; the root total never changes.
 */
import { compareNames, OTHER_NAME, ROOT, type CallTree } from './tree.ts';

/** The k largest values seen so far, as a min-heap; `offer` reports whether v got in. */
export class TopK {
  private readonly heap: Float64Array;
  private length = 0;

  constructor(readonly k: number) {
    this.heap = new Float64Array(k);
  }

  get full(): boolean {
    return this.length >= this.k;
  }

  /** The smallest value kept; 0 while empty. */
  min(): number {
    return this.length === 0 ? 0 : this.heap[0];
  }

  offer(v: number): boolean {
    const h = this.heap;
    if (this.length < this.k) {
      let i = this.length++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
      }
      h[i] = v;
      return true;
    }
    // Rejected values: anything below them (their subtree) cannot get in either.
    if (this.k === 0 || v <= h[0]) return false;
    const n = this.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r] < h[l] ? r : l;
      if (h[c] >= v) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = v;
    return true;
  }
}

/**
 * Pyroscope's minValue: the total a node needs to be shown, i.e. the maxNodes-th largest total
 * among the nodes below the root; 0 (keep all) when maxNodes < 1 or the tree is small enough.
 */
export function minTotal(tree: CallTree, maxNodes: number): number {
  if (!(maxNodes >= 1)) return 0;
  const nodes = tree.size - 1;
  if (nodes <= maxNodes) return 0;
  const top = new TopK(Math.floor(maxNodes));
  // Each node is pushed at most once, so `nodes` bounds the stack.
  const stack = new Uint32Array(nodes);
  let sp = 0;
  for (let j = tree.childStart[ROOT]; j < tree.childStart[ROOT + 1]; j++) stack[sp++] = tree.children[j];
  while (sp > 0) {
    const n = stack[--sp];
    // A child's total never exceeds its parent's, so a rejected node's subtree is skipped.
    if (!top.offer(tree.total[n])) continue;
    for (let j = tree.childStart[n]; j < tree.childStart[n + 1]; j++) stack[sp++] = tree.children[j];
  }
  return top.full ? top.min() : 0;
}

export interface TruncateOptions {
  /**
   * What happens to a real child already named `other`: `fold` merges it (subtree and all) into
   * the synthetic node, as Pyroscope's flame graph does; `keep` keeps it, adds the folded totals
   * to its self, and still truncates below it, as Pyroscope's TREE marshalling does.
   */
  existingOther: 'fold' | 'keep';
  /** `last` puts the synthetic node after its siblings (flame graph); `sorted` puts it in name order. */
  otherPosition: 'last' | 'sorted';
}

/** What SelectMergeStacktraces' FLAMEGRAPH output does. */
export const FLAMEGRAPH_TRUNCATION: TruncateOptions = { existingOther: 'fold', otherPosition: 'last' };
/** What the TREE format (MarshalTruncate) does. */
export const TREE_BYTES_TRUNCATION: TruncateOptions = { existingOther: 'keep', otherPosition: 'sorted' };
/** A flame graph read back into a tree (Pyroscope's Diff input): folded like a flame graph, sorted like a tree. */
export const DIFF_INPUT_TRUNCATION: TruncateOptions = { existingOther: 'fold', otherPosition: 'sorted' };

/**
 * Returns a new, truncated tree (the input is not modified). With maxNodes < 1 nothing is cut
 * for size, but `existingOther: 'fold'` still merges real `other` children, as Pyroscope does.
 */
export function truncateTree(
  tree: CallTree,
  maxNodes: number,
  options: TruncateOptions = FLAMEGRAPH_TRUNCATION,
): CallTree {
  // Nothing is cut when the tree is small enough, including nodes whose totals are negative
  // (deltas), which a threshold of 0 would fold away.
  const minVal = maxNodes >= 1 && tree.size - 1 > maxNodes ? minTotal(tree, maxNodes) : -Infinity;
  const names = tree.names.slice();
  const srcOther = names.indexOf(OTHER_NAME);
  let dstOther = srcOther;
  const fold = options.existingOther === 'fold';
  const sorted = options.otherPosition === 'sorted';

  let cap = 64;
  let src: Int32Array = new Int32Array(cap);
  let name: Int32Array = new Int32Array(cap);
  let self: Float64Array = new Float64Array(cap);
  let total: Float64Array = new Float64Array(cap);
  let first: Uint32Array = new Uint32Array(cap + 1);
  const ensure = (n: number): void => {
    if (n <= cap) return;
    while (cap < n) cap *= 2;
    src = growI32(src, cap);
    name = growI32(name, cap);
    self = growF64(self, cap);
    total = growF64(total, cap);
    first = growU32(first, cap + 1);
  };

  let size = 1;
  src[0] = ROOT;
  name[0] = -1;
  self[0] = tree.self[ROOT];
  total[0] = tree.total[ROOT];
  // Breadth-first, so each node's children get consecutive ids.
  for (let d = 0; d < size; d++) {
    first[d] = size;
    const s = src[d];
    if (s < 0) continue;
    const from = size;
    let other = 0;
    let keptOther = -1;
    const end = tree.childStart[s + 1];
    ensure(size + (end - tree.childStart[s]) + 1);
    for (let j = tree.childStart[s]; j < end; j++) {
      const c = tree.children[j];
      const isOther = tree.name[c] === srcOther;
      const keep = isOther ? !fold : tree.total[c] >= minVal;
      if (!keep) {
        other += tree.total[c];
        continue;
      }
      if (isOther) keptOther = size;
      src[size] = c;
      name[size] = tree.name[c];
      self[size] = tree.self[c];
      total[size] = tree.total[c];
      size++;
    }
    if (other === 0) continue;
    if (keptOther >= 0) {
      self[keptOther] += other;
      total[keptOther] += other;
      continue;
    }
    if (dstOther < 0) dstOther = names.push(OTHER_NAME) - 1;
    let at = size;
    if (sorted) {
      at = from;
      while (at < size && compareNames(names[name[at]], OTHER_NAME) < 0) at++;
      src.copyWithin(at + 1, at, size);
      name.copyWithin(at + 1, at, size);
      self.copyWithin(at + 1, at, size);
      total.copyWithin(at + 1, at, size);
    }
    src[at] = -1;
    name[at] = dstOther;
    self[at] = other;
    total[at] = other;
    size++;
  }
  first[size] = size;

  // Children of d are ids first[d] .. first[d + 1] - 1, which sit one slot earlier in `children`.
  const childStart = new Uint32Array(size + 1);
  for (let d = 0; d <= size; d++) childStart[d] = first[d] - 1;
  childStart[0] = 0;
  const children = new Uint32Array(size - 1);
  for (let i = 0; i < children.length; i++) children[i] = i + 1;
  return {
    names,
    size,
    name: name.slice(0, size),
    self: self.slice(0, size),
    total: total.slice(0, size),
    childStart,
    children,
  };
}

function growI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
