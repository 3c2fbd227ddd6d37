/**
 * End-to-end ingest: a load generator pushes real Go CPU profiles over HTTP (/ingest) to a
 * Hearth process with the single-node pipeline; the rate counts only 2xx answers, each of
 * which means the data was committed. The baseline is the rate at which the same rows go
 * into ClickHouse directly (one insert per 200 ms worth of profiles) in the same run.
 */
import { join } from 'node:path';
import pino from 'pino';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';
import { decodePprof } from '../formats/pprof/index.ts';
import { batchToRows, newRowCaches, SAMPLE_COLUMNS } from '../storage/rows.ts';
import { insertRowBinary } from '../storage/bulk-insert.ts';
import { acquireStore } from '../storage/store.ts';
import type { Batch } from '../core/model.ts';

const PROFILES = ['grafana-pyroscope/go.cpu.labels.pprof', 'grafana-pyroscope/single_group_with_optional_span_id.pb.gz'];
const SERVICES = 100;
/** Many clients each waiting for a commit, as a fleet of SDKs pushing every few seconds is. */
const CONCURRENCY = 256;

export interface BenchResult {
  name: string;
  lines: string[];
}

export async function loadGenerator(url: string, bodies: Buffer[], seconds: number, concurrency: number): Promise<{ ok: number; failed: number; elapsed: number }> {
  let ok = 0;
  let failed = 0;
  let seq = 0;
  const base = Math.floor(Date.now() / 1000) - 3600;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  async function worker(): Promise<void> {
    while (performance.now() < deadline) {
      const n = seq++;
      // A distinct time per push keeps every profile distinct for idempotency.
      const from = base + (n % 3600);
      const name = `bench-svc-${n % SERVICES}{instance=i${n % 7}}`;
      const r = await fetch(`${url}/ingest?name=${encodeURIComponent(name)}&format=pprof&from=${from}&until=${from + 10}&seq=${n}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'X-Scope-OrgID': `bench${Math.floor(n / 3600)}` },
        body: new Blob([bodies[n % bodies.length] as Uint8Array<ArrayBuffer>]),
      });
      await r.arrayBuffer();
      if (r.ok) ok++;
      else failed++;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, failed, elapsed: (performance.now() - started) / 1000 };
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
  try {
    const hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
    const url = hearth.url;
    try {
      await loadGenerator(url, bodies, 2, 16); // warm-up
      const r = await loadGenerator(url, bodies, seconds, CONCURRENCY);
      const rate = r.ok / r.elapsed;
      lines.push(`HTTP push → committed: ${rate.toFixed(0)} profiles/s (${r.ok} ok, ${r.failed} failed in ${r.elapsed.toFixed(1)} s, ${CONCURRENCY} concurrent clients, ${SERVICES} services)`);
      const direct = await directInsertRate(bodies, Math.max(2000, r.ok), Math.max(1, Math.round(rate / 5)), join(tmp.dir, 'direct'));
      lines.push(`baseline, same rows inserted into ClickHouse directly: ${direct.toFixed(0)} profiles/s`);
      lines.push(`ratio (direct / Hearth): ${(direct / rate).toFixed(2)}× (target ≤ 2×; target rate ≥ 2000 profiles/s)`);
    } finally {
      await hearth.stop();
    }
  } finally {
    tmp.remove();
  }
  return { name: 'ingest', lines };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchIngest(Number(process.argv[2] ?? 20));
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
