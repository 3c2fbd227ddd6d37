/**
 * Shared work: two store processes, each with its own embedded store, on one durable
 * consumer. Each message is processed by exactly one of them: both get a share, and the two
 * stores together hold exactly what was pushed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import {
  CPU,
  Processes,
  collectorConfig,
  foldedCount,
  foldedLines,
  metric,
  pushAll,
  renderTotal,
  storeConfig,
  waitDrained,
  waitFor,
  type Push,
} from '../support/distributed.ts';

const tmp = tempDir('hearth-nats-shared-');
const procs = new Processes();
let nats: NatsServer | undefined;
after(async () => {
  await procs.stopAll();
  await nats?.dispose();
  tmp.remove();
});

const PROFILES = 600;
const SERVICES = 6;
const PERIOD_NS = 10_000_000;

test('two ingesters share one consumer: each message is stored once, by one of them', { skip: CORPUS_SKIP, timeout: 180_000 }, async () => {
  const server = await startNats();
  nats = server;
  const collector = await procs.hearth(collectorConfig(server.url), tmp.dir);
  // Small pulls, so that neither ingester can take the whole backlog in one go.
  const receiver = `
    fetch_batch: 8
    max_in_flight: 32
  `;
  const stores = await Promise.all(['a', 'b'].map((n) => procs.hearth(storeConfig(server.url, join(tmp.dir, `data-${n}`), receiver), tmp.dir)));
  for (const s of stores) await waitFor('the store to be ready', async () => (await metric(s.url, 'hearth_nats_ready')) === 1);

  const lines = foldedLines([corpusFile('async-profiler/sample1.collapsed').toString(), corpusFile('brendangregg-flamegraph/perf-vertx-stacks-01-collapsed-all.txt').toString()]);
  const base = Math.floor(Date.now() / 1000) - 2 * PROFILES;
  const expected = new Map<string, number>();
  const pushes: Push[] = [];
  for (let i = 0; i < PROFILES; i++) {
    const body = [0, 1, 2].map((k) => lines[(i * 3 + k) % lines.length]);
    const service = `shared-${i % SERVICES}`;
    expected.set(service, (expected.get(service) ?? 0) + foldedCount(body) * PERIOD_NS);
    pushes.push({ service, from: base + i, body: `${body.join('\n')}\n` });
  }
  const load = await pushAll(() => collector.url, pushes, 16);
  assert.equal(load.ok, PROFILES);
  await waitDrained(server.url);

  const acked = await Promise.all(stores.map((s) => metric(s.url, 'hearth_nats_acknowledged_total')));
  assert.ok(acked.every((n) => n > 0), `both ingesters take a share: ${acked.join(' + ')}`);
  // The collector gathers profiles of one service into shared messages, so there are at most as many messages as profiles.
  const published = await metric(collector.url, 'hearth_nats_published_messages_total');
  assert.equal(await metric(collector.url, 'hearth_nats_published_total'), PROFILES);
  assert.equal(acked[0] + acked[1], published, `each message is processed once: ${acked.join(' + ')} of ${published}`);
  for (const s of stores) assert.equal(await metric(s.url, 'hearth_nats_redelivered_total'), 0);

  let grand = 0;
  const shares = [0, 0];
  for (const [service, want] of expected) {
    const got = await Promise.all(stores.map((s) => renderTotal(s.url, `${CPU}{service_name="${service}"}`)));
    got.forEach((g, k) => (shares[k] += g));
    assert.equal(got[0] + got[1], want, `${service}: ${got.join(' + ')} ≠ ${want}`);
    grand += want;
  }
  assert.ok(shares[0] > 0 && shares[1] > 0, `both stores hold data: ${shares.join(', ')}`);
  assert.equal(shares[0] + shares[1], grand);
});
