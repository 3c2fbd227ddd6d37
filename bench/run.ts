/**
 * `npm run bench`: every benchmark prints its figure next to a baseline measured in the same
 * run, since absolute times on shared machines are noisy. Arguments pick benchmarks by name.
 * At the end, one table of every target with its same-run baseline, met or missed.
 * BENCH_SECONDS sets each load phase's length (default 10, so the whole run stays short).
 */
import { benchDecode } from './decode.ts';
import { benchIngest } from './ingest.ts';
import { benchNats } from './nats.ts';
import { benchOtlp } from './otlp.ts';
import { benchQuery } from './query.ts';
import { benchEbpf } from './ebpf.ts';
import { benchUi } from './ui.ts';
import { benchDownsample } from './downsample.ts';
import { formatTable, type BenchResult, type Row } from './report.ts';
import { loadavg } from 'node:os';

const all: Record<string, () => Promise<BenchResult>> = {
  decode: benchDecode,
  ingest: () => benchIngest(Number(process.env.BENCH_SECONDS ?? 10)),
  nats: () => benchNats(Number(process.env.BENCH_SECONDS ?? 10)),
  query: benchQuery,
  otlp: () => benchOtlp(Number(process.env.BENCH_SECONDS ?? 10)),
  ebpf: () => benchEbpf(Number(process.env.BENCH_SECONDS ?? 10)),
  ui: benchUi,
  downsample: benchDownsample,
};

const picked = process.argv.slice(2);
const rows: Row[] = [];
const load = loadavg();
console.log(`load average before the run: ${load.map((x) => x.toFixed(2)).join(', ')}${load[0] >= 1 ? ' (the machine is not quiet)' : ''}`);
for (const [name, run] of Object.entries(all)) {
  if (picked.length && !picked.includes(name)) continue;
  try {
    const r = await run();
    console.log(`\n== ${r.name}\n${r.lines.map((l) => `  ${l}`).join('\n')}`);
    rows.push(...(r.rows ?? []));
  } catch (err) {
    // One broken benchmark must not hide the others' figures.
    console.log(`\n== ${name}\n  FAILED: ${err instanceof Error ? err.stack : String(err)}`);
    rows.push({ figure: `${name} benchmark`, measured: 'failed', baseline: '', target: 'runs', met: false });
  }
}
console.log(`\n== summary (load average before ${load.map((x) => x.toFixed(2)).join(', ')})\n${formatTable(rows)}`);
