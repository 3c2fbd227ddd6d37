/**
 * Merged stacks → pprof, for SelectMergeProfile, the PPROF format and the download routes.
 * A merged selection has one value per stack; the profile carries it under the selection's
 * sample type, stamped with the selection's range.
 */
import { gzipSync } from 'node:zlib';
import type { ParsedProfileType, Profile } from '../core/model.ts';
import { encodePprof } from '../formats/pprof/index.ts';
import type { MergedStacks } from '../storage/query.ts';

export function mergedToProfile(merged: MergedStacks, type: ParsedProfileType, startMs: number, endMs: number): Profile {
  // The model keeps names[0] = "" unused, so every frame index moves up by one.
  const names = ['', ...merged.names];
  const stacks = merged.stacks.map((s) => s.map((f) => f + 1));
  return {
    sampleTypes: [{ type: type.sampleType, unit: type.sampleUnit }],
    periodType: { type: type.periodType, unit: type.periodUnit },
    period: 0,
    timeNanos: BigInt(Math.round(startMs)) * 1_000_000n,
    durationNanos: BigInt(Math.max(0, Math.round(endMs - startMs))) * 1_000_000n,
    names,
    stacks,
    // pprof values are integers; an average is rounded.
    samples: merged.values.map((v, i) => ({ stack: i, values: [Math.round(v)], labelSet: 0 })).filter((s) => s.values[0] !== 0),
    sampleLabelSets: [{}],
  };
}

/** Uncompressed pprof bytes. */
export function mergedToPprof(merged: MergedStacks, type: ParsedProfileType, startMs: number, endMs: number): Uint8Array {
  return encodePprof(mergedToProfile(merged, type, startMs, endMs));
}

/** gzip, as pprof files are stored and as `go tool pprof` expects them. */
export function gzipPprof(raw: Uint8Array): Buffer {
  return gzipSync(raw);
}
