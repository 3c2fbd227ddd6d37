/**
 * Flame graph data as a tree. The API answers flamebearer levels (delta-encoded offsets);
 * the views need parents and children, per-function sums, and the trees of one function's
 * callers and callees.
 */

export interface FlameNode {
  name: string;
  /** The width: in a diff, left and right together. */
  total: number;
  self: number;
  depth: number;
  parent: FlameNode | null;
  children: FlameNode[];
  /** Diff only: the left and right values. */
  left?: { self: number; total: number };
  right?: { self: number; total: number };
}

export interface FlameTree {
  root: FlameNode;
  diff: boolean;
  leftTicks: number;
  rightTicks: number;
  maxDepth: number;
  nodeCount: number;
}

function node(name: string, total: number, self: number, parent: FlameNode | null): FlameNode {
  return { name, total, self, depth: parent ? parent.depth + 1 : 0, parent, children: [] };
}

/**
 * Builds the tree from levels of quadruples [x delta, total, self, name] or, for a diff, 7-tuples
 * [left x delta, left total, left self, right x delta, right total, right self, name]. A node's
 * parent is the node of the level above whose span holds its start.
 */
export function treeOf(names: string[], levels: number[][], diff: boolean, leftTicks = 0, rightTicks = 0): FlameTree | null {
  if (!levels.length || !levels[0].length) return null;
  const stride = diff ? 7 : 4;
  let above: Array<{ x: number; end: number; n: FlameNode }> = [];
  let root: FlameNode | null = null;
  let maxDepth = 0;
  let count = 0;
  for (let d = 0; d < levels.length; d++) {
    const values = levels[d];
    const here: Array<{ x: number; end: number; n: FlameNode }> = [];
    let lx = 0;
    let rx = 0;
    let p = 0;
    for (let i = 0; i + stride <= values.length; i += stride) {
      let x: number;
      let total: number;
      let self: number;
      let n: FlameNode;
      if (diff) {
        const lStart = lx + values[i];
        const rStart = rx + values[i + 3];
        lx = lStart + values[i + 1];
        rx = rStart + values[i + 4];
        x = lStart + rStart;
        total = values[i + 1] + values[i + 4];
        self = values[i + 2] + values[i + 5];
        n = node(names[values[i + 6]], total, self, null);
        n.left = { total: values[i + 1], self: values[i + 2] };
        n.right = { total: values[i + 4], self: values[i + 5] };
      } else {
        x = lx + values[i];
        total = values[i + 1];
        self = values[i + 2];
        lx = x + total;
        n = node(names[values[i + 3]], total, self, null);
      }
      if (d === 0) {
        root = n;
      } else {
        while (p < above.length - 1 && above[p].end <= x) p++;
        const parent = above[p]?.n;
        if (!parent) continue;
        n.parent = parent;
        n.depth = d;
        parent.children.push(n);
      }
      here.push({ x, end: x + total, n });
      count++;
      maxDepth = Math.max(maxDepth, d);
    }
    above = here;
  }
  if (!root) return null;
  return { root, diff, leftTicks, rightTicks, maxDepth, nodeCount: count };
}

export interface FunctionRow {
  name: string;
  self: number;
  total: number;
  leftSelf: number;
  rightSelf: number;
  leftTotal: number;
  rightTotal: number;
}

/**
 * Self and total per function. A function's total counts each stack once however deeply it
 * recurses: only nodes with no ancestor of the same name add to it.
 */
export function functionTable(tree: FlameTree): FunctionRow[] {
  const rows = new Map<string, FunctionRow>();
  const onPath = new Map<string, number>();
  const visit = (n: FlameNode) => {
    let row = rows.get(n.name);
    if (!row) rows.set(n.name, (row = { name: n.name, self: 0, total: 0, leftSelf: 0, rightSelf: 0, leftTotal: 0, rightTotal: 0 }));
    row.self += n.self;
    row.leftSelf += n.left?.self ?? 0;
    row.rightSelf += n.right?.self ?? 0;
    const seen = onPath.get(n.name) ?? 0;
    if (seen === 0) {
      row.total += n.total;
      row.leftTotal += n.left?.total ?? 0;
      row.rightTotal += n.right?.total ?? 0;
    }
    onPath.set(n.name, seen + 1);
    for (const c of n.children) visit(c);
    onPath.set(n.name, seen);
  };
  // Iterating the root's children keeps the synthetic "total" root out of the table.
  for (const c of tree.root.children) visit(c);
  return [...rows.values()];
}

/** The outermost nodes named `name`: those with no ancestor of the same name. */
export function outermost(tree: FlameTree, name: string): FlameNode[] {
  const out: FlameNode[] = [];
  const visit = (n: FlameNode) => {
    if (n.name === name && n.depth > 0) {
      out.push(n);
      return;
    }
    for (const c of n.children) visit(c);
  };
  visit(tree.root);
  return out;
}

function mergeInto(into: FlameNode, from: FlameNode): void {
  into.total += from.total;
  into.self += from.self;
  for (const c of from.children) {
    let target = into.children.find((x) => x.name === c.name);
    if (!target) {
      target = node(c.name, 0, 0, into);
      into.children.push(target);
    }
    mergeInto(target, c);
  }
}

function finish(root: FlameNode, leftTicks = 0): FlameTree {
  let maxDepth = 0;
  let count = 0;
  const walk = (n: FlameNode) => {
    count++;
    maxDepth = Math.max(maxDepth, n.depth);
    n.children.sort((a, b) => b.total - a.total);
    for (const c of n.children) walk(c);
  };
  walk(root);
  return { root, diff: false, leftTicks, rightTicks: 0, maxDepth, nodeCount: count };
}

/** What `name` calls: every outermost call of it merged, with `name` as the root. */
export function calleesOf(tree: FlameTree, name: string): FlameTree {
  const root = node(name, 0, 0, null);
  for (const n of outermost(tree, name)) mergeInto(root, n);
  return finish(root);
}

/**
 * Who calls `name`: the stacks above each outermost call, reversed, so that `name` is the root
 * and its callers are its children, each weighted by the time spent in `name` under it.
 */
export function callersOf(tree: FlameTree, name: string): FlameTree {
  const root = node(name, 0, 0, null);
  for (const n of outermost(tree, name)) {
    root.total += n.total;
    let at = root;
    for (let p = n.parent; p && p.depth > 0; p = p.parent) {
      let next = at.children.find((x) => x.name === p!.name);
      if (!next) {
        next = node(p.name, 0, 0, at);
        at.children.push(next);
      }
      next.total += n.total;
      at = next;
    }
    // The end of a caller chain: time entered from the top of the stack.
    at.self += n.total;
  }
  return finish(root);
}
