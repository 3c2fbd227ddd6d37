/**
 * Reads a flamebearer (the JSON of /pyroscope/render) back into folded stacks, so that a stored
 * flame graph can be compared stack by stack with what was sent.
 */

export interface Flamebearer {
  names: string[];
  /** Per level, quadruples [x offset from the previous node's end, total, self, name index]. */
  levels: number[][];
  numTicks: number;
}

/** `root;…;leaf` → self value, for every node with self > 0 (the root "total" excluded). */
export function foldedFromFlamebearer(fb: Flamebearer): Map<string, number> {
  const out = new Map<string, number>();
  // Per level, the nodes as [start, end, path].
  let parents: Array<[number, number, string]> = [];
  fb.levels.forEach((level, depth) => {
    const nodes: Array<[number, number, string]> = [];
    let x = 0;
    for (let i = 0; i < level.length; i += 4) {
      const start = x + level[i];
      const total = level[i + 1];
      const self = level[i + 2];
      const name = fb.names[level[i + 3]];
      x = start + total;
      let path = '';
      if (depth > 0) {
        const parent = parents.find(([s, e]) => start >= s && start < e);
        if (!parent) throw new Error(`node ${name} at level ${depth} has no parent`);
        path = parent[2] === '' ? name : `${parent[2]};${name}`;
      }
      nodes.push([start, start + total, path]);
      if (depth > 0 && self > 0) out.set(path, (out.get(path) ?? 0) + self);
    }
    parents = nodes;
  });
  return out;
}
