/**
 * Per-function totals from a flamebearer answer (`/pyroscope/render`), as `go tool pprof -top`
 * counts them: flat is the value of the frames where the function is the leaf, cum the value of
 * every stack that holds the function, counted once however often it recurses in that stack.
 */

export interface Flamebearer {
  names: string[];
  /** Per depth: [x offset (relative to the end of the previous node), total, self, name index] per node. */
  levels: number[][];
  numTicks: number;
}

export interface FunctionTotal {
  name: string;
  flat: number;
  cum: number;
}

const STRIDE = 4;

export function functionTotals(fb: Flamebearer): FunctionTotal[] {
  const flat = new Map<string, number>();
  const cum = new Map<string, number>();
  // Nodes of the previous level, with absolute x and the set of names on their path.
  let parents: Array<{ x: number; total: number; path: Set<string> }> = [];
  fb.levels.forEach((level, depth) => {
    const nodes: typeof parents = [];
    let end = 0;
    let p = 0;
    for (let i = 0; i + STRIDE <= level.length; i += STRIDE) {
      const x = end + level[i];
      const total = level[i + 1];
      const self = level[i + 2];
      const name = fb.names[level[i + 3]] ?? `#${level[i + 3]}`;
      end = x + total;
      // Children are laid out left to right inside their parent's span.
      while (p < parents.length && parents[p].x + parents[p].total <= x) p++;
      const parentPath = depth === 0 ? new Set<string>() : (parents[p]?.path ?? new Set<string>());
      if (depth === 0) {
        // The root is the whole selection, not a function.
        nodes.push({ x, total, path: parentPath });
        continue;
      }
      flat.set(name, (flat.get(name) ?? 0) + self);
      if (!parentPath.has(name)) cum.set(name, (cum.get(name) ?? 0) + total);
      const path = new Set(parentPath);
      path.add(name);
      nodes.push({ x, total, path });
    }
    parents = nodes;
  });
  return [...cum.keys()].map((name) => ({ name, flat: flat.get(name) ?? 0, cum: cum.get(name) ?? 0 }));
}

/** pprof's -top order: by flat, then cum, then name. */
export function byFlat(a: FunctionTotal, b: FunctionTotal): number {
  return b.flat - a.flat || b.cum - a.cum || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
