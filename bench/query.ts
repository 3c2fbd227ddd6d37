/**
 * Query: flame graphs over stored real profiles, next to `go tool pprof` merging the same
 * profiles as pprof files in the same run, and the bytes on disk per ingested sample next to the
 * gzipped pprof bytes.
 *
 * Two data sets, each built from real Go CPU profiles of the shared corpus with their values
 * jittered per profile, one profile per series every 10 s:
 * - one hour of 100 series (25 services × 4 pods);
 * - 24 hours of 10 series.
 * A query is what the API does for a flame graph: the store's merge (with the rollups it picks
 * for long ranges) cut to max_nodes 8192 by the store, and the flame graph. p50 and p99 over the
 * timed rounds; the same merge shipping every stack, cut in JS, is printed beside it.
 *
 * Building the data takes minutes. BENCH_QUERY_DATA=dir keeps it in `dir` and, when `dir` already
 * holds a complete build, reuses it and only times the queries (the rows keep the times they were
 * built with). Without it the data goes to a temporary directory removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import type { Batch, Profile } from '../core/model.ts';
import { toFlameGraph } from '../formats/flamegraph/index.ts';
import { decodePprof, encodePprof } from '../formats/pprof/index.ts';
import { acquireStore, type Store } from '../storage/store.ts';
import type { Selection } from '../storage/query.ts';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { tempDir } from '../test/support/hearth.ts';

import type { BenchResult, Row } from './report.ts';
export type { BenchResult };

/** Real CPU-like profiles of several runtimes, for a realistic number of distinct stacks. */
const SOURCES = [
  'grafana-pyroscope/go.cpu.labels.pprof',
  'grafana-pyroscope/single_group_with_optional_span_id.pb.gz',
  'grafana-pyroscope/profile_java',
  'grafana-pyroscope/profile_ruby',
  'grafana-pyroscope/profile_python',
  'grafana-pyroscope/profile_rust',
  'grafana-pyroscope/profile_nodejs',
];
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const INTERVAL_MS = 10_000;
const ROUNDS = Number(process.env.BENCH_QUERY_ROUNDS ?? 20);
/** go tool pprof is given at most this many files; its time is scaled to the whole set. 0 skips it. */
const PPROF_FILES = Number(process.env.BENCH_QUERY_PPROF_FILES ?? 2000);
/** Which data sets to run: `1h`, `24h` or both (default). */
const ONLY = process.env.BENCH_QUERY_ONLY;
/** A directory that keeps the built data between runs; empty: a temporary one. */
const DATA_DIR = process.env.BENCH_QUERY_DATA ?? '';
/** Written last into a kept data directory: the build finished, and what it holds. */
const MANIFEST = 'bench-query-manifest.json';

interface Scenario {
  name: string;
  tenant: string;
  series: number;
  hours: number;
}

const SCENARIOS: Scenario[] = [
  { name: '1 h × 100 series', tenant: 'bench-1h', series: 100, hours: 1 },
  { name: '24 h × 10 series', tenant: 'bench-24h', series: 10, hours: 24 },
].filter((s) => !ONLY || ONLY === `${s.hours}h`);

/** A small deterministic generator, so runs are comparable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * A CPU profile (one cpu/nanoseconds value per sample) from any source: the source's cpu-like
 * sample type (else its last), values scaled per profile, sample labels dropped (series are
 * the unit here).
 */
function asCpu(base: Profile): Profile {
  const idx = Math.max(0, base.sampleTypes.findIndex((t) => /cpu|wall|samples/.test(t.type)));
  // Values become sample counts (relative to the smallest), so every source has the same scale.
  const unit = Math.min(...base.samples.map((s) => Math.abs(s.values[idx] ?? 0)).filter((v) => v > 0));
  return {
    ...base,
    sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    sampleLabelSets: [{}],
    samples: base.samples.map((s) => ({ stack: s.stack, labelSet: 0, values: [Math.max(1, Math.round(Math.abs(s.values[idx] ?? 0) / unit))] })),
  };
}

