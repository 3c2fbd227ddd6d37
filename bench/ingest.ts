/**
 * End-to-end ingest: a load generator pushes real Go CPU profiles over HTTP (/ingest) to a
 * Hearth process with the single-node pipeline; the rate counts only 2xx answers, each of
 * which means the data was committed. Baselines measured in the same run: the rate at which
 * the same rows go into ClickHouse directly (one insert per 200 ms worth of profiles), and the
 * rate at which `pprof-format` alone gunzips and decodes the same files in one thread.
 *
 * Under the same load: freshness (a probe pushes to its own service and polls
 * /pyroscope/render until its profile shows) and the process's peak resident memory. After
 * the run, the stored totals are checked against what the clients were acknowledged.
 * BENCH_CPU_PROF=DIR writes Hearth's own CPU profile of the run there and prints its top
 * functions by self time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { Profile as PprofFormatProfile } from 'pprof-format';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';
import { decodePprof } from '../formats/pprof/index.ts';
import { batchToRows, newRowCaches, SAMPLE_COLUMNS } from '../storage/rows.ts';
import { insertRowBinary } from '../storage/bulk-insert.ts';
import { acquireStore } from '../storage/store.ts';
import type { Batch } from '../core/model.ts';
import { isGzip } from '../formats/gzip.ts';
import { mb, percentile, rssPeak, rssSplit, type BenchResult, type Row } from './report.ts';
import { topFunctions } from './cpu-top.ts';
import { loadGenerator, SERVICES } from './load-generator.ts';

const PROFILES = ['grafana-pyroscope/go.cpu.labels.pprof', 'grafana-pyroscope/single_group_with_optional_span_id.pb.gz'];
/** Many clients each waiting for a commit, as a fleet of SDKs pushing every few seconds is. */
const CONCURRENCY = 256;

export type { BenchResult };

const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
/** Freshness probes running beside the load. */
const PROBES = 4;
const tsx = ['--import', import.meta.resolve('tsx')];

/** Profiles per second that `pprof-format` alone gunzips and decodes in this thread. */
function pprofFormatRate(bodies: Buffer[], seconds: number): number {
  const decode = (b: Buffer) => PprofFormatProfile.decode(isGzip(b) ? gunzipSync(b) : b);
  for (let i = 0; i < 20; i++) decode(bodies[i % bodies.length]);
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) decode(bodies[n++ % bodies.length]);
  return n / ((performance.now() - started) / 1000);
}

/** The CPU total of a pprof file, read by `pprof-format` (independently of Hearth's decoder). */
function cpuTotal(body: Buffer): bigint {
  const p = PprofFormatProfile.decode(isGzip(body) ? gunzipSync(body) : body);
  const strings = p.stringTable.strings;
  const idx = p.sampleType.findIndex((t) => strings[Number(t.type)] === 'cpu' && strings[Number(t.unit)] === 'nanoseconds');
  let sum = 0n;
  for (const s of p.sample) sum += BigInt(s.value[idx]);
  return sum;
}

/**
 * Freshness: push a profile to a service of its own, then poll /pyroscope/render until it
 * shows; milliseconds from the 2xx to the first answer that includes it.
 */
async function freshnessProbe(url: string, body: Buffer, n: number): Promise<number | undefined> {
  const service = `fresh-${n}-${Math.random().toString(36).slice(2, 8)}`;
  const from = Math.floor(Date.now() / 1000) - 10;
  const headers = { 'X-Scope-OrgID': 'freshness' };
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(`${url}/ingest?name=${service}&format=pprof&from=${from}&until=${from + 10}`, { method: 'POST', headers, body: new Blob([body as Uint8Array<ArrayBuffer>]) });
    await r.arrayBuffer();
    if (r.ok) break;
    if (attempt > 50) return undefined;
    await new Promise((res) => setTimeout(res, 50)); // 429/503 under load: retry as a client would
  }
  const acked = performance.now();
  // The file's own time wins over the upload's `from`, so the query looks around it.
  const at = Number(PprofFormatProfile.decode(isGzip(body) ? gunzipSync(body) : body).timeNanos) / 1e9;
  const q = new URLSearchParams({ query: `${CPU}{service_name="${service}"}`, from: String(Math.floor(at - 3600)), until: String(Math.ceil(at + 3600)) });
  while (performance.now() - acked < 10_000) {
    const r = await fetch(`${url}/pyroscope/render?${q}`, { headers });
    if (r.ok) {
      const j = (await r.json()) as { flamebearer?: { numTicks?: number } };
      if ((j.flamebearer?.numTicks ?? 0) > 0) return performance.now() - acked;
    } else await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 10));
  }
  return undefined;
}

/** Probes one after another until `stop` resolves; their latencies in ms. */
async function probeUntil(url: string, body: Buffer, stop: Promise<unknown>): Promise<number[]> {
  let done = false;
  void stop.then(() => (done = true));
  const times: number[] = [];
  for (let n = 0; !done; n++) {
    const t = await freshnessProbe(url, body, n);
    if (t !== undefined) times.push(t);
    await new Promise((res) => setTimeout(res, 100));
  }
  return times;
}

