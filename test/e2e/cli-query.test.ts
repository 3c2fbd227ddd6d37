/**
 * `hearth query top|pprof|series|labels` and `hearth diff` against a running Hearth. The top
 * table must equal what /pyroscope/render answers, and both must equal the totals computed
 * here from the stacks that were pushed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodePprof } from '../../formats/pprof/index.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { hearthCli, mustIngest } from '../support/cli.ts';
import { GO_CPU_STACKS, PERIOD_NS, expectedGoCpuTotals, goCpuProfileGz } from '../support/go-cpu-profile.ts';

const tmp = tempDir('hearth-cli-query-');
let hearth: HearthProcess;
const service = `query-${Date.now().toString(36)}`;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const query = `${CPU}{service_name="${service}"}`;
const SHA_x3 = (stack: string[]) => (stack.includes('crypto/sha256.block') ? 3 : 1);
const MINUTE = 60_000;

before(async () => {
  hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
  // Left range: one profile 20 minutes ago; right range: one 5 minutes ago with sha256 ×3.
  const params = { name: `${service}{env=test,region=eu}`, format: 'pprof' };
  await mustIngest(hearth.url, params, goCpuProfileGz(Date.now() - 20 * MINUTE));
  await mustIngest(hearth.url, params, goCpuProfileGz(Date.now() - 5 * MINUTE, SHA_x3));
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

const cli = (...args: string[]) => hearthCli([...args, '--url', hearth.url]);

interface TopJson {
  total: number;
  functions: number;
  rows: Array<{ name: string; flat: number; flatPercent: number; sumPercent: number; cum: number; cumPercent: number }>;
}

/** flat/cum per function from a flamebearer answer, computed here on its own terms. */
function fromRender(fb: { names: string[]; levels: number[][] }): Map<string, { flat: number; cum: number }> {
  // Rebuild every root-to-node path: a node's parent is the node one level up whose span holds it.
  type N = { x: number; w: number; path: string[] };
  const out = new Map<string, { flat: number; cum: number }>();
  let prev: N[] = [{ x: 0, w: Infinity, path: [] }];
  for (let d = 0; d < fb.levels.length; d++) {
    const l = fb.levels[d];
    const cur: N[] = [];
    let x = 0;
    for (let i = 0; i < l.length; i += 4) {
      x += l[i];
      const node = { x, w: l[i + 1], path: [] as string[] };
      const parent = prev.find((p) => p.x <= node.x && node.x < p.x + p.w)!;
      const name = fb.names[l[i + 3]];
      node.path = d === 0 ? [] : [...parent.path, name];
      if (d > 0) {
        const e = out.get(name) ?? { flat: 0, cum: 0 };
        e.flat += l[i + 2];
        if (!parent.path.includes(name)) e.cum += l[i + 1];
        out.set(name, e);
      }
      cur.push(node);
      x += l[i + 1];
    }
    prev = cur;
  }
  return out;
}

test('query top equals /pyroscope/render, and both equal the pushed stacks', async () => {
  const r = await cli('query', 'top', query, '--from', 'now-1h', '-n', '100', '--output', 'json');
  assert.equal(r.status, 0, r.stderr);
  const top = JSON.parse(r.stdout) as TopJson;

  const params = new URLSearchParams({ query, from: 'now-1h', until: 'now' });
  const render = (await (await fetch(`${hearth.url}/pyroscope/render?${params}`)).json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number } };
  const fromServer = fromRender(render.flamebearer);

  const left = expectedGoCpuTotals();
  const right = expectedGoCpuTotals(SHA_x3);
  const pushed = new Map([...left].map(([n, v]) => [n, { flat: v.flat + right.get(n)!.flat, cum: v.cum + right.get(n)!.cum }]));

  assert.equal(top.total, render.flamebearer.numTicks);
  assert.equal(top.functions, fromServer.size);
  assert.equal(top.rows.length, pushed.size);
  for (const row of top.rows) {
    assert.deepEqual({ flat: row.flat, cum: row.cum }, fromServer.get(row.name), row.name);
    assert.deepEqual({ flat: row.flat, cum: row.cum }, pushed.get(row.name), row.name);
    assert.ok(Math.abs(row.flatPercent - (row.flat / top.total) * 100) < 1e-9);
  }
  // pprof's order: flat descending; sum% is the running total.
  const flats = top.rows.map((x) => x.flat);
  assert.deepEqual(flats, [...flats].sort((a, b) => b - a));
  assert.ok(Math.abs(top.rows[top.rows.length - 1].sumPercent - 100) < 1e-9);

  // The table a person reads shows the same rows, in the same order.
  const t = await cli('query', 'top', query, '--from', 'now-1h', '-n', '3');
  assert.equal(t.status, 0, t.stderr);
  const lines = t.stdout.trimEnd().split('\n');
  assert.match(lines[0], new RegExp(`^Showing top 3 of ${pushed.size} functions, total `));
  assert.match(lines[1], /^\s*flat\s+flat%\s+sum%\s+cum\s+cum%\s+name$/);
  assert.deepEqual(lines.slice(2).map((l) => l.trim().split(/\s+/).pop()), top.rows.slice(0, 3).map((x) => x.name));
  const sha = lines.find((l) => l.endsWith('crypto/sha256.block'))!;
  // 55 + 165 samples of 10 ms.
  assert.match(sha, /^\s*2\.2s\s+/);
});

