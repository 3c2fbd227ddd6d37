/**
 * `npm run bench`: every benchmark prints its figure next to a baseline measured in the same
 * run, since absolute times on shared machines are noisy. Arguments pick benchmarks by name.
 */
import { benchDecode } from './decode.ts';
import { benchIngest } from './ingest.ts';
import { benchNats } from './nats.ts';
import { benchOtlp } from './otlp.ts';
import { benchQuery } from './query.ts';
import { benchEbpf } from './ebpf.ts';
import { benchUi } from './ui.ts';
import { benchDownsample } from './downsample.ts';

const all: Record<string, () => Promise<{ name: string; lines: string[] }>> = {
  decode: benchDecode,
  ingest: () => benchIngest(Number(process.env.BENCH_SECONDS ?? 20)),
  nats: () => benchNats(Number(process.env.BENCH_SECONDS ?? 20)),
  query: benchQuery,
  otlp: () => benchOtlp(Number(process.env.BENCH_SECONDS ?? 20)),
  ebpf: () => benchEbpf(Number(process.env.BENCH_SECONDS ?? 20)),
  ui: benchUi,
  downsample: benchDownsample,
};

const picked = process.argv.slice(2);
for (const [name, run] of Object.entries(all)) {
  if (picked.length && !picked.includes(name)) continue;
  const r = await run();
  console.log(`\n== ${r.name}\n${r.lines.map((l) => `  ${l}`).join('\n')}`);
}
