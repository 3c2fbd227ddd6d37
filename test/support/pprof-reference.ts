/**
 * An independent computation of what a pprof file holds, from the `pprof-format` package's
 * objects: per sample type, the total and the self value of each leaf function. Tests compare
 * what Hearth stores and serves against it.
 */
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';

export interface Reference {
  sampleTypes: Array<{ type: string; unit: string }>;
  periodType: { type: string; unit: string };
  totals: number[];
  /** Per sample type: leaf function name → summed value. */
  self: Array<Map<string, number>>;
  timeNanos: bigint;
}

export function rawPprof(bytes: Uint8Array): Uint8Array {
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
}

export function referenceOf(bytes: Uint8Array): Reference {
  const p = Profile.decode(rawPprof(bytes));
  const s = (i: number | bigint) => p.stringTable.strings[Number(i)] ?? '';
  // Some exporters write every Function.id as 0 and refer to functions by position.
  const byPosition = p.function.some((f) => Number(f.id) === 0);
  const functions = new Map(p.function.map((f, i) => [byPosition ? i + 1 : Number(f.id), f]));
  const mappings = new Map(p.mapping.map((m) => [Number(m.id), m]));
  const locations = new Map(p.location.map((l) => [Number(l.id), l]));
  const leafName = (locId: number): string => {
    const loc = locations.get(locId)!;
    const line = loc.line[0];
    const fn = line ? functions.get(Number(line.functionId)) : undefined;
    let name = fn ? s(fn.name) || s(fn.systemName) : '';
    if (!name) {
      const hex = BigInt(loc.address).toString(16);
      const m = mappings.get(Number(loc.mappingId));
      const file = m ? s(m.filename) : '';
      const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
      name = base ? `${base}+0x${hex}` : `0x${hex}`;
    }
    return name;
  };
  const sampleTypes = p.sampleType.map((t) => ({ type: s(t.type), unit: s(t.unit) }));
  const totals = sampleTypes.map(() => 0);
  const self = sampleTypes.map(() => new Map<string, number>());
  for (const sample of p.sample) {
    const leaf = sample.locationId.length ? leafName(Number(sample.locationId[0])) : undefined;
    sample.value.forEach((v, i) => {
      // pprof-format hands int64 values back unsigned; a negative delta must stay negative.
      const n = Number(BigInt.asIntN(64, BigInt(v)));
      totals[i] += n;
      if (n !== 0 && leaf !== undefined) self[i].set(leaf, (self[i].get(leaf) ?? 0) + n);
    });
  }
  return {
    sampleTypes,
    periodType: p.periodType ? { type: s(p.periodType.type), unit: s(p.periodType.unit) } : { type: '', unit: '' },
    totals,
    self,
    timeNanos: BigInt(p.timeNanos ?? 0),
  };
}

/** Self value per function name from Pyroscope flame graph levels (quadruples). */
export function selfFromLevels(names: string[], levels: number[][]): Map<string, number> {
  const self = new Map<string, number>();
  for (let d = 1; d < levels.length; d++) {
    const l = levels[d];
    for (let i = 0; i < l.length; i += 4) {
      if (l[i + 2] === 0) continue;
      const name = names[l[i + 3]];
      self.set(name, (self.get(name) ?? 0) + l[i + 2]);
    }
  }
  return self;
}

export function topN(m: Map<string, number>, n: number): Array<[string, number]> {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}
