/**
 * The HTTP routes next to querier.v1: /pyroscope/render-diff, the pprof download (opened with
 * `go tool pprof`), and individual profiles (listed, opened as flamebearer JSON or pprof).
 * Totals are checked against an independent decoding of the Go fixture's files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { samplesOf, selfFromLevels, sumWhere, topN, selfWhere, type ReferenceSamples } from '../support/pprof-reference.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { GO_SKIP, goProfiles, ingestPprof } from './harness.ts';

const run = promisify(execFile);
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const TENANT = 'legacy';
const tmp = tempDir('hearth-legacy-');
let hearth: HearthProcess;
let refs: ReferenceSamples[] = [];
let from = 0;
let until = 0;

const cpu = (r: ReferenceSamples) => r.sampleTypes.findIndex((t) => t.type === 'cpu');
const total = (keep?: Parameters<typeof sumWhere>[2]) => refs.reduce((a, r) => a + sumWhere(r, cpu(r), keep), 0);

async function get(path: string, tenant = TENANT): Promise<Response> {
  return fetch(`${hearth.url}${path}`, { headers: { 'X-Scope-OrgID': tenant } });
}
const q = (s: string) => encodeURIComponent(s);

/** The total `go tool pprof -top` reports for a pprof file, in nanoseconds. */
async function pprofTotal(bytes: Uint8Array): Promise<number> {
  const file = join(tmp.dir, `download-${Math.random().toString(36).slice(2)}.pb.gz`);
  writeFileSync(file, bytes);
  const { stdout } = await run('go', ['tool', 'pprof', '-top', '-unit=ns', file], { env: { ...process.env, PPROF_TMPDIR: tmp.dir } });
  const m = /of (\d+)ns total/.exec(stdout);
  assert.ok(m, `no total in go tool pprof output:\n${stdout}`);
  return Number(m[1]);
}