function jittered(base: Profile, random: () => number, timeMs: number): Profile {
  const period = base.period;
  return {
    ...base,
    timeNanos: BigInt(timeMs) * 1_000_000n,
    samples: base.samples
      .map((s) => ({ stack: s.stack, labelSet: 0, values: [Math.round(s.values[0] * (0.3 + random() * 1.4)) * period] }))
      .filter((s) => s.values[0] !== 0),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The API's default max_nodes: the store cuts the tree to it (precut), unless `cut` is false. */
const MAX_NODES = 8192;

async function timeQuery(store: Store, sel: Selection, rollups: boolean, cut = true): Promise<{ p50: number; p99: number; total: number; stacks: number }> {
  const times: number[] = [];
  let total = 0;
  let stacks = 0;
  for (let i = 0; i <= ROUNDS; i++) {
    const t0 = performance.now();
    const merged = await store.query.mergeStacks(sel, { rollups, maxNodes: cut ? MAX_NODES : undefined });
    toFlameGraph(merged, MAX_NODES);
    const dt = performance.now() - t0;
    if (i > 0) times.push(dt); // the first round warms caches
    total = merged.total;
    stacks = merged.stacks.length;
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), total, stacks };
}

/** Wall time of `go tool pprof` merging the files (top of the merged profile as output). */
function pprofMergeSeconds(files: string[]): number | undefined {
  const t0 = performance.now();
  const r = spawnSync('go', ['tool', 'pprof', '-top', '-nodecount=10', ...files], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) return undefined;
  return (performance.now() - t0) / 1000;
}

/** What a finished build holds, so that a later run can time queries over it without building. */
interface Manifest {
  /** Unix ms: every data set ends here. */
  end: number;
  built: Record<string, { profiles: number; ingestSeconds: number; gzBytes: number; samples: number; pprofFiles: string[] }>;
}

function readManifest(dir: string): Manifest | undefined {
  const f = join(dir, MANIFEST);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Manifest) : undefined;
}

/** Stores one data set: one jittered profile per series every 10 s up to `end`. */
async function buildScenario(store: Store, sc: Scenario, si: number, end: number, dir: string, hasGo: boolean, bases: Profile[], logger: pino.Logger): Promise<Manifest['built'][string]> {
  const writer = store.createWriter({ flushIntervalMs: 100, maxRows: 20_000, maxConcurrentFlushes: 2 }, logger);
  const random = rng(42 + si);
  const pprofDir = join(dir, `pprof-${si}`);
  mkdirSync(pprofDir, { recursive: true });
  const start = end - sc.hours * 3_600_000;
  const perSeries = (sc.hours * 3_600_000) / INTERVAL_MS;
  const files: string[] = [];
  const fileEvery = Math.max(1, Math.ceil((perSeries * sc.series) / Math.max(1, PPROF_FILES)));
  const ingestStarted = performance.now();
  let pending: Array<Promise<void>> = [];
  let n = 0;
  let gzBytes = 0;
  let samples = 0;
  for (let k = 0; k < perSeries; k++) {
    for (let s = 0; s < sc.series; s++) {
      // Each series pushes at its own offset within the interval.
      const t = start + k * INTERVAL_MS + Math.floor((s * INTERVAL_MS) / sc.series);
      // A series is one program: the same source every time, with its values varying.
      const profile = jittered(bases[s % bases.length], random, t);
      const pprof = gzipSync(encodePprof(profile));
      gzBytes += pprof.length;
      samples += profile.samples.length;
      if (hasGo && n % fileEvery === 0) {
        const f = join(pprofDir, `${n}.pb.gz`);
        writeFileSync(f, pprof);
        files.push(f);
      }
      const batch: Batch = {
        tenant: sc.tenant,
        labels: { __name__: 'process_cpu', service_name: `svc-${Math.floor(s / 4)}`, pod: `pod-${s % 4}`, region: s % 2 ? 'eu' : 'us' },
        profile,
        idempotencyKey: `${sc.tenant}-${n}`,
      };
      pending.push(writer.write(batch));
      n++;
      if (pending.length >= 2000) {
        await Promise.all(pending);
        pending = [];
      }
    }
  }
  await Promise.all(pending);
  await writer.flush();
  return { profiles: n, ingestSeconds: (performance.now() - ingestStarted) / 1000, gzBytes, samples, pprofFiles: files };
}