const root = join(import.meta.dirname, '..');

/**
 * The command of `npm start` (`[VAR=value …] node [flag …] FILE.js start`), read from
 * package.json and split for startHearth, after running its prestart build.
 */
function npmStart(): { env: Record<string, string>; nodeArgs: string[]; entry: string[]; command: string } {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  if (scripts.prestart) {
    const built = spawnSync(scripts.prestart, { cwd: root, shell: true, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`npm prestart failed: ${built.stderr}`);
  }
  const words = scripts.start.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
    const [name, ...value] = words.shift()!.split('=');
    env[name] = value.join('=');
  }
  const file = words.findIndex((w) => w.endsWith('.js'));
  if (words[0] !== 'node' || file < 0 || words.slice(file + 1).join(' ') !== 'start') {
    throw new Error(`the start script is not of the form the benchmark reproduces: ${scripts.start}`);
  }
  return { env, nodeArgs: words.slice(1, file), entry: [join(root, words[file])], command: scripts.start };
}

function runJson<T>(script: string, args: string[]): T {
  const r = spawnSync(process.execPath, [...tsx, join(import.meta.dirname, script), ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** The same rows straight into ClickHouse, as many profiles per insert as arrive in 200 ms. */
async function directInsertRate(bodies: Buffer[], profiles: number, perInsert: number, dataDir: string): Promise<number> {
  const store = await acquireStore({ path: dataDir, database: 'direct', retentionDays: 0 }, pino({ level: 'silent' }));
  const decoded = bodies.map((b) => decodePprof(b));
  const caches = newRowCaches();
  const now = BigInt(Date.now()) * 1_000_000n;
  const chunks: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  for (let n = 0; n < profiles; n++) {
    const profile = { ...decoded[n % decoded.length], timeNanos: now - BigInt(n) * 1_000_000_000n };
    const batch: Batch = { tenant: 'bench', labels: { __name__: 'process_cpu', service_name: `bench-svc-${n % SERVICES}` }, profile, idempotencyKey: `direct-${n}` };
    current.push(batchToRows(batch, caches).samples);
    if (current.length === perInsert) {
      chunks.push(current);
      current = [];
    }
  }
  if (current.length) chunks.push(current);
  const started = performance.now();
  for (const c of chunks) await insertRowBinary(store.connection, store.schema.table('samples'), SAMPLE_COLUMNS, Buffer.concat(c));
  const elapsed = (performance.now() - started) / 1000;
  await store.release();
  return profiles / elapsed;
}

export async function benchIngest(seconds = 20): Promise<BenchResult> {
  if (!HAS_CORPUS) return { name: 'ingest', lines: ['skipped: the shared test corpus is not present'] };
  const bodies = PROFILES.map((f) => corpusFile(f));
  const tmp = tempDir('hearth-bench-');
  const lines: string[] = [];
  const rows: Row[] = [];
  const profDir = process.env.BENCH_CPU_PROF;
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  if (profDir) mkdirSync(profDir, { recursive: true });
  const profilesBefore = profDir ? new Set(readdirSync(profDir)) : new Set<string>();
  const dataDir = join(tmp.dir, 'data');
  try {
    // The memory figures are those of what `npm start` runs, so Hearth is started its way.
    const start = npmStart();
    const hearth = await startHearth(singleNodeConfig(dataDir), tmp.dir, start.env, [...start.nodeArgs, ...nodeArgs], start.entry);
    const url = hearth.url;
    let r: Awaited<ReturnType<typeof loadGenerator>>;
    let warm: typeof r;
    try {
      await new Promise((res) => setTimeout(res, 1000)); // settle after start
      const emptyRss = rssSplit(hearth.child.pid!) ?? { rss: 0, anon: 0, file: 0 };
      const idle: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = await freshnessProbe(url, bodies[0], -1 - i);
        if (t !== undefined) idle.push(t);
      }
      warm = await loadGenerator(url, bodies, 2, 16); // warm-up
      const peak = rssPeak(hearth.child.pid!);
      const load = loadGenerator(url, bodies, seconds, CONCURRENCY);
      // A few probes at once: each waits behind the load's queue, and one alone gives too few figures.
      const fresh = (await Promise.all(Array.from({ length: PROBES }, () => probeUntil(url, bodies[0], load)))).flat();
      r = await load;
      const peakSplit = peak.stop();
      const peakRss = peakSplit.rss;
      const rate = r.ok / r.elapsed;
      lines.push(`HTTP push → committed: ${rate.toFixed(0)} profiles/s (${r.ok} ok, ${r.failed} failed in ${r.elapsed.toFixed(1)} s, ${CONCURRENCY} concurrent clients, ${SERVICES} services)`);
      const direct = await directInsertRate(bodies, Math.max(2000, r.ok), Math.max(1, Math.round(rate / 5)), join(tmp.dir, 'direct'));
      lines.push(`baseline, same rows inserted into ClickHouse directly: ${direct.toFixed(0)} profiles/s`);
      lines.push(`ratio (Hearth / direct): ${(rate / direct).toFixed(2)}× (target ≥ 0.8×; target rate ≥ 2000 profiles/s)`);
      rows.push({
        figure: 'ingest, Go CPU over HTTP, committed',
        measured: `${rate.toFixed(0)} profiles/s (${(rate / direct).toFixed(2)}× raw)`,
        baseline: `raw insert of the same rows ${direct.toFixed(0)}/s`,
        target: '≥ 2000/s and ≥ 0.8× raw',
        met: rate >= 2000 && rate >= 0.8 * direct,
      });
      const pf = pprofFormatRate(bodies, 3);
      lines.push(`baseline, pprof-format alone gunzip + decode of the same files, one thread: ${pf.toFixed(0)} profiles/s; ingest / that: ${(rate / pf).toFixed(2)}×`);
      rows.push({ figure: 'ingest ÷ pprof-format gunzip+decode', measured: `${(rate / pf).toFixed(2)}×`, baseline: `pprof-format ${pf.toFixed(0)} profiles/s`, target: '≥ 2×', met: rate >= 2 * pf });
      const p50 = percentile(fresh, 50);
      const p99 = percentile(fresh, 99);
      lines.push(`freshness under load (2xx → visible in /pyroscope/render, ${fresh.length} probes): p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; idle p50 ${percentile(idle, 50).toFixed(0)} ms`);
      rows.push({
        figure: 'freshness under load, 2xx → render',
        measured: `p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms (${fresh.length} probes)`,
        baseline: `idle p50 ${percentile(idle, 50).toFixed(0)} ms, p99 ${percentile(idle, 99).toFixed(0)} ms`,
        target: 'p50 < 250 ms, p99 < 1 s',
        met: fresh.length > 0 && p50 < 250 && p99 < 1000,
      });
      type Split = { rss: number; anon: number; file: number };
      const chdb = runJson<{ before: Split; loaded: Split; opened: Split }>('chdb-rss.ts', [join(tmp.dir, 'chdb-rss')]);
      const chdbTakes = chdb.opened.rss - chdb.before.rss;
      const chdbFile = chdb.opened.file - chdb.before.file;
      lines.push(`resident memory of \`${start.command}\`: ${mb(emptyRss.rss)} after start with an empty store (${mb(emptyRss.file)} of it mapped from files); peak ${mb(peakRss)} at maximum ingest (${mb(peakSplit.file)} from files, ${mb(peakSplit.anon)} the process's own)`);
      lines.push(`chDB itself: ${mb(chdbTakes)} in a bare process (${mb(chdb.before.rss)} → ${mb(chdb.opened.rss)}): loading its library ${mb(chdb.loaded.rss - chdb.before.rss)}, opening an empty store ${mb(chdb.opened.rss - chdb.loaded.rss)}; ${mb(chdbFile)} of the ${mb(chdbTakes)} is the library's code mapped from disk (shared, reclaimable)`);
      rows.push({ figure: 'resident memory, empty store after start', measured: mb(emptyRss.rss), baseline: `chDB itself ${mb(chdbTakes)}`, target: '(reported)' });
      rows.push({ figure: 'resident memory at maximum ingest', measured: `peak ${mb(peakRss)}`, baseline: `empty ${mb(emptyRss.rss)}, chDB ${mb(chdbTakes)}`, target: '< 300 MB', met: peakRss < 300 * 1048576 });
    } finally {
      await hearth.stop();
    }
    // Every acknowledged push must be stored exactly once: the CPU totals must be equal.
    const expected = bodies.reduce((a, b, i) => a + cpuTotal(b) * BigInt(r.okByBody[i] + warm.okByBody[i]), 0n);
    // The freshness probes are stored too, under their own tenant; count the load's tenants.
    const stored = runJson<Record<string, { rows: number; total: string }>>('store-totals.ts', [dataDir, 'hearth', 'bench%']);
    const got = BigInt(stored[CPU]?.total ?? '0');
    const ok = got === expected;
    lines.push(`stored CPU total of the load (warm-up included) ${got} vs acknowledged ${expected}: ${ok ? 'equal' : 'DIFFERENT'}`);
    rows.push({ figure: 'stored totals = acknowledged (ingest)', measured: `${got}`, baseline: `acknowledged ${expected}`, target: 'equal', met: ok });
    if (profDir) {
      const fresh = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile') && !profilesBefore.has(f));
      // One file per thread: the main thread's, and the module loader's worker (startup only).
      for (const f of fresh) lines.push(`Hearth CPU profile ${f}, top functions by self time:`, ...topFunctions(join(profDir, f), 20).map((l) => `  ${l}`));
    }
  } finally {
    tmp.remove();
  }
  return { name: 'ingest', lines, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchIngest(Number(process.argv[2] ?? 20));
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
