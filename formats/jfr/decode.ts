/**
 * JFR (Java Flight Recorder) → profiles, one per kind of sample, as Pyroscope derives them
 * from recordings of async-profiler, pyroscope-java and the JDK itself.
 */
import { inflateBounded, isGzip } from '../gzip.ts';
import { readRecording } from './chunks.ts';
import { JfrError } from './errors.ts';
import { ProfileCollector, type JfrNamedProfile } from './profiles.ts';
import type { LabelsSnapshot } from './labels-snapshot.ts';

export const DEFAULT_MAX_JFR_BYTES = 4 * 1024 * 1024;

export interface DecodeJfrOptions {
  /** Limit on the uncompressed recording, in bytes. Default 4 MiB. */
  maxBytes?: number;
  /** Sampling rate of CPU and wall events in Hz (the `sampleRate` of /ingest). Default 100. */
  sampleRate?: number;
  /** Start and length of the profile, Unix ns. */
  timeNanos?: bigint;
  durationNanos?: bigint;
  /** Dynamic labels for the context IDs the events carry. */
  labels?: LabelsSnapshot;
}

export interface JfrDecodeResult {
  profiles: JfrNamedProfile[];
  /** The profiler's `event` setting (cpu, itimer, wall, …); "" when the recording has none. */
  event: string;
  chunks: number;
}

/** Decodes a raw or gzipped JFR recording. Bad input throws a JfrError. */
export function decodeJfr(input: Uint8Array, opts: DecodeJfrOptions = {}): JfrDecodeResult {
  const raw = gunzipJfr(input, opts.maxBytes ?? DEFAULT_MAX_JFR_BYTES);
  const collector = new ProfileCollector({
    sampleRate: opts.sampleRate ?? 100,
    timeNanos: opts.timeNanos ?? 0n,
    durationNanos: opts.durationNanos ?? 0n,
    labels: opts.labels,
  });
  let chunks: number;
  try {
    chunks = readRecording(raw, collector);
  } catch (err) {
    // Deep or huge inputs must still end as a client error, never as a crash.
    if (err instanceof RangeError) throw new JfrError(`the recording is too large or too deeply nested to read (${err.message})`);
    throw err;
  }
  return { profiles: collector.profiles(), event: collector.event, chunks };
}

/** Gunzips (bounded while inflating) when the input is gzip; enforces the size limit either way. */
export function gunzipJfr(input: Uint8Array, maxBytes: number): Uint8Array {
  if (!isGzip(input)) {
    if (input.length > maxBytes) throw new JfrError(`the recording is ${input.length} bytes; the limit is ${maxBytes}`, true);
    return input;
  }
  try {
    return inflateBounded(input, maxBytes);
  } catch (err) {
    // The shared gunzip reports an output over the limit by its own error class; matched by
    // name so that this decoder keeps to formats/ and its own error type.
    const tooLarge = (err as { constructor?: { name?: string } }).constructor?.name === 'ProfileTooLargeError';
    throw new JfrError((err as Error).message, tooLarge);
  }
}
