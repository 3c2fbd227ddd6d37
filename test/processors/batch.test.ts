/**
 * batch, end to end in distributed mode: 1,000 small pushes to a collector whose pipeline runs
 * `batch` before the `nats` exporter become far fewer JetStream messages (read from the
 * stream), every push is answered 200 only once its group is in the stream, and the store
 * behind the `nats` receiver then holds exactly what was sent.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { stringify } from 'yaml';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { Processes, STREAM, metric, natsClient, renderTotal, storeConfig, waitDrained } from '../support/distributed.ts';
import { CPU, Sent, pushProfile, syntheticProfile } from '../support/synthetic-profiles.ts';
import { factory } from '../../processors/batch/index.ts';

const tmp = tempDir('hearth-batch-');
const procs = new Processes();
const servers: NatsServer[] = [];
after(async () => {
  await procs.stopAll();
  await Promise.all(servers.map((s) => s.dispose()));
  tmp.remove();
});

function collectorWithBatch(natsUrl: string): string {
  return stringify({
    receivers: { pyroscope: {} },
    processors: { batch: { send_batch_size: 200, timeout: '300ms', metadata_keys: ['tenant'] } },
    exporters: { nats: { url: natsUrl, publish_timeout_ms: 5000, reconnect_wait_ms: 200 } },
    service: { http: { endpoint: '127.0.0.1:0' }, pipelines: { profiles: { receivers: ['pyroscope'], processors: ['batch'], exporters: ['nats'] } } },
  });
}

test('config: the Collector keys, checked', () => {
  assert.equal(factory.schema.safeParse(factory.defaultConfig()).success, true);
  assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), send_batch_size: 100, send_batch_max_size: 10 }).success, false);
  assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), timeout: 'soon' }).success, false);
});

test('1,000 small pushes become far fewer JetStream messages, and the stored totals are exact', async () => {
  const nats = await startNats();
  servers.push(nats);
  const collector = await procs.hearth(collectorWithBatch(nats.url), tmp.dir);

  const sent = new Sent();
  const profiles = Array.from({ length: 1000 }, (_, i) => syntheticProfile(i + 1, Date.now() - 600_000 + i * 100, 4, false));
  for (const p of profiles) sent.add(p);
  // 200 clients at once, each pushing its share in turn.
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < profiles.length) {
        const p = profiles[next++];
        const r = await pushProfile(collector.url, 'batched{}', p);
        assert.equal(r.status, 200);
      }
    }),
  );

  const nc = await natsClient(nats.url);
  let messages: number;
  try {
    const info = await (await jetstreamManager(nc)).streams.info(STREAM);
    messages = info.state.messages;
  } finally {
    await nc.close();
  }
  assert.equal(await metric(collector.url, 'hearth_nats_published_total'), 1000, 'every batch was published');
  assert.equal(await metric(collector.url, 'hearth_nats_published_messages_total'), messages);
  assert.ok(messages <= 100, `${messages} messages for 1,000 pushes`);

  const store = await procs.hearth(storeConfig(nats.url, `${tmp.dir}/store`), tmp.dir);
  await waitDrained(nats.url);
  assert.equal(await renderTotal(store.url, `${CPU}{service_name="batched"}`), sent.total);
});
