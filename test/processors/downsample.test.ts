/**
 * downsample, end to end through a real Hearth: profiles of one series pushed at 10 s spacing
 * over 3 minutes (explicit from/until) with a 1m window are stored as 3 profiles, and the flame
 * graph, its total and the per-span totals equal those of the same pushes through a rule that
 * turns merging off, and what the test sent. A SIGKILL while windows are open loses nothing
 * that got a 2xx.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@connectrpc/connect';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { transportFor } from '../api/harness.ts';
import { foldedFromFlamebearer, type Flamebearer } from '../support/flamebearer.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { CPU, Sent, getJson, pushProfile, syntheticProfile } from '../support/synthetic-profiles.ts';
import { factory } from '../../processors/downsample/index.ts';

const tmp = tempDir('hearth-downsample-');
const running: HearthProcess[] = [];
after(async () => {
  for (const h of running) await h.stop('SIGKILL').catch(() => {});
  tmp.remove();
});

function config(dir: string, maxDelay: string): string {
  return singleNodeConfig(
    dir,
    `
processors:
  downsample:
    window: 1m
    max_delay: ${maxDelay}
    rules:
      - match: '{service_name="unmerged"}'
        window: "0"
`,
  ).replace('      receivers: [pyroscope]\n', '      receivers: [pyroscope]\n      processors: [downsample]\n');
}

const q = encodeURIComponent;
/** A whole minute, ten minutes ago. */
const T0 = (Math.floor(Date.now() / 60_000) - 10) * 60_000;
const FROM = Math.floor(T0 / 1000) - 60;
const UNTIL = Math.floor(T0 / 1000) + 600;

test('config: windows and selectors are checked before anything starts', () => {
  assert.equal(factory.schema.safeParse(factory.defaultConfig()).success, true);
  const bad = factory.schema.safeParse({ ...factory.defaultConfig(), window: '1 minute' });
  assert.equal(bad.success, false);
  const badRule = factory.schema.safeParse({ ...factory.defaultConfig(), rules: [{ match: '{service_name=~"("}', window: '1m' }] });
  assert.equal(badRule.success, false);
});

test('18 pushes over 3 minutes become 3 profiles with the same flame graph, totals and span totals', async () => {
  const dir = tmp.dir + '/one';
  const hearth = await startHearth(config(dir, '3s'), tmp.dir);
  running.push(hearth);
  const sent = new Sent();
  const pushes: Promise<unknown>[] = [];
  for (let i = 0; i < 18; i++) {
    const p = syntheticProfile(i + 1, T0 + i * 10_000);
    sent.add(p);
    for (const service of ['merged', 'unmerged']) {
      pushes.push(
        pushProfile(hearth.url, `${service}{}`, p).then((r) => assert.equal(r.status, 200, `push ${i} to ${service}`)),
      );
    }
  }
  await Promise.all(pushes);

  const listed = async (service: string) =>
    (await getJson<{ profiles: Array<{ total: number }> }>(hearth.url, `/pyroscope/profiles?query=${q(`${CPU}{service_name="${service}"}`)}&from=${FROM}&until=${UNTIL}&limit=1000`)).profiles;
  const merged = await listed('merged');
  assert.equal(merged.length, 3, 'one profile per minute');
  assert.equal((await listed('unmerged')).length, 18);
  assert.equal(merged.reduce((a, p) => a + Number(p.total), 0), sent.total);

  const render = async (service: string) =>
    (await getJson<{ flamebearer: Flamebearer }>(hearth.url, `/pyroscope/render?query=${q(`${CPU}{service_name="${service}"}`)}&from=${FROM}&until=${UNTIL}&maxNodes=100000`)).flamebearer;
  const a = await render('merged');
  const b = await render('unmerged');
  assert.equal(a.numTicks, sent.total);
  assert.equal(b.numTicks, sent.total);
  assert.deepEqual(new Map([...foldedFromFlamebearer(a)].sort()), new Map([...foldedFromFlamebearer(b)].sort()));
  assert.deepEqual(new Map([...foldedFromFlamebearer(a)].sort()), new Map([...sent.stacks].sort()));

  const querier = createClient(QuerierService, transportFor('Connect JSON', hearth.url));
  for (const [span, expected] of sent.spans) {
    for (const service of ['merged', 'unmerged']) {
      const r = await querier.selectMergeSpanProfile({
        profileTypeID: CPU,
        labelSelector: `{service_name="${service}"}`,
        spanSelector: [span],
        start: BigInt(FROM * 1000),
        end: BigInt(UNTIL * 1000),
      });
      assert.equal(Number(r.flamegraph!.total), expected, `span ${span} in ${service}`);
    }
  }
  await hearth.stop('SIGTERM');
});

/** The processor's merged-profile counter, read from /metrics. */
async function mergedCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^hearth_processor_downsample_merged_total\{[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

test('a SIGKILL while windows are open loses nothing that got a 2xx, and a retry stores the rest once', async () => {
  const dir = tmp.dir + '/two';
  // Long enough that the second group is surely still held when the process is killed.
  let hearth = await startHearth(config(dir, '20s'), tmp.dir);
  running.push(hearth);
  const first = Array.from({ length: 12 }, (_, i) => syntheticProfile(100 + i, T0 + i * 10_000, 8, false));
  const second = Array.from({ length: 12 }, (_, i) => syntheticProfile(200 + i, T0 + 180_000 + i * 10_000, 8, false));
  const ok = new Sent();
  const all = new Sent();
  for (const p of [...first, ...second]) all.add(p);
  for (const r of await Promise.all(first.map((p) => pushProfile(hearth.url, 'killed{}', p)))) assert.equal(r.status, 200);
  for (const p of first) ok.add(p);

  const inFlight = second.map((p) =>
    pushProfile(hearth.url, 'killed{}', p, { retry: false }).then(
      (r) => ({ p, status: r.status }),
      () => ({ p, status: 0 }),
    ),
  );
  const deadline = Date.now() + 60_000;
  while ((await mergedCount(hearth.url)) < 24) {
    assert.ok(Date.now() < deadline, 'the second group never reached the processor');
    await new Promise((r) => setTimeout(r, 50));
  }
  await hearth.stop('SIGKILL');
  const outcomes = await Promise.all(inFlight);
  for (const o of outcomes) if (o.status === 200) ok.add(o.p);

  hearth = await startHearth(config(dir, '3s'), tmp.dir);
  running.push(hearth);
  const total = async () =>
    (await getJson<{ flamebearer: Flamebearer }>(hearth.url, `/pyroscope/render?query=${q(`${CPU}{service_name="killed"}`)}&from=${FROM}&until=${UNTIL}`)).flamebearer.numTicks;
  const stored = await total();
  assert.ok(stored >= ok.total, `stored ${stored} < acknowledged ${ok.total}`);
  assert.ok(stored <= all.total, `stored ${stored} > sent ${all.total}`);

  // What got no answer is sent again, as a client would; the total is then exact.
  const retried = outcomes.filter((o) => o.status !== 200);
  for (const r of await Promise.all(retried.map((o) => pushProfile(hearth.url, 'killed{}', o.p)))) assert.equal(r.status, 200);
  assert.equal(await total(), all.total);
  await hearth.stop('SIGTERM');
});
