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

export interface ReferenceSample {
  /** Function names, root first, inlined frames expanded. */
  frames: string[];
  values: number[];
  /** String labels of the sample. */
  labels: Record<string, string>;
}

export interface ReferenceSamples {
  sampleTypes: Array<{ type: string; unit: string }>;
  timeNanos: bigint;
  samples: ReferenceSample[];
}

/** Every sample with its whole stack and labels, decoded with `pprof-format`. */
export function samplesOf(bytes: Uint8Array): ReferenceSamples {
  const p = Profile.decode(rawPprof(bytes));
  const s = (i: number | bigint) => p.stringTable.strings[Number(i)] ?? '';
  const byPosition = p.function.some((f) => Number(f.id) === 0);
  const functions = new Map(p.function.map((f, i) => [byPosition ? i + 1 : Number(f.id), f]));
  const locations = new Map(p.location.map((l) => [Number(l.id), l]));
  const framesOf = (locId: number): string[] => {
    const loc = locations.get(locId)!;
    if (!loc.line.length) return [`0x${BigInt(loc.address).toString(16)}`];
    // line[0] is the innermost inlined call: leaf-most first.
    return loc.line.map((line) => {
      const fn = functions.get(Number(line.functionId));
      return fn ? s(fn.name) || s(fn.systemName) : '';
    });
  };
  const samples = p.sample.map((sample) => {
    const leafFirst = sample.locationId.flatMap((id) => framesOf(Number(id)));
    const labels: Record<string, string> = {};
    for (const l of sample.label) if (Number(l.str) !== 0) labels[s(l.key)] = s(l.str);
    return { frames: leafFirst.reverse(), values: sample.value.map((v) => Number(BigInt.asIntN(64, BigInt(v)))), labels };
  });
  return { sampleTypes: p.sampleType.map((t) => ({ type: s(t.type), unit: s(t.unit) })), timeNanos: BigInt(p.timeNanos ?? 0), samples };
}

/** Sum of one sample type over the samples that pass a filter. */
export function sumWhere(ref: ReferenceSamples, typeIndex: number, keep: (s: ReferenceSample) => boolean = () => true): number {
  let total = 0;
  for (const s of ref.samples) if (keep(s)) total += s.values[typeIndex] ?? 0;
  return total;
}

/** Self value per leaf function of one sample type over the samples that pass a filter. */
export function selfWhere(ref: ReferenceSamples, typeIndex: number, keep: (s: ReferenceSample) => boolean = () => true): Map<string, number> {
  const self = new Map<string, number>();
  for (const s of ref.samples) {
    const v = s.values[typeIndex] ?? 0;
    if (!keep(s) || v === 0 || !s.frames.length) continue;
    const leaf = s.frames[s.frames.length - 1];
    self.set(leaf, (self.get(leaf) ?? 0) + v);
  }
  return self;
}
