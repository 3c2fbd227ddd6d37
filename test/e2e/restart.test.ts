/**
 * Durability across restarts: data acknowledged before a graceful stop (SIGTERM) is there
 * after the next start; so is data acknowledged just before a SIGKILL, since a 2xx means the
 * insert had committed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir } from '../support/hearth.ts';

const tmp = tempDir();
after(() => tmp.remove());

function folded(fn: string, n: number): string {
  return `main;handler;${fn} ${n}\nmain;idle ${n}\n`;
}

async function pushFolded(url: string, app: string, fn: string, n: number): Promise<void> {
  const r = await fetch(`${url}/ingest?name=${app}.cpu&sampleRate=100&from=now-10s&until=now`, { method: 'POST', body: folded(fn, n) });
  assert.equal(r.status, 200, await r.text());
}

async function total(url: string, app: string): Promise<{ numTicks: number; names: string[] }> {
  const q = encodeURIComponent(`process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="${app}"}`);
  const r = await fetch(`${url}/pyroscope/render?query=${q}&from=now-1h&until=now%2B1m`);
  assert.equal(r.status, 200);
  const b = (await r.json()) as { flamebearer: { numTicks: number; names: string[] } };
  return b.flamebearer;
}

test('data pushed before a restart is still there after it', async () => {
  const config = singleNodeConfig(join(tmp.dir, 'data'));
  const first = await startHearth(config, tmp.dir);
  await pushFolded(first.url, 'restart-app', 'beforeRestart', 7);
  assert.equal(await first.stop('SIGTERM'), 0, first.output());

  const second = await startHearth(config, tmp.dir);
  const fb = await total(second.url, 'restart-app');
  // 2 stacks × 7 samples at 100 Hz = 14 × 10 ms in nanoseconds.
  assert.equal(fb.numTicks, 14 * 10_000_000);
  assert.ok(fb.names.includes('beforeRestart'));
  await pushFolded(second.url, 'restart-app', 'beforeKill', 3);
  await second.stop('SIGKILL');

  const third = await startHearth(config, tmp.dir);
  const after = await total(third.url, 'restart-app');
  assert.equal(after.numTicks, (14 + 6) * 10_000_000);
  assert.ok(after.names.includes('beforeKill'));
  assert.equal(await third.stop('SIGTERM'), 0);
});

test('SIGTERM flushes in-flight batches before the process exits', async () => {
  const dataDir = join(tmp.dir, 'data-sigterm');
  // A long flush interval keeps the batch waiting in the exporter when the signal arrives.
  const config = singleNodeConfig(dataDir).replace(`path: ${JSON.stringify(dataDir)}\nextensions`, `path: ${JSON.stringify(dataDir)}\n    flush_interval_ms: 3000\nextensions`);
  assert.match(config, /flush_interval_ms: 3000/);
  const first = await startHearth(config, tmp.dir);
  const started = Date.now();
  const pushed = pushFolded(first.url, 'sigterm-app', 'inFlight', 5);
  await new Promise((r) => setTimeout(r, 500));
  const exited = first.stop('SIGTERM');
  await pushed;
  assert.equal(await exited, 0, first.output());
  // The flush happened at shutdown, not when the interval ran out.
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);

  const second = await startHearth(config, tmp.dir);
  const fb = await total(second.url, 'sigterm-app');
  assert.equal(fb.numTicks, 10 * 10_000_000);
  await second.stop();
});
