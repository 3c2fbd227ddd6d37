/**
 * Pyroscope's flame graph layouts (querier.v1 FlameGraph / FlameGraphDiff and the legacy
 * flamebearer JSON), produced byte-for-byte in the same node and name order as Pyroscope so
 * that clients comparing or caching responses see identical results.
 */
import { buildTree, compareNames, OTHER_NAME, ROOT, type CallTree, type MergedStacks } from './tree.ts';
import { DIFF_INPUT_TRUNCATION, FLAMEGRAPH_TRUNCATION, TopK, truncateTree } from './truncate.ts';

export interface FlameGraph {
  /** names[0] is always "total", the root. */
  names: string[];
  /** Per level, flat quadruples [x offset delta, total, self, name index]. */
  levels: number[][];
  /** Sum of all stacks. */
  total: number;
  maxSelf: number;
}

export interface Flamebearer {
  names: string[];
  levels: number[][];
  numTicks: number;
  maxSelf: number;
}

export interface FlameGraphDiff {
  names: string[];
  /** Per level, flat 7-tuples [l offset delta, l total, l self, r offset delta, r total, r self, name index]. */
  levels: number[][];
  /** leftTicks + rightTicks */
  total: number;
  maxSelf: number;
  leftTicks: number;
  rightTicks: number;
}

export const FLAMEGRAPH_STRIDE = 4;
export const DIFF_STRIDE = 7;

/** Builds, truncates (maxNodes < 1 or precut stacks: no limit) and lays out a flame graph. */
export function toFlameGraph(merged: MergedStacks, maxNodes: number): FlameGraph {
  // A precut tree still goes through the truncation, which folds real `other` nodes.
  return renderFlameGraph(truncateTree(buildTree(merged), merged.precut ? 0 : maxNodes, FLAMEGRAPH_TRUNCATION));
}

/**
 * Lays out a tree as is, children in stored order. Like Pyroscope, it walks depth first taking
 * the last child first (which fixes the order of `names`), then lists each level left to right.
 */
export function renderFlameGraph(tree: CallTree): FlameGraph {
  const names = ['total'];
  // Pyroscope caches the root under "total", so a function of that name shares index 0.
  const byString = new Map<string, number>([['total', 0]]);
  const byTreeName = new Int32Array(tree.names.length).fill(-1);
  const raw: number[][] = [];
  let maxSelf = 0;

  const stackNode: number[] = [ROOT];
  const stackLevel: number[] = [0];
  const stackX: number[] = [0];
  while (stackNode.length > 0) {
    const node = stackNode.pop()!;
    const level = stackLevel.pop()!;
    const x = stackX.pop()!;
    let nameIndex = 0;
    const tn = tree.name[node];
    if (tn >= 0) {
      nameIndex = byTreeName[tn];
      if (nameIndex < 0) {
        nameIndex = internName(tree.names[tn], names, byString);
        byTreeName[tn] = nameIndex;
      }
    }
    const self = tree.self[node];
    const total = tree.total[node];
    if (self > maxSelf) maxSelf = self;
    if (level === raw.length) raw.push([]);
    raw[level].push(x, total, self, nameIndex);

    // Self is drawn at the left edge; children follow it.
    let cx = x + self;
    for (let j = tree.childStart[node], end = tree.childStart[node + 1]; j < end; j++) {
      const c = tree.children[j];
      stackNode.push(c);
      stackLevel.push(level + 1);
      stackX.push(cx);
      cx += tree.total[c];
    }
  }

  return { names, levels: raw.map((l) => finishLevel(l, FLAMEGRAPH_STRIDE, [[0, 1]])), total: tree.total[ROOT], maxSelf };
}

/** The legacy /render JSON uses the same delta-encoded quadruples. */
export function toFlamebearer(fg: FlameGraph): Flamebearer {
  return { names: fg.names, levels: fg.levels, numTicks: fg.total, maxSelf: fg.maxSelf };
}

function internName(name: string, names: string[], byString: Map<string, number>): number {
  let i = byString.get(name);
  if (i === undefined) {
    i = names.push(name) - 1;
    byString.set(name, i);
  }
  return i;
}

/**
 * Entries were recorded in visit order, which is right to left within a level: reverse them,
 * then store each offset (columns given as [offset, width] pairs) relative to the end of the
 * previous entry on the level.
 */
