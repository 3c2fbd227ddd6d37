/**
 * A poison message (garbage published straight to the stream) is retried a few times with
 * backoff, then published to the dead-letter subject with headers saying why, acknowledged
 * and counted — while the profiles published after it are stored as usual.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import {
  CPU,
  DEAD_LETTER_SUBJECT,
  Processes,
  STREAM,
  SUBJECT_PREFIX,
  collectorConfig,
  metric,
  natsClient,
  renderTotal,
  storeConfig,
  waitDrained,
  waitFor,
} from '../support/distributed.ts';
import { fetchRetrying } from '../support/retrying-fetch.ts';

const tmp = tempDir('hearth-nats-poison-');
const procs = new Processes();
let nats: NatsServer | undefined;
let nc: NatsConnection | undefined;
after(async () => {
  await nc?.close();
  await procs.stopAll();
  await nats?.dispose();
  tmp.remove();
});

test('a poison message ends on the dead-letter subject, is counted, and blocks nothing', { timeout: 120_000 }, async () => {
  nats = await startNats();
  const collector = await procs.hearth(collectorConfig(nats.url), tmp.dir);
  const store = await procs.hearth(
    storeConfig(nats.url, join(tmp.dir, 'data'), `
      max_deliver: 3
      retry_backoff_ms: 200
      retry_backoff_max_ms: 1000
    `),
    tmp.dir,
  );
  nc = await natsClient(nats.url);
  const deadLetters: Msg[] = [];
  const sub = nc.subscribe(DEAD_LETTER_SUBJECT, { callback: (_e, m) => void deadLetters.push(m) });
  await nc.flush();

  const garbage = new TextEncoder().encode('this is not a Hearth batch, just bytes on the stream');
  const ack = await jetstream(nc).publish(`${SUBJECT_PREFIX}.anonymous.poison`, garbage);
  const base = Math.floor(Date.now() / 1000) - 600;
  for (let i = 0; i < 20; i++) {
    const r = await fetchRetrying(`${collector.url}/ingest?name=after-poison.cpu&format=folded&sampleRate=100&from=${base + i}&until=${base + i + 10}`, {
      method: 'POST',
      body: `main;work${i} ${i + 1}\n`,
    });
    assert.equal(r.status, 200, await r.text());
  }
  // Stored while the poison message is still being retried: it blocks nothing behind it.
  const expected = ((20 * 21) / 2) * 10_000_000;
  await waitFor('the later profiles to be stored', async () => (await renderTotal(store.url, `${CPU}{service_name="after-poison"}`)) === expected, 30_000, 200);

  const dl = await waitFor('a dead letter', async () => deadLetters[0], 30_000);
  assert.equal(new TextDecoder().decode(dl.data), new TextDecoder().decode(garbage));
  assert.equal(dl.headers?.get('Hearth-Dead-Letter-Reason'), 'undecodable');
  assert.match(dl.headers?.get('Hearth-Dead-Letter-Error') ?? '', /invalid batch encoding/);
  assert.equal(dl.headers?.get('Hearth-Dead-Letter-Status'), '400');
  assert.equal(dl.headers?.get('Hearth-Original-Subject'), `${SUBJECT_PREFIX}.anonymous.poison`);
  assert.equal(dl.headers?.get('Hearth-Original-Stream'), STREAM);
  assert.equal(dl.headers?.get('Hearth-Original-Sequence'), String(ack.seq));
  assert.equal(dl.headers?.get('Hearth-Deliveries'), '3');

  await waitDrained(nats.url, 30_000);
  assert.equal(deadLetters.length, 1, 'dead-lettered once, not redelivered forever');
  assert.equal(await metric(store.url, 'hearth_nats_dead_lettered_total', { reason: 'undecodable' }), 1);
  assert.equal(await metric(store.url, 'hearth_nats_naks_total', { reason: 'undecodable' }), 2);
  assert.equal(await metric(store.url, 'hearth_nats_acknowledged_total'), 20);
  // The dead letter is kept in its own stream, and the profile stream is empty again.
  const jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info('HEARTH_DEADLETTER')).state.messages, 1);
  assert.equal((await jsm.streams.info(STREAM)).state.messages, 0);
  assert.equal(await renderTotal(store.url, `${CPU}{service_name="after-poison"}`), expected);
  sub.unsubscribe();
});
