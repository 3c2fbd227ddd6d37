/**
 * pprof decoding: Hearth's decodePprof against the `pprof-format` package on the same
 * bytes (google-pprof/large.cpu), measured in one process, alternating, after a warm-up.
 * Both decoders are timed on the already-gunzipped protobuf, so the ratio is about
 * protobuf decoding alone; a second pair of figures includes gunzip for both.
 *
 * Each round times a batch of calls, so garbage collection triggered by a decoder's own
 * allocations is charged to it. Figures are medians over rounds.
 */
import { gunzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { Profile } from 'pprof-format';
import { decodeJfr } from '../formats/jfr/index.ts';
import { decodePprof } from '../formats/pprof/index.ts';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';

const FILE = 'google-pprof/large.cpu';
/** A small labelled Go CPU profile, the shape of most real pushes (labels and span ids per sample). */
const LABELLED_FILE = 'grafana-pyroscope/go.cpu.labels.pprof';
const JFR_FILE = 'grafana-jfr-parser/cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz';
const TARGET_RATIO = 10;

import type { BenchResult } from './report.ts';
export type { BenchResult };

interface Contender {
  label: string;
  run: () => unknown;
  /** Calls per timed batch; the slower decoder gets fewer so that rounds take similar time. */
  batch: number;
  samples: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function timeBatch(c: Contender): void {
  const t = performance.now();
  for (let i = 0; i < c.batch; i++) c.run();
  c.samples.push((performance.now() - t) / c.batch);
}

/** Warm-up, then `rounds` alternating timed batches of each contender. Returns ms per call (median). */
function race(contenders: Contender[], rounds: number): number[] {
  for (const c of contenders) for (let i = 0; i < Math.max(3, c.batch * 2); i++) c.run();
  for (let r = 0; r < rounds; r++) for (const c of contenders) timeBatch(c);
  return contenders.map((c) => median(c.samples));
}

const mbps = (bytes: number, ms: number): string => `${(bytes / 1e6 / (ms / 1e3)).toFixed(1)} MB/s`;

export async function benchDecode(): Promise<BenchResult> {
  const name = 'pprof decode';
  if (!HAS_CORPUS) return { name, lines: ['skipped: the shared test corpus (../shared/testdata) is not present'] };
  const gz = corpusFile(FILE);
  const raw = gunzipSync(gz);
  const lines: string[] = [`${FILE}: ${gz.length} bytes gzipped, ${raw.length} bytes raw protobuf`];

  const hearthRaw: Contender = { label: 'hearth decodePprof', run: () => decodePprof(raw), batch: 10, samples: [] };
  const pfRaw: Contender = { label: 'pprof-format Profile.decode', run: () => Profile.decode(raw), batch: 1, samples: [] };
  const [oursMs, theirsMs] = race([hearthRaw, pfRaw], 15);
  const ratio = theirsMs / oursMs;
  lines.push(`raw protobuf: ${hearthRaw.label} ${oursMs.toFixed(2)} ms (${mbps(raw.length, oursMs)})`);
  lines.push(`raw protobuf: ${pfRaw.label} ${theirsMs.toFixed(2)} ms (${mbps(raw.length, theirsMs)})`);
  lines.push(`raw protobuf: ratio ${ratio.toFixed(1)}x (target >= ${TARGET_RATIO}x: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'})`);

  const hearthGz: Contender = { label: 'hearth decodePprof(gzip)', run: () => decodePprof(gz), batch: 5, samples: [] };
  const pfGz: Contender = { label: 'gunzip + pprof-format', run: () => Profile.decode(gunzipSync(gz)), batch: 1, samples: [] };
  const [oursGzMs, theirsGzMs] = race([hearthGz, pfGz], 10);
  lines.push(`with gunzip: ${hearthGz.label} ${oursGzMs.toFixed(2)} ms (${mbps(raw.length, oursGzMs)} of raw profile)`);
  lines.push(`with gunzip: ${pfGz.label} ${theirsGzMs.toFixed(2)} ms (${mbps(raw.length, theirsGzMs)} of raw profile)`);
  lines.push(`with gunzip: ratio ${(theirsGzMs / oursGzMs).toFixed(1)}x`);
  lines.push(...labelledLines());
  lines.push(...jfrLines());
  const rows = [{ figure: 'pprof decode, large.cpu', measured: `${oursMs.toFixed(2)} ms (${ratio.toFixed(1)}× faster)`, baseline: `pprof-format ${theirsMs.toFixed(2)} ms`, target: '≥ 10×', met: ratio >= TARGET_RATIO }];
  return { name, lines, rows };
}

function labelledLines(): string[] {
  const raw = gunzipSync(corpusFile(LABELLED_FILE));
  const ours: Contender = { label: 'hearth decodePprof', run: () => decodePprof(raw), batch: 200, samples: [] };
  const theirs: Contender = { label: 'pprof-format Profile.decode', run: () => Profile.decode(raw), batch: 20, samples: [] };
  const [oursMs, theirsMs] = race([ours, theirs], 15);
  return [
    `${LABELLED_FILE}: ${raw.length} bytes raw protobuf`,
    `labelled: ${ours.label} ${oursMs.toFixed(3)} ms, ${theirs.label} ${theirsMs.toFixed(3)} ms, ratio ${(theirsMs / oursMs).toFixed(1)}x`,
  ];
}

/**
 * JFR decoding (recording → one profile per event kind) of a real async-profiler recording.
 * No other JFR reader runs on Node, so the baseline is gunzipping the same file: the ratio
 * says how many times the cost of inflating it a full decode takes.
 */
function jfrLines(): string[] {
  const gz = corpusFile(JFR_FILE);
  const raw = gunzipSync(gz);
  const limit = { maxBytes: 64 * 1024 * 1024 };
  const decode: Contender = { label: 'hearth decodeJfr', run: () => decodeJfr(raw, limit), batch: 2, samples: [] };
  const inflate: Contender = { label: 'gunzip alone', run: () => gunzipSync(gz), batch: 20, samples: [] };
  const [decodeMs, inflateMs] = race([decode, inflate], 10);
  return [
    `${JFR_FILE}: ${gz.length} bytes gzipped, ${raw.length} bytes raw JFR`,
    `jfr: ${decode.label} ${decodeMs.toFixed(2)} ms (${mbps(raw.length, decodeMs)} of raw JFR)`,
    `jfr: baseline ${inflate.label} ${inflateMs.toFixed(2)} ms (${mbps(raw.length, inflateMs)}); decode/gunzip ratio ${(decodeMs / inflateMs).toFixed(1)}x`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { name, lines } = await benchDecode();
  console.log(`# ${name}`);
  for (const l of lines) console.log(l);
}