describe('legacy routes with real Go profiles', { skip: GO_SKIP }, () => {
  before(async () => {
    const files = await goProfiles(tmp.dir);
    refs = files.map((f) => samplesOf(f.bytes));
    hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
    for (const f of files) await ingestPprof(hearth.url, TENANT, 'goapp', f.bytes);
    from = Date.now() - 600_000;
    until = Date.now() + 600_000;
  });
  after(async () => {
    await hearth?.stop();
    tmp.remove();
  });

  test('/pyroscope/render-diff compares two selections (format "double")', async () => {
    const r = await get(`/pyroscope/render-diff?leftQuery=${q(`${CPU}{span_name="checkout"}`)}&leftFrom=${from}&leftUntil=${until}&rightQuery=${q(`${CPU}{span_name="search"}`)}&rightFrom=${from}&rightUntil=${until}&maxNodes=1024`);
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number }; metadata: { format: string; units: string }; leftTicks: number; rightTicks: number };
    assert.equal(body.metadata.format, 'double');
    assert.equal(body.leftTicks, total((s) => s.labels.span_name === 'checkout'));
    assert.equal(body.rightTicks, total((s) => s.labels.span_name === 'search'));
    assert.equal(body.flamebearer.numTicks, body.leftTicks + body.rightTicks);
    // Every level is a list of 7-tuples.
    for (const l of body.flamebearer.levels) assert.equal(l.length % 7, 0);

    const same = await get(`/pyroscope/render-diff?leftQuery=${q(`${CPU}{}`)}&leftFrom=${from}&leftUntil=${until}&rightQuery=${q(`${CPU}{}`)}&rightFrom=${from}&rightUntil=${until}`);
    const s = (await same.json()) as { flamebearer: { levels: number[][] }; leftTicks: number; rightTicks: number };
    assert.equal(s.leftTicks, total());
    assert.equal(s.rightTicks, total());
    for (const l of s.flamebearer.levels) for (let i = 0; i < l.length; i += 7) assert.deepEqual([l[i + 1], l[i + 2]], [l[i + 4], l[i + 5]]);

    const bad = await get(`/pyroscope/render-diff?leftQuery=${q(`${CPU}{}`)}&rightQuery=${q('process_cpu:samples:count:cpu:nanoseconds{}')}`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /profile types must match/);
    const missing = await get(`/pyroscope/render-diff?rightQuery=${q(`${CPU}{}`)}`);
    assert.equal(missing.status, 400);
    assert.match(await missing.text(), /leftQuery/);
  });

  test('/pyroscope/pprof downloads any selection as gzipped pprof that go tool pprof opens', async () => {
    const r = await get(`/pyroscope/pprof?query=${q(`${CPU}{service_name="goapp"}`)}&from=${from}&until=${until}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.match(r.headers.get('content-disposition') ?? '', /attachment; filename="process_cpu-.*\.pb\.gz"/);
    const bytes = new Uint8Array(await r.arrayBuffer());
    assert.deepEqual([bytes[0], bytes[1]], [0x1f, 0x8b]);
    assert.equal(await pprofTotal(bytes), total());
    const ref = samplesOf(gunzipSync(bytes));
    assert.deepEqual(topN(selfWhere(ref, 0), 3), topN(mergeSelf(), 3));

    const span = await get(`/pyroscope/pprof?query=${q(`${CPU}{span_name="render"}`)}&from=${from}&until=${until}`);
    assert.equal(await pprofTotal(new Uint8Array(await span.arrayBuffer())), total((s) => s.labels.span_name === 'render'));
  });

  test('individual profiles are listed and opened one by one', async () => {
    const list = await get(`/pyroscope/profiles?query=${q(`${CPU}{service_name="goapp"}`)}&from=${from}&until=${until}`);
    assert.equal(list.status, 200);
    const { profiles } = (await list.json()) as { profiles: Array<{ id: string; time: number; labels: Record<string, string>; total: number }> };
    // One row per profile and series; the series differ by span_name.
    const ids = [...new Set(profiles.map((p) => p.id))];
    assert.equal(ids.length, refs.length);
    for (const p of profiles) {
      assert.match(p.id, /^[0-9a-f]{16}$/);
      assert.equal(p.labels.service_name, 'goapp');
    }
    for (let i = 1; i < profiles.length; i++) assert.ok(profiles[i - 1].time >= profiles[i].time, 'newest first');
    const byTime = new Map(refs.map((r) => [Number(r.timeNanos / 1_000_000n), r]));
    for (const id of ids) {
      const rows = profiles.filter((p) => p.id === id);
      const ref = byTime.get(rows[0].time);
      assert.ok(ref, 'the profile time is the file time');
      assert.equal(rows.reduce((a, p) => a + p.total, 0), sumWhere(ref, cpu(ref)));

      const json = await get(`/pyroscope/profiles/${id}?query=${q(`${CPU}{}`)}`);
      assert.equal(json.status, 200);
      const fb = (await json.json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number }; profile: { id: string; time: number } };
      assert.equal(fb.flamebearer.numTicks, sumWhere(ref, cpu(ref)));
      assert.deepEqual(topN(selfFromLevels(fb.flamebearer.names, fb.flamebearer.levels), 3), topN(selfWhere(ref, cpu(ref)), 3));
      assert.equal(fb.profile.id, id);

      const pprof = await get(`/pyroscope/profiles/${id}?query=${q(`${CPU}{}`)}&format=pprof`);
      assert.equal(pprof.status, 200);
      assert.equal(await pprofTotal(new Uint8Array(await pprof.arrayBuffer())), sumWhere(ref, cpu(ref)));
    }
    const limited = (await (await get(`/pyroscope/profiles?query=${q(`${CPU}{}`)}&from=${from}&until=${until}&limit=2`)).json()) as { profiles: unknown[] };
    assert.equal(limited.profiles.length, 2);

    assert.equal((await get(`/pyroscope/profiles/0123456789abcdef?query=${q(`${CPU}{}`)}`)).status, 404);
    assert.equal((await get(`/pyroscope/profiles/not-an-id?query=${q(`${CPU}{}`)}`)).status, 400);
    assert.equal((await get(`/pyroscope/profiles/${ids[0]}?query=${q(`${CPU}{}`)}&format=svg`)).status, 400);
    assert.equal((await get(`/pyroscope/profiles?query=${q(`${CPU}{}`)}&limit=0`)).status, 400);
    // Another tenant neither lists nor opens them.
    const other = (await (await get(`/pyroscope/profiles?query=${q(`${CPU}{}`)}&from=${from}&until=${until}`, 'someone-else')).json()) as { profiles: unknown[] };
    assert.deepEqual(other.profiles, []);
    assert.equal((await get(`/pyroscope/profiles/${ids[0]}?query=${q(`${CPU}{}`)}`, 'someone-else')).status, 404);
  });

  test('tenants: render, diff and download of another tenant hold nothing', async () => {
    const render = (await (await get(`/pyroscope/render?query=${q(`${CPU}{}`)}&from=${from}&until=${until}`, 'someone-else')).json()) as { flamebearer: { numTicks: number } };
    assert.equal(render.flamebearer.numTicks, 0);
    const dl = await get(`/pyroscope/pprof?query=${q(`${CPU}{}`)}&from=${from}&until=${until}`, 'someone-else');
    assert.equal(samplesOf(gunzipSync(new Uint8Array(await dl.arrayBuffer()))).samples.length, 0);
    assert.equal((await get(`/pyroscope/pprof?query=${q(`${CPU}{}`)}`, 'bad tenant!')).status, 400);
  });

  test('hostile matchers get a 400 pointing at the problem, or an empty result', async () => {
    for (const v of [`') OR 1=1 --`, `\\' OR '1'='1`, `\\\\`, `"; DROP TABLE hearth.samples; --`]) {
      const sel = `${CPU}{service_name="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"}`;
      const r = await get(`/pyroscope/render?query=${q(sel)}&from=${from}&until=${until}`);
      assert.equal(r.status, 200, sel);
      assert.equal(((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks, 0);
    }
    const syntax = await get(`/pyroscope/pprof?query=${q(`${CPU}{service_name="goapp"`)}`);
    assert.equal(syntax.status, 400);
    assert.match(await syntax.text(), /position/);
    const huge = await get(`/pyroscope/render-diff?leftQuery=${q(`${CPU}{a=~"${'(x+)+'.repeat(1000)}"}`)}&rightQuery=${q(`${CPU}{}`)}`);
    assert.equal(huge.status, 400);
    assert.match(await huge.text(), /regex longer/);
  });
});

function mergeSelf(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of refs) for (const [k, v] of selfWhere(r, cpu(r))) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}
