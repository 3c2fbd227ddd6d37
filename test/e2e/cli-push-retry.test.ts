/**
 * `hearth push` retries what the server asks it to: a collector whose NATS is down answers 503
 * with `Retry-After`; the push waits as told, and succeeds once NATS is back, with no refusal.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/hearth.ts';
import { hearthCli } from '../support/cli.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { Processes, collectorConfig, metric, waitFor } from '../support/distributed.ts';
import { goCpuProfileGz } from '../support/go-cpu-profile.ts';

const tmp = tempDir('hearth-cli-retry-');
const procs = new Processes();
let nats: NatsServer | undefined;
after(async () => {
  await procs.stopAll();
  await nats?.dispose();
  tmp.remove();
});

test('push retries 503 after Retry-After and succeeds once the server can take the profile', { timeout: 180_000 }, async () => {
  nats = await startNats();
  const collector = await procs.hearth(collectorConfig(nats.url, 'retry_after_seconds: 1\npublish_timeout_ms: 10000'), tmp.dir);
  await nats.kill();
  await waitFor('the collector to notice the disconnect', async () => (await metric(collector.url, 'hearth_nats_ready')) === 0, 30_000);

  const file = join(tmp.dir, 'cpu.pb.gz');
  writeFileSync(file, goCpuProfileGz());
  const failuresBefore = await metric(collector.url, 'hearth_nats_publish_failures_total', { reason: 'unavailable' });
  const pushing = hearthCli(['push', file, '--name', 'retry-app', '--url', collector.url]);
  // NATS comes back only once the push has been answered 503 at least twice.
  await waitFor(
    'the push to be answered 503 twice',
    async () => (await metric(collector.url, 'hearth_nats_publish_failures_total', { reason: 'unavailable' })) >= failuresBefore + 2,
    60_000,
    200,
  );
  await nats.start();
  const r = await pushing;
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^1 file: 1 accepted, 0 refused, 0 skipped$/m);
  // The waits were the server's Retry-After (1 s), not the client's own backoff.
  const retries = r.stderr.split('\n').filter((l) => l.includes('503, retrying in'));
  assert.ok(retries.length >= 2, r.stderr);
  for (const l of retries) assert.match(l, /retrying in 1\.0s$/);
});
