/**
 * Storage cost of `downsample`: the same stream of real Go CPU profiles (100 series, one
 * profile per series every 10 s, 30 minutes of profile time stamped explicitly) pushed to a
 * single-node Hearth with and without `downsample` at `1m`, in the same run. The figure is the
 * bytes of Hearth's tables on disk (active parts once merged), per gzipped pprof byte ingested.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { corpusFile, HAS_CORPUS } from '../test/support/corpus.ts';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';
import { encodePprof } from '../formats/pprof/encode.ts';
import { syntheticProfile } from '../test/support/synthetic-profiles.ts';
import type { BenchResult } from './ingest.ts';

const SERIES = Number(process.env.BENCH_SERIES ?? 100);
const MINUTES = Number(process.env.BENCH_MINUTES ?? 30);
const CONCURRENCY = 128;

function raw(b: Buffer): Buffer {
  return b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b;
}

function varint(n: bigint): number[] {
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}

/**
 * The profile stamped at `seconds`, gzipped as an SDK sends it: Profile.time_nanos (field 9) is
 * appended, and protobuf readers keep the last value of a field. Without this every push of a
 * corpus file would carry the file's own time, and be the same profile.
 */
function stamped(rawPprof: Buffer, seconds: number): Buffer {
  return gzipSync(Buffer.concat([rawPprof, Buffer.from([0x48, ...varint(BigInt(seconds) * 1_000_000_000n)])]));
}

const tsxLoader = import.meta.resolve('tsx');
const storeBytesScript = fileURLToPath(new URL('./store-bytes.ts', import.meta.url));

/** Bytes on disk per table of a stopped store, read by a process of its own. */
function tableBytes(dir: string): Record<string, number> {
  return JSON.parse(execFileSync(process.execPath, ['--import', tsxLoader, storeBytesScript, dir], { encoding: 'utf8' }).trim().split('\n').at(-1)!);
}

const DOWNSAMPLE = `
processors:
  downsample:
    window: 1m
    max_delay: 2s
`;

function config(dataDir: string, downsample: boolean): string {
  const text = singleNodeConfig(dataDir, downsample ? DOWNSAMPLE : '');
  return downsample ? text.replace('      receivers: [pyroscope]\n', '      receivers: [pyroscope]\n      processors: [downsample]\n') : text;
}

/** Pushes the stream; returns the gzipped bytes sent, counting only 2xx answers. */
async function push(url: string, bodies: Buffer[], start: number): Promise<{ bytes: number; ok: number; failed: number }> {
  const jobs: Array<{ series: number; t: number }> = [];
  for (let t = start; t < start + MINUTES * 60; t += 10) for (let s = 0; s < SERIES; s++) jobs.push({ series: s, t });
  let next = 0;
  let bytes = 0;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const { series, t } = jobs[next++];
        const body = stamped(bodies[(series + t / 10) % bodies.length], t);
        for (let attempt = 0; ; attempt++) {
          const r = await fetch(`${url}/ingest?name=${encodeURIComponent(`svc-${series % 10}{pod=p${series}}`)}&format=pprof&from=${t}&until=${t + 10}`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/octet-stream' },
            body: new Blob([body as Uint8Array<ArrayBuffer>]),
          });
          await r.arrayBuffer();
          if (r.ok) {
            ok++;
            bytes += body.length;
            break;
          }
          if ((r.status !== 429 && r.status !== 503) || attempt > 20) {
            failed++;
            break;
          }
          await new Promise((res) => setTimeout(res, 500));
        }
      }
    }),
  );
  return { bytes, ok, failed };
}

async function run(dir: string, downsample: boolean, bodies: Buffer[], start: number): Promise<{ disk: number; tables: Record<string, number>; bytes: number; ok: number; failed: number }> {
  const data = join(dir, downsample ? 'with' : 'without');
  const hearth = await startHearth(config(data, downsample), dir);
  let pushed;
  try {
    pushed = await push(hearth.url, bodies, start);
  } finally {
    await hearth.stop('SIGTERM');
  }
  const tables = tableBytes(data);
  return { disk: Object.values(tables).reduce((a, b) => a + b, 0), tables, ...pushed };
}

export async function benchDownsample(): Promise<BenchResult> {
  const source = HAS_CORPUS ? 'real Go CPU profiles from the corpus' : 'synthetic profiles (the shared corpus is absent)';
  const bodies = HAS_CORPUS
    ? ['grafana-pyroscope/go.cpu.labels.pprof', 'grafana-pyroscope/single_group_with_optional_span_id.pb.gz'].map((f) => raw(corpusFile(f)))
    : [1, 2, 3].map((i) => Buffer.from(encodePprof(syntheticProfile(i, 0, 500, false))));
  const tmp = tempDir('hearth-bench-downsample-');
  const lines: string[] = [];
  try {
    const start = (Math.floor(Date.now() / 60_000) - 24 * 60) * 60;
    const plain = await run(tmp.dir, false, bodies, start);
    const merged = await run(tmp.dir, true, bodies, start);
    const perByte = (r: { disk: number; bytes: number }) => r.disk / r.bytes;
    const top = (t: Record<string, number>) =>
      Object.entries(t)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, v]) => `${k} ${(v / 1048576).toFixed(2)}`)
        .join(', ');
    lines.push(`stream: ${SERIES} series × one profile per 10 s × ${MINUTES} min = ${plain.ok} profiles, ${(plain.bytes / 1048576).toFixed(1)} MiB gzipped pprof (${source})`);
    lines.push(`without downsample: ${(plain.disk / 1048576).toFixed(2)} MiB of tables on disk, ${(100 * perByte(plain)).toFixed(2)}% of the gzipped bytes (${plain.failed} failed; MiB: ${top(plain.tables)})`);
    lines.push(`with downsample 1m: ${(merged.disk / 1048576).toFixed(2)} MiB of tables on disk, ${(100 * perByte(merged)).toFixed(2)}% of the gzipped bytes (${merged.failed} failed; MiB: ${top(merged.tables)})`);
    lines.push(`ratio (without / with): ${(perByte(plain) / perByte(merged)).toFixed(2)}×`);
  } finally {
    tmp.remove();
  }
  return { name: 'downsample storage', lines };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchDownsample();
  console.log(`== ${r.name}\n${r.lines.join('\n')}`);
}