function finishLevel(entries: number[], stride: number, columns: Array<[number, number]>): number[] {
  const count = entries.length / stride;
  const out = new Array<number>(entries.length);
  for (let g = 0; g < count; g++) {
    const from = (count - 1 - g) * stride;
    const to = g * stride;
    for (let k = 0; k < stride; k++) out[to + k] = entries[from + k];
  }
  for (const [offset, width] of columns) {
    let end = 0;
    for (let i = 0; i < out.length; i += stride) {
      const x = out[i + offset];
      out[i + offset] = x - end;
      end = x + out[i + width];
    }
  }
  return out;
}

/** Two trees aligned node for node: a node missing on one side has zeros there. */
interface PairedTree {
  names: string[];
  size: number;
  /** Index into names; -1 for the root. */
  name: Int32Array;
  leftTotal: Float64Array;
  leftSelf: Float64Array;
  rightTotal: Float64Array;
  rightSelf: Float64Array;
  /** Children of n are ids first[n] .. first[n + 1] - 1. */
  first: Uint32Array;
}

/**
 * Pyroscope's Diff: each side is first cut to maxNodes as its own flame graph would be (the
 * query frontend fetches both sides as flame graphs), then the two trees are aligned and cut
 * again on the larger of the two totals of each node, so a node stays if either side needs it.
 */
export function diffFlameGraph(left: MergedStacks, right: MergedStacks, maxNodes: number): FlameGraphDiff {
  const l = truncateTree(buildTree(left), maxNodes, DIFF_INPUT_TRUNCATION);
  const r = truncateTree(buildTree(right), maxNodes, DIFF_INPUT_TRUNCATION);
  return renderDiff(pairTrees(l, r), maxNodes);
}

function pairTrees(l: CallTree, r: CallTree): PairedTree {
  const names = Array.from(new Set([...l.names, ...r.names])).sort(compareNames);
  const rank = new Map<string, number>();
  for (let i = 0; i < names.length; i++) rank.set(names[i], i);
  const lRank = Int32Array.from(l.names, (n) => rank.get(n)!);
  const rRank = Int32Array.from(r.names, (n) => rank.get(n)!);

  // Upper bound: every node on both sides unmatched.
  const cap = l.size + r.size;
  const lSrc = new Int32Array(cap);
  const rSrc = new Int32Array(cap);
  const name = new Int32Array(cap);
  const first = new Uint32Array(cap + 1);
  lSrc[0] = ROOT;
  rSrc[0] = ROOT;
  name[0] = -1;
  let size = 1;
  const add = (a: number, b: number, n: number): void => {
    lSrc[size] = a;
    rSrc[size] = b;
    name[size] = n;
    size++;
  };
  for (let d = 0; d < size; d++) {
    first[d] = size;
    const a = lSrc[d];
    const b = rSrc[d];
    let ia = a >= 0 ? l.childStart[a] : 0;
    const ea = a >= 0 ? l.childStart[a + 1] : 0;
    let ib = b >= 0 ? r.childStart[b] : 0;
    const eb = b >= 0 ? r.childStart[b + 1] : 0;
    // Both child lists are in name order, so one merge pass aligns them.
    while (ia < ea && ib < eb) {
      const ca = l.children[ia];
      const cb = r.children[ib];
      const na = lRank[l.name[ca]];
      const nb = rRank[r.name[cb]];
      if (na === nb) {
        add(ca, cb, na);
        ia++;
        ib++;
      } else if (na < nb) {
        add(ca, -1, na);
        ia++;
      } else {
        add(-1, cb, nb);
        ib++;
      }
    }
    for (; ia < ea; ia++) add(l.children[ia], -1, lRank[l.name[l.children[ia]]]);
    for (; ib < eb; ib++) add(-1, r.children[ib], rRank[r.name[r.children[ib]]]);
  }
  first[size] = size;

  const leftTotal = new Float64Array(size);
  const leftSelf = new Float64Array(size);
  const rightTotal = new Float64Array(size);
  const rightSelf = new Float64Array(size);
  for (let d = 0; d < size; d++) {
    if (lSrc[d] >= 0) {
      leftTotal[d] = l.total[lSrc[d]];
      leftSelf[d] = l.self[lSrc[d]];
    }
    if (rSrc[d] >= 0) {
      rightTotal[d] = r.total[rSrc[d]];
      rightSelf[d] = r.self[rSrc[d]];
    }
  }
  return {
    names,
    size,
    name: name.slice(0, size),
    leftTotal,
    leftSelf,
    rightTotal,
    rightSelf,
    first: first.slice(0, size + 1),
  };
}

