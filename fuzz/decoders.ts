/**
 * The decoders under fuzz, by target name, each called the way the server calls it. A decoder
 * may refuse its input only with a codec error (below); anything else it throws is a crash.
 */
import { HearthError } from '../core/errors.ts';
import { decodeBatches, decodeBatch } from '../formats/batch/index.ts';
import { decodeTreeBytes } from '../formats/flamegraph/index.ts';
import { FormatError } from '../formats/format-error.ts';
import { decodeJfr, decodeLabelsSnapshot } from '../formats/jfr/index.ts';
import { decodeProfilesJson, decodeProfilesProto, decodeTracesJson, decodeTracesProto, convertProfiles } from '../formats/otlp/index.ts';
import { decodePprof } from '../formats/pprof/index.ts';
import { decodeSpeedscope } from '../formats/speedscope/index.ts';
import { decodeTrie } from '../formats/trie/index.ts';
import { parseFolded, parseLines, textProfileType } from '../receivers/pyroscope/text-formats.ts';

const MAX = 4 * 1024 * 1024;
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const timing = { timeNanos: 1_700_000_000_000_000_000n, durationNanos: 10_000_000_000n };

export const DECODERS: Record<string, (input: Uint8Array) => unknown> = {
  pprof: (b) => decodePprof(b, { maxBytes: MAX }),
  batch: (b) => decodeBatch(b),
  'batch-group': (b) => decodeBatches(b),
  'otlp-profiles-proto': (b) => convertProfiles(decodeProfilesProto(b, { maxBytes: MAX }), { nowNanos: timing.timeNanos, inputBytes: b.length }),
  'otlp-profiles-json': (b) => convertProfiles(decodeProfilesJson(b, { maxBytes: MAX }), { nowNanos: timing.timeNanos, inputBytes: b.length }),
  'otlp-traces-proto': (b) => decodeTracesProto(b, { maxBytes: MAX }),
  'otlp-traces-json': (b) => decodeTracesJson(b, { maxBytes: MAX }),
  jfr: (b) => decodeJfr(b, { maxBytes: MAX, sampleRate: 100, timeNanos: timing.timeNanos, durationNanos: timing.durationNanos }),
  'jfr-labels': (b) => decodeLabelsSnapshot(b),
  speedscope: (b) => decodeSpeedscope(text(b)),
  trie: (b) => decodeTrie(b),
  tree: (b) => decodeTreeBytes(b),
  folded: (b) => parseFolded(text(b), textProfileType('app.cpu', 100), timing),
  lines: (b) => parseLines(text(b), textProfileType('app.cpu', 100), timing),
};

/** A refusal the server turns into a 4xx: the codec's own errors, and a stack overflow on absurd nesting. */
export function isCodecError(err: unknown): boolean {
  if (err instanceof FormatError) return true;
  if (err instanceof HearthError) return err.status < 500;
  return err instanceof RangeError;
}
