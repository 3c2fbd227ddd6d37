/**
 * A real client: the Pyroscope Node.js SDK profiles a program and pushes to a running Hearth;
 * the program's hot function must show in the flame graph.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { selfFromLevels } from '../support/pprof-reference.ts';

const app = fileURLToPath(new URL('../fixtures/node-sdk-app.mjs', import.meta.url));
const tmp = tempDir();
let hearth: HearthProcess;

before(async () => {
  hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

test('@pyroscope/nodejs pushes profiles whose hot function shows in the flame graph', async () => {
  const child = spawn(process.execPath, [app, hearth.url, 'node-sdk-app', '7'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0, out);

  const types = (await (await fetch(`${hearth.url}/pyroscope/label-values?label=__name__`)).json()) as string[];
  const cpu = types.find((t) => t.startsWith('process_cpu:cpu:nanoseconds'));
  const wall = types.find((t) => t.startsWith('wall:'));
  assert.ok(cpu || wall, `no CPU or wall profile type stored: ${JSON.stringify(types)}`);
  for (const type of [cpu, wall].filter(Boolean) as string[]) {
    const q = encodeURIComponent(`${type}{service_name="node-sdk-app"}`);
    const r = await fetch(`${hearth.url}/pyroscope/render?query=${q}&from=now-10m&until=now`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number } };
    assert.ok(body.flamebearer.numTicks > 0, `${type}: empty flame graph`);
    const self = selfFromLevels(body.flamebearer.names, body.flamebearer.levels);
    const hot = [...self.keys()].find((n) => n.includes('hearthDistinctHotLoop'));
    assert.ok(hot, `${type}: hot function missing from ${JSON.stringify(body.flamebearer.names.slice(0, 40))}`);
    assert.ok(self.get(hot)! > 0);
  }
  const envs = (await (await fetch(`${hearth.url}/pyroscope/label-values?label=env`)).json()) as string[];
  assert.deepEqual(envs, ['test']);
});
