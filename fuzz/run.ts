/**
 * `npm run fuzz -- --target NAME --count N[,TARGET=M...] [--seed S]`: NAME is a decoder or http-* target, or
 * `all`, `decoders` or `http`, or a comma-separated list. HTTP targets run against Hearth
 * processes started for the run; see README.md for the options that make long runs fast.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ALL_TARGETS, DECODER_TARGETS, formatReport, fuzzDecoder, fuzzHttp, isHttpTarget, newHttpReport, recheckSlow, type HttpReport, type Report } from './engine.ts';
import { fuzzHearth, type FuzzHearth } from './hearth.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    count: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    parallel: { type: 'string', default: '1' },
    hearths: { type: 'string', default: '1' },
    'flush-ms': { type: 'string', default: '50' },
    results: { type: 'string' },
    'server-log': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
/** `N` or `N,TARGET=M,...`: a default and per-target values. */
function perTarget(option: string): (target: string) => number {
  const [fallback, ...given] = option.split(',');
  return (t) => Number(given.find((x) => x.startsWith(`${t}=`))?.split('=')[1] ?? fallback);
}
// A target can get fewer inputs than the others, e.g. ingest targets that only fill the store for the querier.
const countOf = perTarget(values.count!);
// Targets whose inputs are mostly accepted gain from more in flight (they share inserts).
const concurrencyOf = perTarget(values.concurrency!);
const seed = Number(values.seed);
const groups: Record<string, string[]> = { all: ALL_TARGETS, decoders: DECODER_TARGETS, http: ALL_TARGETS.filter(isHttpTarget) };
const targets = groups[values.target!] ?? values.target!.split(',');
const unknown = targets.filter((t) => !ALL_TARGETS.includes(t));
if (unknown.length) {
  console.error(`unknown target(s) ${unknown.join(', ')}; targets: ${ALL_TARGETS.join(', ')}`);
  process.exit(2);
}

const reports: Report[] = [];
const seconds: Record<string, number> = {};
const record = (r: Report, ms: number) => {
  seconds[r.target] = Math.round(ms / 1000);
  if (values.results) appendFileSync(values.results, JSON.stringify({ ...r, slow: undefined, seed, count: countOf(r.target), seconds: seconds[r.target], at: new Date().toISOString() }) + '\n');
};

for (const t of targets.filter((x) => !isHttpTarget(x))) {
  const started = Date.now();
  const r = await fuzzDecoder(t, countOf(t), seed);
  reports.push(r);
  record(r, Date.now() - started);
  console.log(`${formatReport(r)} (${seconds[t]} s)`);
}

const http = targets.filter(isHttpTarget);
if (http.length) {
  const hearthOpts = {
    flushIntervalMs: Number(values['flush-ms']),
    nodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [],
  };
  const hearths: FuzzHearth[] = await Promise.all(Array.from({ length: Math.max(1, Number(values.hearths)) }, () => fuzzHearth(hearthOpts)));
  try {
    // Several targets at once, spread over the Hearth processes; each target keeps its own Hearth for its re-check.
    const queue = [...http];
    const ran: Array<{ r: HttpReport; hearth: FuzzHearth; sentMs: number }> = [];
    let next = 0;
    const live = new Map<string, HttpReport>();
    const progress = setInterval(() => {
      const sent = [...live.values()].map((r) => `${r.target.replace('http-', '')} ${r.inputs}`);
      console.log(`${new Date().toISOString()} sent: ${sent.join(', ')}`);
    }, 60_000);
    const lane = async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        const hearth = hearths[next++ % hearths.length];
        const started = Date.now();
        const report = newHttpReport(t);
        live.set(t, report);
        const r = await fuzzHttp(t, hearth.url, countOf(t), seed, { concurrency: concurrencyOf(t), report });
        live.delete(t);
        const sentMs = Date.now() - started;
        console.log(`${t}: sent ${r.inputs} in ${Math.round(sentMs / 1000)} s, ${r.slow.length + r.slowDropped} slow to re-check`);
        ran.push({ r, hearth, sentMs });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Number(values.parallel)) }, lane));
    clearInterval(progress);
    // Only now is nothing else being sent: a slow input is sent again alone, and only a second slow answer is a hang.
    for (const { r, hearth, sentMs } of ran) {
      const started = Date.now();
      await recheckSlow(r, hearth.url);
      reports.push(r);
      record(r, sentMs + Date.now() - started);
      console.log(`${formatReport(r)} (${seconds[r.target]} s)`);
    }
  } finally {
    for (const [i, h] of hearths.entries()) {
      if (h.exitCode() !== null) console.log(`hearth ${i} exited by itself with ${h.exitCode()}`);
      const failed = reports.some((r) => r.crashes || r.hangs || r.serverErrors);
      if (values['server-log'] && (failed || h.exitCode() !== null)) writeFileSync(`${values['server-log']}.${i}`, h.output());
    }
    await Promise.all(hearths.map((h) => h.stop()));
  }
}
const bad = reports.filter((r) => r.crashes || r.hangs || r.serverErrors);
console.log(`${reports.length} targets, ${reports.reduce((s, r) => s + r.inputs, 0)} inputs, ${bad.length} with failures`);
process.exit(bad.length ? 1 : 0);