test('query pprof writes the merged profile as a gzipped pprof file', async () => {
  const out = join(tmp.dir, 'out.pb.gz');
  const r = await cli('query', 'pprof', query, '--from', 'now-1h', '-o', out);
  assert.equal(r.status, 0, r.stderr);
  const p = decodePprof(gunzipSync(readFileSync(out)));
  const total = p.samples.reduce((a, s) => a + s.values[0], 0);
  const expected = GO_CPU_STACKS.reduce((a, s) => a + s.count + s.count * SHA_x3(s.stack), 0) * PERIOD_NS;
  assert.equal(total, expected);
});

test('query series and labels list what was pushed', async () => {
  const s = await cli('query', 'series', `{service_name="${service}"}`, '--output', 'json');
  assert.equal(s.status, 0, s.stderr);
  const sets = JSON.parse(s.stdout) as Array<Record<string, string>>;
  assert.deepEqual(sets.map((x) => x.__profile_type__).sort(), [CPU, 'process_cpu:samples:count:cpu:nanoseconds']);
  for (const x of sets) assert.equal(x.region, 'eu');

  const names = await cli('query', 'labels', '--match', `{service_name="${service}"}`);
  assert.equal(names.status, 0, names.stderr);
  for (const n of ['env', 'region', 'service_name', '__name__']) assert.ok(names.stdout.split('\n').includes(n), names.stdout);

  const values = await cli('query', 'labels', 'region', '--match', `{service_name="${service}"}`);
  assert.equal(values.stdout, 'eu\n');
});

test('diff over two time ranges puts the function that changed most first', async () => {
  const r = await cli('diff', query, '--left-from', 'now-30m', '--left-until', 'now-10m', '--right-from', 'now-10m', '--output', 'json');
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { leftTotal: number; rightTotal: number; rows: Array<{ name: string; deltaSelf: number; deltaTotal: number; leftSelf: number; rightSelf: number }> };
  const sumOf = (scale: (s: string[]) => number) => GO_CPU_STACKS.reduce((a, s) => a + s.count * scale(s.stack), 0) * PERIOD_NS;
  assert.equal(d.leftTotal, sumOf(() => 1));
  assert.equal(d.rightTotal, sumOf(SHA_x3));
  assert.equal(d.rows[0].name, 'crypto/sha256.block');
  assert.equal(d.rows[0].deltaSelf, 2 * 55 * PERIOD_NS);
  // Every other function is unchanged, except the callers of sha256 in total.
  for (const row of d.rows.slice(1)) assert.equal(row.deltaSelf, 0, row.name);
  const handler = d.rows.find((x) => x.name === 'main.handleCheckout')!;
  assert.equal(handler.deltaTotal, 2 * 55 * PERIOD_NS);

  const table = await cli('diff', query, query, '--from', 'now-1h');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /Δ self/);
});

test('query errors: a bad selector is the server 400, a bad flag a usage error', async () => {
  const bad = await cli('query', 'top', 'not a query{', '--from', 'now-1h');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /400 from \/pyroscope\/render: /);
  const usage = await cli('query', 'top', query, '--bogus');
  assert.equal(usage.status, 2);
});
