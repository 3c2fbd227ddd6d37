/**
 * Names of the functions a merge answer numbers 1..n within itself (so that no 64-bit ID travels
 * as text): each number with its name, listed once.
 */
export function functionNames(fnNumbers: number[], fnNames: string[]): { names: string[]; nameOf: (fn: number) => number } {
  // Function IDs are hashes of their names, so a name normally has one number; equal names still
  // share one index.
  const size = fnNumbers.reduce((m, i) => Math.max(m, i), 0) + 1;
  const local = new Int32Array(size).fill(-1);
  const names: string[] = [];
  const byName = new Map<string, number>();
  const order = fnNumbers.map((_, k) => k).sort((a, b) => fnNumbers[a] - fnNumbers[b]);
  for (const k of order) {
    let g = byName.get(fnNames[k]);
    if (g === undefined) {
      g = names.push(fnNames[k]) - 1;
      byName.set(fnNames[k], g);
    }
    local[fnNumbers[k]] = g;
  }
  const missing = new Map<number, number>();
  const nameOf = (i: number): number => {
    let g = i < size ? local[i] : -1;
    if (g >= 0) return g;
    // A function missing from the functions table would be a bug; keep the frame visible.
    g = missing.get(i) ?? -1;
    if (g < 0) {
      g = names.push(`unknown function ${i}`) - 1;
      missing.set(i, g);
    }
    return g;
  };
  return { names, nameOf };
}
