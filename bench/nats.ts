/**
 * Ingest through NATS: the ingest benchmark's load generator pushes real Go CPU profiles to a
 * collector (pyroscope receiver → nats exporter); a store process (nats receiver → clickhouse
 * exporter) drains the stream. Reported: the rate clients got their 2xx (JetStream acked), the
 * end-to-end rate until the last profile was stored, each side alone (the collector filling the
 * stream with no ingester, then one ingester draining that backlog), and, as the baseline
 * measured in the same run, the direct single-node path (HTTP push → ClickHouse) under the same
 * load. BENCH_CPU_PROF=DIR writes the collector's CPU profile there and prints its top functions
 * by self time.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../test/support/hearth.ts';
import { startNats, type NatsServer } from '../test/support/nats.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAM, collectorConfig, natsClient, storeConfig, waitDrained } from '../test/support/distributed.ts';
import { loadGenerator } from './load-generator.ts';
import type { BenchResult, Row } from './report.ts';
import { topFunctions } from './cpu-top.ts';

const PROFILES = ['grafana-pyroscope/go.cpu.labels.pprof', 'grafana-pyroscope/single_group_with_optional_span_id.pb.gz'];
const CONCURRENCY = 256;

export async function benchNats(seconds = 20): Promise<BenchResult> {
  if (!HAS_CORPUS) return { name: 'nats', lines: ['skipped: the shared test corpus is not present'] };
  const bodies = PROFILES.map((f) => corpusFile(f));
  const tmp = tempDir('hearth-bench-nats-');
  const lines: string[] = [];
  const rows: Row[] = [];
  const running: HearthProcess[] = [];
  let nats: NatsServer | undefined;
  const profDir = process.env.BENCH_CPU_PROF;
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  if (profDir) mkdirSync(profDir, { recursive: true });
  const profilesBefore = profDir ? new Set(readdirSync(profDir)) : new Set<string>();
  try {
    nats = await startNats();
    const collector = await startHearth(collectorConfig(nats.url), tmp.dir, {}, nodeArgs);
    running.push(collector);
    const storeCfg = storeConfig(nats.url, join(tmp.dir, 'store'));
    let store = await startHearth(storeCfg, tmp.dir);
    running.push(store);
    await loadGenerator(collector.url, bodies, 2, 16); // warm-up
    await waitDrained(nats.url, 120_000);

    // Everything at once: clients, collector, NATS and the ingester share the machine.
    const started = performance.now();
    const r = await loadGenerator(collector.url, bodies, seconds, CONCURRENCY);
    const acked = r.ok / r.elapsed;
    await waitDrained(nats.url, 600_000);
    const endToEnd = r.ok / ((performance.now() - started) / 1000);
    lines.push(`HTTP push → JetStream acked (client 2xx): ${acked.toFixed(0)} profiles/s (${r.ok} ok, ${r.failed} failed in ${r.elapsed.toFixed(1)} s, ${CONCURRENCY} concurrent clients)`);
    lines.push(`HTTP push → NATS → stored by one ingester, until the stream drained: ${endToEnd.toFixed(0)} profiles/s`);

    // Each side alone: the collector fills the stream while no ingester runs, then one ingester drains it.
    await store.stop();
    running.splice(running.indexOf(store), 1);
    const fill = await loadGenerator(collector.url, bodies, seconds, CONCURRENCY);
    const collectorAlone = fill.ok / fill.elapsed;
    lines.push(`collector alone (HTTP push → JetStream acked, no ingester running): ${collectorAlone.toFixed(0)} profiles/s`);
    // The stream was drained before the fill, so it now holds exactly the profiles acknowledged
    // since, in however many messages the exporter grouped them into.
    const backlog = fill.ok;
    const messages = await streamMessages(nats.url);
    store = await startHearth(storeCfg, tmp.dir);
    running.push(store);
    const drainStart = performance.now();
    await waitDrained(nats.url, 600_000);
    lines.push(`one ingester alone (draining a backlog of ${backlog} profiles in ${messages} messages, NATS → committed): ${(backlog / ((performance.now() - drainStart) / 1000)).toFixed(0)} profiles/s`);
    for (const p of running.splice(0)) await p.stop();
    if (profDir) {
      const fresh = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile') && !profilesBefore.has(f));
      for (const f of fresh) lines.push(`collector CPU profile ${f}, top functions by self time:`, ...topFunctions(join(profDir, f), 20).map((l) => `  ${l}`));
    }

    const single = await startHearth(singleNodeConfig(join(tmp.dir, 'single')), tmp.dir);
    running.push(single);
    await loadGenerator(single.url, bodies, 2, 16); // warm-up
    const d = await loadGenerator(single.url, bodies, seconds, CONCURRENCY);
    const direct = d.ok / d.elapsed;
    lines.push(`baseline, single node (HTTP push → committed, same run): ${direct.toFixed(0)} profiles/s (${d.ok} ok, ${d.failed} failed)`);
    lines.push(`ratio through NATS / single node: acked ${(acked / direct).toFixed(2)}×, stored ${(endToEnd / direct).toFixed(2)}×`);
    rows.push({ figure: 'NATS, collector alone (acked)', measured: `${collectorAlone.toFixed(0)} profiles/s`, baseline: `single node ${direct.toFixed(0)}/s`, target: '≥ 3000/s', met: collectorAlone >= 3000 });
    rows.push({
      figure: 'NATS, whole path (acked / stored)',
      measured: `${acked.toFixed(0)} / ${endToEnd.toFixed(0)} profiles/s (${(acked / direct).toFixed(2)}× / ${(endToEnd / direct).toFixed(2)}×)`,
      baseline: `single node ${direct.toFixed(0)}/s`,
      target: '≥ 0.8× single node',
      met: endToEnd >= 0.8 * direct,
    });
  } finally {
    for (const p of running) await p.stop().catch(() => {});
    await nats?.dispose();
    tmp.remove();
  }
  return { name: 'nats', lines, rows };
}

/** Messages waiting in the profile stream (a workqueue: only the unacknowledged ones). */
async function streamMessages(url: string): Promise<number> {
  const nc = await natsClient(url);
  try {
    return (await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages;
  } finally {
    await nc.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchNats(Number(process.argv[2] ?? 20));
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