export async function benchQuery(): Promise<BenchResult> {
  if (!HAS_CORPUS) return { name: 'query', lines: ['skipped: the shared test corpus is not present'] };
  const hasGo = PPROF_FILES > 0 && spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
  const bases = SOURCES.map((f) => asCpu(decodePprof(corpusFile(f))));
  const tmp = DATA_DIR ? undefined : tempDir('hearth-bench-query-');
  const dir = DATA_DIR || tmp!.dir;
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  const rows: Row[] = [];
  const logger = pino({ level: 'silent' });
  const store = await acquireStore({ path: join(dir, 'data'), database: 'bench', retentionDays: 0 }, logger);
  try {
    // Not aligned to the hour: the queries read raw edges, whole minutes and whole hours.
    const manifest: Manifest = readManifest(dir) ?? { end: Date.now() - 1000, built: {} };
    const end = manifest.end;
    let gzBytes = 0;
    let samples = 0;
    let profiles = 0;
    let reused = 0;
    for (const [si, sc] of SCENARIOS.entries()) {
      let built = manifest.built[sc.tenant];
      if (built) {
        reused++;
        lines.push(`${sc.name}: reusing the ${built.profiles} profiles built earlier in ${DATA_DIR}`);
      } else {
        built = await buildScenario(store, sc, si, end, dir, hasGo, bases, logger);
        manifest.built[sc.tenant] = built;
        if (DATA_DIR) writeFileSync(join(dir, MANIFEST), JSON.stringify(manifest));
        lines.push(`${sc.name}: ${built.profiles} profiles stored in ${built.ingestSeconds.toFixed(1)} s (${(built.profiles / built.ingestSeconds).toFixed(0)} profiles/s, encode + gzip included)`);
      }
      const n = built.profiles;
      const files = built.pprofFiles;
      gzBytes += built.gzBytes;
      samples += built.samples;
      profiles += n;

      const start = end - sc.hours * 3_600_000;
      const sel: Selection = { tenant: sc.tenant, profileType: CPU, matchers: [], start, end };
      const plan = await store.query.plan(sel);
      const fast = await timeQuery(store, sel, true);
      const raw = await timeQuery(store, sel, false);
      // Every stack shipped and the tree cut in JS, as before the store learnt to cut it.
      const whole = await timeQuery(store, sel, true, false);
      if (fast.total !== raw.total) lines.push(`  MISMATCH: rollups total ${fast.total} != raw total ${raw.total}`);
      rows.push(
        sc.hours === 1
          ? { figure: `flame graph, ${sc.name}`, measured: `p50 ${fast.p50.toFixed(0)} ms, p99 ${fast.p99.toFixed(0)} ms`, baseline: `raw rows only p50 ${raw.p50.toFixed(0)} ms`, target: 'p50 < 150 ms, p99 < 300 ms', met: fast.p50 < 150 && fast.p99 < 300 }
          : { figure: `flame graph, ${sc.name}`, measured: `p50 ${fast.p50.toFixed(0)} ms`, baseline: `raw rows only p50 ${raw.p50.toFixed(0)} ms`, target: 'p50 < 100 ms', met: fast.p50 < 100 },
      );
      rows.push({ figure: `rollups total = raw total, ${sc.name}`, measured: String(fast.total), baseline: `raw ${raw.total}`, target: 'equal', met: fast.total === raw.total });
      lines.push(`  flame graph (max_nodes ${MAX_NODES}, cut by the store to ${fast.stacks} stacks of ${whole.stacks} unique): p50 ${fast.p50.toFixed(1)} ms, p99 ${fast.p99.toFixed(1)} ms over ${ROUNDS} rounds; reads ${plan.map((p) => p.source).join(' + ')}`);
      lines.push(`  same query on raw rows only: p50 ${raw.p50.toFixed(1)} ms, p99 ${raw.p99.toFixed(1)} ms`);
      lines.push(`  every stack shipped and cut in JS: p50 ${whole.p50.toFixed(1)} ms, p99 ${whole.p99.toFixed(1)} ms`);
      const target = sc.hours === 1 ? 'target p50 < 150 ms' : 'target < 1000 ms';
      lines.push(`  ${target}: ${sc.hours === 1 ? (fast.p50 < 150 ? 'met' : 'NOT met') : fast.p99 < 1000 ? 'met' : 'NOT met'}`);
      if (hasGo && files.length) {
        const secs = pprofMergeSeconds(files);
        if (secs === undefined) lines.push('  go tool pprof failed');
        else {
          const full = secs * (n / files.length);
          const note = files.length < n ? ` (measured on ${files.length} of the ${n} files, scaled linearly)` : '';
          lines.push(`  baseline, go tool pprof merging the same profiles: ${(full * 1000).toFixed(0)} ms${note}`);
          lines.push(`  ratio (go tool pprof / Hearth p50): ${(full / (fast.p50 / 1000)).toFixed(0)}× (target ≥ 20×)`);
        }
      } else {
        lines.push('  baseline skipped: go is not installed or BENCH_QUERY_PPROF_FILES=0');
      }
    }

    // A reused build was measured when it was made; merging its parts now would change what later runs time.
    if (reused) return { name: 'query', lines, rows };
    const db = store.schema.database;
    const onDisk = async (): Promise<Array<[string, number]>> => {
      const rs = await store.connection.client.query({
        query: `SELECT table, toString(sum(bytes_on_disk)) FROM system.parts WHERE active AND database = {db:String} GROUP BY table ORDER BY table`,
        query_params: { db },
        format: 'JSONCompactEachRow',
      });
      return (await rs.json<[string, string]>()).map(([t, b]) => [t, Number(b)]);
    };
    const report = (label: string, parts: Array<[string, number]>) => {
      const all = parts.reduce((a, [, b]) => a + b, 0);
      const rollups = parts.filter(([t]) => /^samples_1[mh]$/.test(t)).reduce((a, [, b]) => a + b, 0);
      lines.push(
        `storage ${label}: ${(all / 1e6).toFixed(2)} MB on disk for ${samples} samples in ${profiles} profiles = ${(all / samples).toFixed(2)} B/sample; ` +
          `${((100 * all) / gzBytes).toFixed(1)}% of the ${(gzBytes / 1e6).toFixed(1)} MB of gzipped pprof (target ≤ 5%); ` +
          `without rollups ${((100 * (all - rollups)) / gzBytes).toFixed(1)}%`,
      );
      lines.push(`  by table: ${parts.map(([t, b]) => `${t} ${(b / 1e6).toFixed(2)} MB`).join(', ')}`);
    };
    report('as written', await onDisk());
    // A kept build stays as written, so every later run times the same parts.
    if (DATA_DIR) return { name: 'query', lines, rows };
    for (const [t] of await onDisk()) await store.connection.client.command({ query: `OPTIMIZE TABLE ${store.schema.table(t)} FINAL` }).catch(() => {});
    report('after merges (OPTIMIZE FINAL)', await onDisk());
    const merged = (await onDisk()).reduce((a, [, b]) => a + b, 0);
    rows.push({ figure: 'bytes on disk / gzipped pprof', measured: `${((100 * merged) / gzBytes).toFixed(1)}% (after merges)`, baseline: `${(gzBytes / 1e6).toFixed(1)} MB gzipped pprof`, target: '≤ 5%', met: merged <= 0.05 * gzBytes });
  } finally {
    await store.release();
    tmp?.remove();
  }
  return { name: 'query', lines, rows };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchQuery();
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