/**
 * Pyroscope's combineMinValues: the maxNodes-th largest max(left, right) total. Unlike the
 * single flame graph, the root takes part and counts toward the tree size.
 */
function pairedMinTotal(t: PairedTree, maxNodes: number): number {
  if (!(maxNodes >= 1) || t.size <= maxNodes) return 0;
  const top = new TopK(Math.floor(maxNodes));
  const stack = new Uint32Array(t.size);
  let sp = 0;
  stack[sp++] = ROOT;
  while (sp > 0) {
    const n = stack[--sp];
    if (!top.offer(Math.max(t.leftTotal[n], t.rightTotal[n]))) continue;
    for (let c = t.first[n]; c < t.first[n + 1]; c++) stack[sp++] = c;
  }
  return top.min();
}

function renderDiff(t: PairedTree, maxNodes: number): FlameGraphDiff {
  const minVal = pairedMinTotal(t, maxNodes);
  const names: string[] = [];
  // Pyroscope's diff caches the root under its empty name (not "total", unlike the single graph).
  const byString = new Map<string, number>();
  const byTreeName = new Int32Array(t.names.length).fill(-1);
  const raw: number[][] = [];
  let maxSelf = 0;

  // Synthetic `other` entries have node -1 and carry their totals on the stack.
  const sNode: number[] = [ROOT];
  const sLevel: number[] = [0];
  const sXL: number[] = [0];
  const sXR: number[] = [0];
  const sOL: number[] = [0];
  const sOR: number[] = [0];
  while (sNode.length > 0) {
    const node = sNode.pop()!;
    const level = sLevel.pop()!;
    const xl = sXL.pop()!;
    const xr = sXR.pop()!;
    const otherL = sOL.pop()!;
    const otherR = sOR.pop()!;

    let lt: number, ls: number, rt: number, rs: number, nameIndex: number;
    if (node < 0) {
      lt = ls = otherL;
      rt = rs = otherR;
      nameIndex = internDiffName(OTHER_NAME, names, byString);
    } else {
      lt = t.leftTotal[node];
      ls = t.leftSelf[node];
      rt = t.rightTotal[node];
      rs = t.rightSelf[node];
      const tn = t.name[node];
      if (tn < 0) {
        nameIndex = internDiffName('', names, byString);
      } else {
        nameIndex = byTreeName[tn];
        if (nameIndex < 0) {
          nameIndex = internDiffName(t.names[tn], names, byString);
          byTreeName[tn] = nameIndex;
        }
      }
    }
    if (ls > maxSelf) maxSelf = ls;
    if (rs > maxSelf) maxSelf = rs;
    if (level === raw.length) raw.push([]);
    raw[level].push(xl, lt, ls, xr, rt, rs, nameIndex);
    if (node < 0) continue;

    let cl = xl + ls;
    let cr = xr + rs;
    let foldedL = 0;
    let foldedR = 0;
    for (let c = t.first[node]; c < t.first[node + 1]; c++) {
      const clt = t.leftTotal[c];
      const crt = t.rightTotal[c];
      if (clt >= minVal || crt >= minVal) {
        sNode.push(c);
        sLevel.push(level + 1);
        sXL.push(cl);
        sXR.push(cr);
        sOL.push(0);
        sOR.push(0);
        cl += clt;
        cr += crt;
      } else {
        foldedL += clt;
        foldedR += crt;
      }
    }
    if (foldedL !== 0 || foldedR !== 0) {
      sNode.push(-1);
      sLevel.push(level + 1);
      sXL.push(cl);
      sXR.push(cr);
      sOL.push(foldedL);
      sOR.push(foldedR);
    }
  }

  const leftTicks = t.leftTotal[ROOT];
  const rightTicks = t.rightTotal[ROOT];
  return {
    names,
    levels: raw.map((l) => finishLevel(l, DIFF_STRIDE, [[0, 1], [3, 4]])),
    total: leftTicks + rightTicks,
    maxSelf,
    leftTicks,
    rightTicks,
  };
}

function internDiffName(name: string, names: string[], byString: Map<string, number>): number {
  let i = byString.get(name);
  if (i === undefined) {
    i = names.length;
    names.push(i === 0 ? 'total' : name);
    byString.set(name, i);
  }
  return i;
}
