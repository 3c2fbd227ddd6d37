/**
 * `npm run fuzz -- --target NAME --count N [--seed S]`: NAME is a decoder or http-* target, or
 * `all`, `decoders` or `http`. HTTP targets run against a Hearth started for the run.
 */
import { parseArgs } from 'node:util';
import { ALL_TARGETS, DECODER_TARGETS, formatReport, fuzzDecoder, fuzzHttp, isHttpTarget, type Report } from './engine.ts';
import { fuzzHearth } from './hearth.ts';

const { values } = parseArgs({ options: { target: { type: 'string', default: 'all' }, count: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' } } });
const count = Number(values.count);
const seed = Number(values.seed);
const groups: Record<string, string[]> = { all: ALL_TARGETS, decoders: DECODER_TARGETS, http: ALL_TARGETS.filter(isHttpTarget) };
const targets = groups[values.target!] ?? values.target!.split(',');
const unknown = targets.filter((t) => !ALL_TARGETS.includes(t));
if (unknown.length) {
  console.error(`unknown target(s) ${unknown.join(', ')}; targets: ${ALL_TARGETS.join(', ')}`);
  process.exit(2);
}

const reports: Report[] = [];
const http = targets.filter(isHttpTarget);
for (const t of targets.filter((x) => !isHttpTarget(x))) {
  const started = Date.now();
  const r = await fuzzDecoder(t, count, seed);
  reports.push(r);
  console.log(`${formatReport(r)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
if (http.length) {
  const hearth = await fuzzHearth();
  try {
    for (const t of http) {
      const started = Date.now();
      const r = await fuzzHttp(t, hearth.url, count, seed);
      reports.push(r);
      console.log(`${formatReport(r)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    await hearth.stop();
  }
}
const bad = reports.filter((r) => r.crashes || r.hangs || r.serverErrors);
console.log(`${reports.length} targets, ${reports.reduce((s, r) => s + r.inputs, 0)} inputs, ${bad.length} with failures`);
process.exit(bad.length ? 1 : 0);
