/**
 * One store per process, declared once: the shipped pipelines.yaml with only
 * exporters.clickhouse.path changed starts, stores there, and the API reads the same store.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHearth, tempDir } from '../support/hearth.ts';

const tmp = tempDir();
after(() => tmp.remove());

const shipped = readFileSync(fileURLToPath(new URL('../../pipelines.yaml', import.meta.url)), 'utf8');

test('changing only exporters.clickhouse.path moves the whole store', async () => {
  const dataDir = join(tmp.dir, 'somewhere', 'else');
  assert.match(shipped, /\n  clickhouse:\n    path: \.\/data\n/);
  assert.match(shipped, /\n  api: \{\}/);
  // The endpoint is moved to a free port only because tests run side by side; it is not a store setting.
  const config = shipped
    .replace(/\n  clickhouse:\n    path: \.\/data\n/, `\n  clickhouse:\n    path: ${JSON.stringify(dataDir)}\n`)
    .replace('endpoint: 0.0.0.0:4040', 'endpoint: 127.0.0.1:0')
    .replace(/endpoint: 0\.0\.0\.0:431[78]/g, 'endpoint: 127.0.0.1:0');
  const hearth = await startHearth(config, tmp.dir);
  try {
    const push = await fetch(`${hearth.url}/ingest?name=moved-store.cpu&sampleRate=100&from=now-10s&until=now`, {
      method: 'POST',
      body: 'main;work 3\nmain;idle 2\n',
    });
    assert.equal(push.status, 200, await push.text());
    const q = encodeURIComponent('process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="moved-store"}');
    const r = await fetch(`${hearth.url}/pyroscope/render?query=${q}&from=now-1h&until=now%2B1m`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { flamebearer: { numTicks: number; names: string[] } };
    // 5 samples at 100 Hz, in nanoseconds.
    assert.equal(body.flamebearer.numTicks, 5 * 10_000_000);
    assert.ok(body.flamebearer.names.includes('work'));
  } finally {
    assert.equal(await hearth.stop('SIGTERM'), 0, hearth.output());
  }
  assert.ok(readdirSync(dataDir).length > 0, 'the store lives in the configured directory');
  // The API opened no store of its own at the default ./data of its working directory.
  assert.equal(existsSync(join(tmp.dir, 'data')), false);
});
