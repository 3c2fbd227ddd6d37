/**
 * The `nats` receiver against a real nats-server, with a scripted pipeline behind it: what is
 * acknowledged, retried, dead-lettered, and how much it works on at once.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import receiverFactory, { type NatsReceiverConfig } from '../../receivers/nats/index.ts';
import exporterFactory from '../../exporters/nats/index.ts';
import { encodeBatch } from '../../formats/batch/index.ts';
import { BadRequestError, UnavailableError } from '../../core/errors.ts';
import type { Consumer, Host, Receiver } from '../../core/component.ts';
import type { Batch } from '../../core/model.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { natsClient, sleep, waitDrained, waitFor } from '../support/distributed.ts';

const servers: NatsServer[] = [];
const receivers: Receiver[] = [];
const clients: NatsConnection[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.shutdown().catch(() => {})));
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.dispose()));
});

function batch(key: string): Batch {
  return {
    tenant: 'anonymous',
    labels: { service_name: 'svc', __name__: 'process_cpu' },
    idempotencyKey: key,
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: 1_700_000_000_000_000_000n,
      durationNanos: 10_000_000_000n,
      names: ['', 'main'],
      stacks: [Uint32Array.of(1)],
      samples: [{ stack: 0, values: [1], labelSet: 0 }],
      sampleLabelSets: [{}],
    },
  };
}

interface Setup {
  nats: NatsServer;
  nc: NatsConnection;
  metrics: Registry;
  receiver: Receiver;
  publish(keys: string[]): Promise<void>;
  deadLetters: Msg[];
}

async function setup(next: Consumer<'profiles'>, over: Partial<NatsReceiverConfig>): Promise<Setup> {
  const nats = await startNats();
  servers.push(nats);
  const nc = await natsClient(nats.url);
  clients.push(nc);
  const deadLetters: Msg[] = [];
  nc.subscribe('hearth.deadletter.profiles', { callback: (_e, m) => void deadLetters.push(m) });
  await nc.flush();
  // The stream as the exporter makes it.
  const exp = exporterFactory.create({ id: 'nats', logger: pino({ level: 'silent' }), metrics: new Registry() }, { ...exporterFactory.defaultConfig(), url: nats.url });
  await exp.start({} as Host);
  await exp.shutdown();
  const metrics = new Registry();
  const config = receiverFactory.schema.parse({ ...receiverFactory.defaultConfig(), url: nats.url, fetch_expires_ms: 1000, retry_backoff_ms: 50, retry_backoff_max_ms: 200, max_deliver: 3, ...over });
  const receiver = receiverFactory.create({ id: 'nats', logger: pino({ level: 'silent' }), metrics }, config, { profiles: next });
  receivers.push(receiver);
  await receiver.start({} as Host);
  const js = jetstream(nc);
  return {
    nats,
    nc,
    metrics,
    receiver,
    deadLetters,
    async publish(keys) {
      for (const k of keys) await js.publish('hearth.profiles.anonymous.svc', encodeBatch(batch(k)), { msgID: k });
    },
  };
}

async function value(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await reg.getSingleMetric(name)?.get();
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

describe('nats receiver', { timeout: 60_000 }, () => {
  test('acks stored batches, retries 503s past max_deliver without dead-lettering, dead-letters 4xx and unexpected errors', async () => {
    const attempts = new Map<string, number>();
    const stored: string[] = [];
    const next: Consumer<'profiles'> = {
      async consume(b) {
        const n = (attempts.get(b.idempotencyKey) ?? 0) + 1;
        attempts.set(b.idempotencyKey, n);
        if (b.idempotencyKey === 'bad') throw new BadRequestError('labels are wrong');
        if (b.idempotencyKey === 'boom') throw new Error('a bug');
        if (b.idempotencyKey === 'flaky' && n <= 5) throw new UnavailableError('storage unavailable');
        stored.push(b.idempotencyKey);
      },
    };
    const s = await setup(next, {});
    await s.publish(['ok-1', 'bad', 'flaky', 'boom', 'ok-2']);
    await waitFor('the stream to drain', async () => s.deadLetters.length === 2 && stored.length === 3, 30_000);
    await waitDrained(s.nats.url, 10_000);
    assert.deepEqual(stored.sort(), ['flaky', 'ok-1', 'ok-2']);
    assert.equal(attempts.get('flaky'), 6, 'a retryable failure is retried until it succeeds, beyond max_deliver');
    assert.equal(attempts.get('bad'), 3);
    assert.equal(attempts.get('boom'), 3);
    const why = Object.fromEntries(s.deadLetters.map((m) => [m.headers!.get('Hearth-Dead-Letter-Reason'), m.headers!.get('Hearth-Dead-Letter-Status')]));
    assert.deepEqual(why, { rejected: '400', failed: '500' });
    assert.match(s.deadLetters.find((m) => m.headers!.get('Hearth-Dead-Letter-Reason') === 'rejected')!.headers!.get('Hearth-Dead-Letter-Error')!, /labels are wrong/);
    assert.equal(await value(s.metrics, 'hearth_nats_acknowledged_total'), 3);
    assert.equal(await value(s.metrics, 'hearth_nats_dead_lettered_total'), 2);
    assert.equal(await value(s.metrics, 'hearth_nats_naks_total', { reason: 'unavailable' }), 5);
    assert.equal(await value(s.metrics, 'hearth_nats_naks_total', { reason: 'rejected' }), 2);
    assert.equal(await value(s.metrics, 'hearth_nats_redelivered_total'), 5 + 2 + 2);
    // Lag is polled from consumer info.
    await s.publish(['lag-1', 'lag-2']);
    await waitFor('lag to be reported', async () => (await value(s.metrics, 'hearth_nats_consumer_pending')) === 0 && (await value(s.metrics, 'hearth_nats_acknowledged_total')) === 5, 10_000);
  });

  test('works on at most max_in_flight messages, and the server holds back beyond max_ack_pending', async () => {
    let running = 0;
    let peak = 0;
    let gate!: () => void;
    let open = new Promise<void>((r) => (gate = r));
    const next: Consumer<'profiles'> = {
      async consume() {
        running++;
        peak = Math.max(peak, running);
        await open;
        running--;
      },
    };
    const s = await setup(next, { max_in_flight: 8, fetch_batch: 4, lag_poll_interval_ms: 100 });
    await s.publish(Array.from({ length: 40 }, (_, i) => `m${i}`));
    await waitFor('the first messages to arrive', async () => running === 8, 10_000);
    await sleep(500);
    assert.equal(peak, 8);
    await waitFor('lag to show the held-back messages', async () => (await value(s.metrics, 'hearth_nats_consumer_pending')) === 32, 10_000);
    assert.equal(await value(s.metrics, 'hearth_nats_consumer_ack_pending'), 8);
    gate();
    await waitDrained(s.nats.url, 20_000);
    assert.equal(await value(s.metrics, 'hearth_nats_acknowledged_total'), 40);
    assert.equal(peak, 8);

    // max_ack_pending is the server's bound across all ingesters.
    open = new Promise<void>((r) => (gate = r));
    running = 0;
    peak = 0;
    const jsm = await jetstreamManager(s.nc);
    await jsm.consumers.update('HEARTH_PROFILES', 'hearth-ingesters', { max_ack_pending: 3 });
    await s.publish(Array.from({ length: 10 }, (_, i) => `n${i}`));
    await waitFor('three messages to arrive', async () => running === 3, 10_000);
    await sleep(1_500);
    assert.equal(peak, 3);
    gate();
    await waitDrained(s.nats.url, 20_000);
  });

  test('a consumer deleted under a running receiver is created again', async () => {
    const stored: string[] = [];
    const s = await setup({ consume: async (b) => void stored.push(b.idempotencyKey) }, {});
    await s.publish(['one']);
    await waitFor('the first batch', async () => stored.length === 1, 10_000);
    const jsm = await jetstreamManager(s.nc);
    await jsm.consumers.delete('HEARTH_PROFILES', 'hearth-ingesters');
    await s.publish(['two']);
    await waitFor('the consumer to be back and the next batch stored', async () => stored.includes('two'), 30_000, 200);
    assert.deepEqual(stored, ['one', 'two']);
  });

  test('shutdown waits until in-flight batches are stored and acknowledged', async () => {
    const stored: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const next: Consumer<'profiles'> = {
      async consume(b) {
        if (b.idempotencyKey === 'slow') await slow;
        stored.push(b.idempotencyKey);
      },
    };
    const s = await setup(next, {});
    await s.publish(['slow']);
    await waitFor('the slow batch to be in flight', async () => (await value(s.metrics, 'hearth_nats_in_flight')) === 1, 10_000);
    const stopping = s.receiver.shutdown();
    await sleep(200);
    release();
    await stopping;
    assert.deepEqual(stored, ['slow']);
    await waitDrained(s.nats.url, 10_000);
  });
});
