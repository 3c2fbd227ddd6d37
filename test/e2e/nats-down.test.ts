/**
 * NATS goes away: the collector answers 503 with Retry-After at once (it never accepts what
 * it cannot make durable), and when NATS is back both processes reconnect by themselves —
 * pushes succeed again and reach the store, with no Hearth restart.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { CPU, Processes, collectorConfig, metric, renderTotal, storeConfig, waitDrained, waitFor } from '../support/distributed.ts';

const tmp = tempDir('hearth-nats-down-');
const procs = new Processes();
let nats: NatsServer | undefined;
after(async () => {
  await procs.stopAll();
  await nats?.dispose();
  tmp.remove();
});

function push(url: string, fn: string, n: number, from: number): Promise<Response> {
  return fetch(`${url}/ingest?name=down-app.cpu&format=folded&sampleRate=100&from=${from}&until=${from + 10}`, {
    method: 'POST',
    body: `main;work;${fn} ${n}\nmain;idle ${n}\n`,
  });
}

test('while NATS is down pushes get 503 with Retry-After; afterwards they succeed without a restart', { timeout: 120_000 }, async () => {
  nats = await startNats();
  const collector = await procs.hearth(collectorConfig(nats.url, 'retry_after_seconds: 2\npublish_timeout_ms: 10000'), tmp.dir);
  const store = await procs.hearth(storeConfig(nats.url, join(tmp.dir, 'data')), tmp.dir);
  const base = Math.floor(Date.now() / 1000) - 600;

  const before = await push(collector.url, 'beforeOutage', 3, base);
  assert.equal(before.status, 200, await before.text());

  await nats.kill();
  // Whether or not the client has noticed the disconnect yet, nothing is acknowledged now.
  const down = await push(collector.url, 'duringOutage', 5, base + 20);
  assert.equal(down.status, 503, await down.clone().text());
  assert.equal(down.headers.get('retry-after'), '2');
  assert.match(await down.text(), /NATS/);
  // Once it has, the answer is immediate rather than a publish waiting out its 10 s timeout.
  await waitFor('the collector to notice the disconnect', async () => (await metric(collector.url, 'hearth_nats_ready')) === 0, 10_000);
  const started = Date.now();
  const again = await push(collector.url, 'duringOutage', 5, base + 40);
  assert.equal(again.status, 503);
  assert.ok(Date.now() - started < 3_000, `a 503 took ${Date.now() - started} ms`);
  assert.ok((await metric(collector.url, 'hearth_nats_publish_failures_total', { reason: 'unavailable' })) >= 2);
  assert.equal(await metric(collector.url, 'hearth_nats_ready'), 0);
  // Both processes stay up meanwhile.
  assert.equal((await fetch(`${store.url}/healthz`)).status, 200);

  await nats.start();
  const afterOutage = await waitFor('pushes to succeed again', async () => {
    const r = await push(collector.url, 'afterOutage', 4, base + 60);
    return r.status === 200 ? r : undefined;
  }, 30_000, 250);
  assert.equal(afterOutage.status, 200);
  assert.equal(await metric(collector.url, 'hearth_nats_ready'), 1);

  // The store reconnected too and stored both acknowledged pushes, and only those.
  await waitDrained(nats.url, 30_000);
  const total = await renderTotal(store.url, `${CPU}{service_name="down-app"}`);
  assert.equal(total, (2 * 3 + 2 * 4) * 10_000_000);
});
