/**
 * Crashes and restarts (DESIGN.md, "Reliability targets"): 10,000 real profiles (folded
 * stacks from the corpus) stream through a collector and NATS JetStream into a store. The
 * store is killed with SIGKILL three times at random moments and restarted on the same data
 * directory, and NATS is killed and restarted once on the same port and store directory. The
 * clients retry 503s as SDKs do. Afterwards every series' total must equal what was sent:
 * nothing lost (acknowledged means durable) and nothing duplicated (redeliveries are skipped
 * by idempotency key).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { tempDir, type HearthProcess } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import {
  CPU,
  Processes,
  collectorConfig,
  foldedCount,
  foldedLines,
  metric,
  pushAll,
  rawTotal,
  renderTotal,
  sleep,
  storeConfig,
  waitDrained,
  waitFor,
  type Push,
} from '../support/distributed.ts';

const tmp = tempDir('hearth-nats-crash-');
const procs = new Processes();
let nats: NatsServer | undefined;
after(async () => {
  await procs.stopAll();
  await nats?.dispose();
  tmp.remove();
});

const PROFILES = 10_000;
const SERVICES = 10;
const PERIOD_NS = 10_000_000;

test('SIGKILL the store 3 times and restart NATS once while 10,000 profiles stream in: nothing lost, nothing duplicated', { skip: CORPUS_SKIP, timeout: 240_000 }, async (t) => {
  nats = await startNats();
  const collector = await procs.hearth(collectorConfig(nats.url), tmp.dir);
  // A short ack wait brings the messages a killed store held back quickly.
  const config = storeConfig(nats.url, join(tmp.dir, 'data'), 'ack_wait_ms: 4000');
  let store: HearthProcess = await procs.hearth(config, tmp.dir);

  const lines = foldedLines([corpusFile('async-profiler/sample1.collapsed').toString(), corpusFile('brendangregg-flamegraph/perf-vertx-stacks-01-collapsed-all.txt').toString()]);
  const base = Math.floor(Date.now() / 1000) - PROFILES - 600;
  const expected = new Map<string, number>();
  const pushes: Push[] = [];
  for (let i = 0; i < PROFILES; i++) {
    const body = [0, 1, 2].map((k) => lines[(i * 3 + k) % lines.length]);
    const service = `crash-${i % SERVICES}`;
    expected.set(service, (expected.get(service) ?? 0) + foldedCount(body) * PERIOD_NS);
    pushes.push({ service, from: base + i, body: `${body.join('\n')}\n` });
  }

  let done = 0;
  const at = (n: number) => waitFor(`${n} pushes`, async () => done >= n, 200_000, 20);
  const jitter = (ms: number) => sleep(Math.floor(Math.random() * ms));
  const events: string[] = [];
  const killStore = async () => {
    await jitter(400);
    events.push(`store SIGKILL at ${done} pushed`);
    await store.stop('SIGKILL');
    procs.forget(store);
    store = await procs.hearth(config, tmp.dir);
  };
  const chaos = (async () => {
    await at(1_500);
    await killStore();
    await at(3_500);
    await jitter(400);
    events.push(`NATS SIGKILL at ${done} pushed`);
    await nats!.kill();
    await sleep(500 + Math.floor(Math.random() * 1_000));
    await nats!.start();
    events.push(`NATS back at ${done} pushed`);
    await at(5_500);
    await killStore();
    await at(8_000);
    await killStore();
  })();

  const load = await pushAll(() => collector.url, pushes, 24, (n) => (done = n));
  await chaos;
  assert.equal(load.ok, PROFILES);
  // The NATS outage was seen by the clients, who retried.
  assert.ok(load.retries > 0, `no push was retried: ${JSON.stringify(load)}; ${events.join('; ')}`);

  await waitDrained(nats.url, 120_000);
  await waitFor('the store to be ready', async () => (await metric(store.url, 'hearth_nats_ready')) === 1);
  // Over the whole range (served from the rollups) and window by window (from the raw rows).
  const got = new Map<string, number>();
  const raw = new Map<string, number>();
  for (const service of expected.keys()) {
    got.set(service, await renderTotal(store.url, `${CPU}{service_name="${service}"}`));
    // Profiles are stamped on whole seconds, so half-second bounds split none of them.
    raw.set(service, await rawTotal(store.url, `${CPU}{service_name="${service}"}`, base * 1000 - 500, (base + PROFILES) * 1000 + 500));
  }
  t.diagnostic(`${events.join('; ')}; client retries ${JSON.stringify(load.statuses)}; redelivered to the last store ${await metric(store.url, 'hearth_nats_redelivered_total')}`);
  assert.deepEqual(got, expected, `per-series totals after: ${events.join('; ')}; retries ${JSON.stringify(load.statuses)}`);
  assert.deepEqual(raw, expected, `per-series totals from the raw rows after: ${events.join('; ')}`);
});
