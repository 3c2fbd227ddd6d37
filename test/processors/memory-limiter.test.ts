/**
 * memory_limiter in a collector (pyroscope receiver → memory_limiter → nats exporter): a flood
 * of large profiles from many concurrent clients gets 429s with Retry-After, the process's RSS
 * (sampled from /proc while the flood runs) stays under the limit plus the spike margin, and,
 * with clients retrying as SDKs do, intake resumes and every profile answered 2xx is in the
 * stream (what a 2xx means in distributed mode), read back and summed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Processes, STREAM, metric, natsClient } from '../support/distributed.ts';
import { decodeBatches } from '../../formats/batch/index.ts';
import { Sent, pushProfile, syntheticProfile } from '../support/synthetic-profiles.ts';
import { factory, limitsOf } from '../../processors/memory_limiter/index.ts';

const LINUX = process.platform === 'linux' ? false : 'RSS is sampled from /proc, which only Linux has';
const tmp = tempDir('hearth-memlimit-');
const procs = new Processes();
const servers: NatsServer[] = [];
after(async () => {
  await procs.stopAll();
  await Promise.all(servers.map((s) => s.dispose()));
  tmp.remove();
});

/** Above the idle collector's RSS: the hard limit, and the spike margin below it (soft = idle + 50 MiB). */
const HEADROOM_MIB = 150;
const SPIKE_MIB = 100;

test('config: one limit, a spike below it, 20% by default', () => {
  assert.equal(factory.schema.safeParse(factory.defaultConfig()).success, false, 'a limit must be set');
  assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), limit_mib: 100 }).success, true);
  assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), limit_mib: 100, spike_limit_mib: 100 }).success, false);
  assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), limit_mib: 100, limit_percentage: 50 }).success, false);
  assert.deepEqual(limitsOf({ ...factory.defaultConfig(), limit_mib: 100 }), { hard: 100 * 1048576, soft: 80 * 1048576 });
  assert.deepEqual(limitsOf({ ...factory.defaultConfig(), limit_percentage: 50, spike_limit_percentage: 10 }, 1000), { hard: 500, soft: 400 });
});

/** A collector to NATS, with the memory limiter or (for the probe) without. */
function collectorConfig(natsUrl: string, processors: 'none' | 'memory_limiter', limitMiB = 0): string {
  return stringify({
    receivers: { pyroscope: {} },
    ...(processors === 'memory_limiter' ? { processors: { memory_limiter: { check_interval: '100ms', limit_mib: limitMiB, spike_limit_mib: SPIKE_MIB } } } : {}),
    exporters: { nats: { url: natsUrl, publish_timeout_ms: 10_000, reconnect_wait_ms: 200, max_pending_publishes: 4096 } },
    service: {
      http: { endpoint: '127.0.0.1:0' },
      pipelines: { profiles: { receivers: ['pyroscope'], processors: processors === 'none' ? [] : ['memory_limiter'], exporters: ['nats'] } },
    },
  });
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

test('a flood of large profiles is refused with 429 above the soft limit; RSS stays under limit + spike; all 2xx stored', { skip: LINUX }, async () => {
  const nats = await startNats();
  servers.push(nats);
  // The limits are set from what this collector takes at rest here (its libraries, the embedded
  // store's native code mapped in), measured on a probe start of the same components.
  const probe = await procs.hearth(collectorConfig(nats.url, 'none'), tmp.dir);
  await new Promise((r) => setTimeout(r, 1000));
  const idle = rssMiB(probe.child.pid!);
  await probe.stop('SIGTERM');
  procs.forget(probe);
  const LIMIT_MIB = Math.ceil(idle) + HEADROOM_MIB;
  const collector = await procs.hearth(collectorConfig(nats.url, 'memory_limiter', LIMIT_MIB), tmp.dir);
  const pid = collector.child.pid!;
  let maxRss = rssMiB(pid);
  const sampler = setInterval(() => {
    try {
      maxRss = Math.max(maxRss, rssMiB(pid));
    } catch {
      // The process is gone; the test fails elsewhere.
    }
  }, 20);

  // Sample-rich profiles: 15,000 samples each (the receiver allows 16,000).
  const CLIENTS = 64;
  const PER_CLIENT = 3;
  const sent = new Sent();
  let refused = 0;
  try {
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const p = syntheticProfile(1000 + c * PER_CLIENT + i, Date.now() - 3_600_000 + (c * PER_CLIENT + i) * 1000, 15_000, false);
          const r = await pushProfile(collector.url, 'flood{}', p, { deadlineMs: 300_000 });
          refused += r.refused;
          assert.equal(r.status, 200, 'a retrying client gets through once memory dropped');
          sent.add(p);
        }
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  assert.ok(refused > 0, "the flood was refused at times");
  assert.ok((await metric(collector.url, "hearth_processor_memory_limiter_refused_total")) >= 1, "refusals are on /metrics");
  assert.ok((await metric(collector.url, "hearth_processor_memory_limiter_memory_bytes")) > 0, "memory in use is on /metrics");
  assert.ok(maxRss < LIMIT_MIB + SPIKE_MIB, `RSS peaked at ${Math.round(maxRss)} MiB, limit + spike is ${LIMIT_MIB + SPIKE_MIB} MiB`);

  // Intake resumes: a push after the flood is accepted at once.
  const after = syntheticProfile(99_999, Date.now() - 1000, 100, false);
  const r = await pushProfile(collector.url, 'flood{}', after, { deadlineMs: 60_000 });
  assert.equal(r.status, 200);
  sent.add(after);

  // In distributed mode a 2xx means the profile is in the stream: read every message back.
  const nc = await natsClient(nats.url);
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(STREAM, { durable_name: 'reader', ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get(STREAM, 'reader');
    const info = await jsm.streams.info(STREAM);
    let total = 0;
    let count = 0;
    let read = 0;
    // A message may hold several profiles (the exporter groups a subject's profiles).
    const messages = await consumer.fetch({ max_messages: info.state.messages, expires: 10_000 });
    for await (const m of messages) {
      for (const b of decodeBatches(m.data)) {
        count++;
        for (const s of b.profile.samples) total += s.values[0];
      }
      if (++read === info.state.messages) break;
    }
    assert.equal(count, CLIENTS * PER_CLIENT + 1, 'every profile answered 2xx is in the stream once');
    assert.equal(total, sent.total);
  } finally {
    await nc.close();
  }
});
