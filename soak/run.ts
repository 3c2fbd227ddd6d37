/**
 * `npm run soak -- --minutes N [--rate R]`: a real single-node Hearth; measures the ingest rate it sustains
 * for a few seconds, then runs half of it plus a steady query load for N minutes, sampling its RSS
 * and its own event-loop lag p99 (/metrics). At the end, every pushed sample must be stored: the
 * stored total equals the sum of what was acknowledged.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';
import { encodePprof } from '../formats/pprof/index.ts';
import { syntheticProfile, CPU } from '../test/support/synthetic-profiles.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '' } } });
const minutes = Number(values.minutes);
const tmp = tempDir('hearth-soak-');
const hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
const pid = hearth.child.pid!;

const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
async function lagP99(): Promise<number> {
  const text = await (await fetch(`${hearth.url}/metrics`)).text();
  const m = /^hearth_nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : NaN;
}

let seq = 0;
let lastTimeMs = 0;
let acked = 0;
let errors = 0;
const errorKinds = new Map<string, number>();
/** One profile of 8 samples; its value total is added once acknowledged. */
async function pushOne(): Promise<void> {
  const n = seq++;
  // Distinct times keep every push a distinct upload: synthetic profiles of nearby seeds often
  // have the same samples, and the same bytes pushed in the same millisecond are one upload
  // (stored once by design), which would make the acknowledged total count it twice.
  lastTimeMs = Math.max(lastTimeMs + 1, Date.now() - 5_000);
  const p = syntheticProfile(n + 1, lastTimeMs, 8, false);
  const total = p.samples.reduce((s, x) => s + x.values[0], 0);
  const from = Math.floor(Date.now() / 1000) - 5;
  const body = encodePprof(p);
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(`${hearth.url}/ingest?name=soak&format=pprof&from=${from}&until=${from + 1}`, { method: 'POST', body: new Blob([body as Uint8Array<ArrayBuffer>]) });
      await r.arrayBuffer();
      if (r.status === 200) {
        acked += total;
        return;
      }
      if ((r.status === 429 || r.status === 503) && attempt < 20) {
        await new Promise((res) => setTimeout(res, 200));
        continue;
      }
      errorKinds.set(`ingest ${r.status}`, (errorKinds.get(`ingest ${r.status}`) ?? 0) + 1);
    } catch (err) {
      errorKinds.set(`ingest ${(err as Error).message}`, (errorKinds.get(`ingest ${(err as Error).message}`) ?? 0) + 1);
    }
    errors++;
    return;
  }
}

async function queryOne(): Promise<void> {
  const q = encodeURIComponent(`${CPU}{service_name="soak"}`);
  try {
    const r = await fetch(`${hearth.url}/pyroscope/render?query=${q}&from=now-5m&until=now`);
    await r.arrayBuffer();
    if (r.status !== 200) {
      errors++;
      errorKinds.set(`query ${r.status}`, (errorKinds.get(`query ${r.status}`) ?? 0) + 1);
    }
  } catch (err) {
    errors++;
    errorKinds.set(`query ${(err as Error).message}`, 1);
  }
}

/** Runs `fn` at `perSecond` (at most `inFlight` at once) until `untilMs`. */
async function paced(fn: () => Promise<void>, perSecond: number, untilMs: number, inFlight = 16): Promise<number> {
  let done = 0;
  let running = 0;
  const start = Date.now();
  const waiting: Promise<void>[] = [];
  while (Date.now() < untilMs) {
    const due = Math.floor(((Date.now() - start) / 1000) * perSecond);
    if (done + running < due && running < inFlight) {
      running++;
      const p = fn().finally(() => {
        running--;
        done++;
      });
      waiting.push(p);
      if (waiting.length > 1000) waiting.splice(0, 500);
      continue;
    }
    await new Promise((res) => setTimeout(res, 2));
  }
  await Promise.allSettled(waiting);
  return done;
}

// Each upload is answered once it is durable, so one client waits a whole flush per upload: the
// maximum is what many clients at once get through in 20 s.
const CLIENTS = 128;
const probeEnd = Date.now() + 20_000;
let probed = 0;
await Promise.all(
  Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < probeEnd) {
      await pushOne();
      probed++;
    }
  }),
);
const maxRate = probed / 20;
// `--rate N` soaks at N profiles/s instead, e.g. above what the machine sustains, to test overload.
const rate = values.rate ? Number(values.rate) : Math.max(1, maxRate / 2);
console.log(`maximum ingest ${maxRate.toFixed(0)} profiles/s (${CLIENTS} clients); soaking at ${rate.toFixed(0)}/s plus 2 queries/s for ${minutes} min`);

const samples: { min: number; rss: number; lag: number }[] = [];
const started = Date.now();
const end = started + minutes * 60_000;
const sampler = setInterval(async () => {
  const s = { min: (Date.now() - started) / 60_000, rss: rssMb(), lag: await lagP99() };
  samples.push(s);
  console.log(`t=${s.min.toFixed(1)} min rss=${s.rss.toFixed(0)} MB lag_p99=${s.lag.toFixed(1)} ms pushed_profiles=${seq} errors=${errors}`);
}, 30_000);
await Promise.all([paced(pushOne, rate, end, CLIENTS), paced(queryOne, 2, end, 2)]);
clearInterval(sampler);

// Stored totals: every acknowledged value, nothing more.
const q = encodeURIComponent(`${CPU}{service_name="soak"}`);
const r = await fetch(`${hearth.url}/pyroscope/render?query=${q}&from=now-1d&until=now%2B1d&maxNodes=16`);
const stored = ((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks;
const rss = samples.map((s) => s.rss);
const lags = samples.map((s) => s.lag).filter((x) => Number.isFinite(x));
console.log(
  JSON.stringify({
    minutes,
    maxIngestPerSecond: Math.round(maxRate),
    soakIngestPerSecond: Math.round(rate),
    rssStartMb: Math.round(rss[0] ?? rssMb()),
    rssEndMb: Math.round(rssMb()),
    rssMaxMb: Math.round(Math.max(...rss)),
    lagP99MaxMs: Math.max(...lags),
    lagP99LastMs: lags.at(-1),
    errors,
    errorKinds: Object.fromEntries(errorKinds),
    ackedTotal: acked,
    storedTotal: stored,
    exact: acked === stored,
  }),
);
await hearth.stop('SIGTERM');
tmp.remove();
process.exit(acked === stored && errors === 0 ? 0 : 1);
