/**
 * The scrape receiver against a real Go program (test/fixtures/goapp serving net/http/pprof),
 * through a real Hearth: CPU flame graphs show the program's hot functions; mutex and block
 * profiles are stored as the differences between consecutive cumulative scrapes, computed here
 * independently (with pprof-format) from what a recording proxy in front of the program served;
 * after the program restarts nothing negative is stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Profile } from 'pprof-format';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { rawPprof, referenceOf, selfFromLevels } from '../support/pprof-reference.ts';
import {
  activeTargets,
  buildGoapp,
  getJson,
  hasGo,
  scrapeNodeConfig,
  startGoapp,
  startRecordingProxy,
  waitFor,
  type GoApp,
  type RecordingProxy,
  type Served,
} from './scrape-support.ts';

const INTERVAL_S = 3;
const SERVICE = 'goapp';

interface StoredProfile {
  id: string;
  time: number;
  total: number;
  labels: Record<string, string>;
}

describe('scrape receiver: the Go program', { skip: !hasGo && 'go is not installed' }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let exe: string;
  let app: GoApp;
  let proxy: RecordingProxy;
  let hearth: HearthProcess;
  const startedSec = Math.floor(Date.now() / 1000) - 60;
  let restartedAt = 0;

  const range = () => `from=${startedSec}&until=${Math.ceil(Date.now() / 1000) + 60}`;
  const served = (path: string): Served[] => proxy.served.filter((s) => s.path.startsWith(path) && s.status === 200);

  async function stored(type: string): Promise<StoredProfile[]> {
    const q = encodeURIComponent(`${type}{service_name="${SERVICE}"}`);
    const r = await getJson<{ profiles: StoredProfile[] }>(`${hearth.url}/pyroscope/profiles?query=${q}&${range()}&limit=10000`);
    return r.profiles;
  }

  async function render(type: string) {
    const q = encodeURIComponent(`${type}{service_name="${SERVICE}"}`);
    return getJson<{ flamebearer: { names: string[]; levels: number[][]; numTicks: number } }>(`${hearth.url}/pyroscope/render?query=${q}&${range()}`);
  }

  before(async () => {
    tmp = tempDir('hearth-scrape-goapp-');
    exe = buildGoapp(tmp.dir);
    app = await startGoapp(exe);
    proxy = await startRecordingProxy(app.port);
    hearth = await startHearth(
      scrapeNodeConfig(`${tmp.dir}/data`, [
        {
          job_name: 'goapp',
          scrape_interval: `${INTERVAL_S}s`,
          static_configs: [{ targets: [`127.0.0.1:${proxy.port}`], labels: { service_name: SERVICE, env: 'test' } }],
        },
      ]),
      tmp.dir,
    );
  });

  after(async () => {
    await hearth?.stop();
    await proxy?.close();
    await app?.stop();
    tmp?.remove();
  });

  /**
   * The profiles a cumulative endpoint should have produced, by profile time (ms): for each
   * scrape after the first, the difference of totals from the scrape before, unless a total went
   * down (the program restarted), which starts a new baseline and yields nothing.
   */
  function expectedDeltas(path: string, typeIndex: number): Map<number, number> {
    const refs = served(path).map((s) => referenceOf(s.body));
    const out = new Map<number, number>();
    for (let i = 1; i < refs.length; i++) {
      const prev = refs[i - 1];
      const cur = refs[i];
      if (cur.totals.some((t, j) => t < prev.totals[j])) continue;
      const d = cur.totals[typeIndex] - prev.totals[typeIndex];
      if (d !== 0) out.set(Number(cur.timeNanos / 1_000_000n), d);
    }
    return out;
  }

  /** Every stored profile is an expected one with the same total; every expected one older than a scrape is stored. */
  async function assertStoredMatch(type: string, expected: () => Map<number, number>, minCount: number): Promise<void> {
    await waitFor(`${type}: stored profiles equal the independently computed ones`, async () => {
      const want = expected();
      if (want.size < minCount) return undefined;
      const got = await stored(type);
      const byTime = new Map(got.map((p) => [p.time, p]));
      for (const p of got) {
        const w = want.get(p.time);
        assert.notEqual(w, undefined, `${type}: stored profile at ${p.time} matches no served scrape`);
        assert.equal(p.total, w, `${type}: stored total at ${p.time}`);
        assert.ok(p.total >= 0, `${type}: negative total at ${p.time}`);
      }
      // The newest scrape may still be on its way into the store.
      const settled = [...want.keys()].filter((t) => t < Date.now() - 2000);
      return settled.every((t) => byTime.has(t)) && got.length >= minCount ? true : undefined;
    });
  }

  test('CPU profiles are stored as served, and flame graphs show the hot functions', async () => {
    await assertStoredMatch(
      'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
      () => {
        const m = new Map<number, number>();
        for (const s of served('/debug/pprof/profile')) {
          const ref = referenceOf(s.body);
          const i = ref.sampleTypes.findIndex((t) => t.type === 'cpu');
          if (ref.totals[i] > 0) m.set(Number(ref.timeNanos / 1_000_000n), ref.totals[i]);
        }
        return m;
      },
      3,
    );
    assert.ok(served('/debug/pprof/profile').every((s) => s.path.endsWith('?seconds=2')), 'CPU is profiled for the interval minus one second');
    const fb = (await render('process_cpu:cpu:nanoseconds:cpu:nanoseconds')).flamebearer;
    const self = selfFromLevels(fb.names, fb.levels);
    for (const fn of ['main.spinCheckout', 'main.spinSearch', 'main.spinRender', 'main.background']) {
      assert.ok((self.get(fn) ?? 0) > 0, `${fn} is in the CPU flame graph`);
    }
    // The program gives checkout three times render's share of work.
    assert.ok(self.get('main.spinCheckout')! > self.get('main.spinRender')!, 'spinCheckout burns more than spinRender');

    const targets = await activeTargets(hearth.url);
    const cpu = targets.find((t) => t.labels.__name__ === 'process_cpu');
    assert.ok(cpu, 'the CPU target is listed');
    assert.equal(cpu.health, 'up');
    assert.deepEqual(
      { job: cpu.labels.job, instance: cpu.labels.instance, service_name: cpu.labels.service_name, env: cpu.labels.env },
      { job: 'goapp', instance: `127.0.0.1:${proxy.port}`, service_name: SERVICE, env: 'test' },
    );
    assert.equal(cpu.discoveredLabels.__address__, `127.0.0.1:${proxy.port}`);
    assert.ok(cpu.lastScrape > '2000', 'last scrape time is set');
  });

  test('mutex and block profiles are the differences between consecutive scrapes', async () => {
    for (const [name, path] of [
      ['mutex', '/debug/pprof/mutex'],
      ['block', '/debug/pprof/block'],
    ] as const) {
      await assertStoredMatch(`${name}:contentions:count:contentions:count`, () => expectedDeltas(path, 0), 3);
      await assertStoredMatch(`${name}:delay:nanoseconds:contentions:count`, () => expectedDeltas(path, 1), 3);
    }
    const mutex = (await render('mutex:delay:nanoseconds:contentions:count')).flamebearer;
    assert.ok(mutex.names.includes('main.contendMutex'), 'the mutex flame graph shows the contending function');
    const block = (await render('block:delay:nanoseconds:contentions:count')).flamebearer;
    assert.ok(block.names.includes('main.waitOnChannel'), 'the block flame graph shows the waiting function');
  });

  test('after the program restarts, a new baseline: nothing negative is stored', async () => {
    const port = app.port;
    const before = served('/debug/pprof/mutex').length;
    await app.stop();
    restartedAt = Date.now();
    app = await waitFor('the program listening again on its port', () => startGoapp(exe, port).catch(() => undefined), 30_000);
    // Three scrapes of the restarted program: a baseline and two deltas.
    await waitFor('three mutex scrapes after the restart', () =>
      served('/debug/pprof/mutex').filter((s) => s.at > restartedAt).length >= 3 && served('/debug/pprof/block').filter((s) => s.at > restartedAt).length >= 3
        ? true
        : undefined,
    );
    assert.ok(served('/debug/pprof/mutex').length > before);
    for (const path of ['/debug/pprof/mutex', '/debug/pprof/block']) {
      const refs = served(path).map((x) => referenceOf(x.body));
      const drops = refs.filter((r, i) => i > 0 && r.totals.some((t, j) => t < refs[i - 1].totals[j]));
      assert.ok(drops.length >= 1, `${path}: the restart shows as counters going down in what was served`);
    }
    const metrics = await (await fetch(`${hearth.url}/metrics`)).text();
    for (const profile of ['mutex', 'block']) {
      const m = new RegExp(`hearth_scrape_counter_resets_total\\{[^}]*profile="${profile}"[^}]*\\} (\\d+)`).exec(metrics);
      assert.ok(m && Number(m[1]) >= 1, `${profile}: the reset is counted on /metrics`);
    }
    for (const [name, path] of [
      ['mutex', '/debug/pprof/mutex'],
      ['block', '/debug/pprof/block'],
    ] as const) {
      // The expected set skips the scrape whose totals went down; the stored set must too.
      await assertStoredMatch(`${name}:contentions:count:contentions:count`, () => expectedDeltas(path, 0), 5);
      await assertStoredMatch(`${name}:delay:nanoseconds:contentions:count`, () => expectedDeltas(path, 1), 5);
    }
    // Sample by sample, in each stored profile since the restart (the profile ID names it).
    const types = [
      'mutex:delay:nanoseconds:contentions:count',
      'block:delay:nanoseconds:contentions:count',
      'memory:alloc_space:bytes:space:bytes',
      'memory:alloc_objects:count:space:bytes',
    ];
    for (const type of types) {
      const recent = (await stored(type)).filter((p) => p.time >= restartedAt - INTERVAL_S * 1000);
      assert.ok(recent.length > 0, `${type}: profiles stored around the restart`);
      for (const p of recent) {
        const q = encodeURIComponent(`${type}{service_name="${SERVICE}"}`);
        const res = await fetch(`${hearth.url}/pyroscope/profiles/${p.id}?query=${q}&format=pprof`);
        assert.equal(res.status, 200);
        const prof = Profile.decode(rawPprof(new Uint8Array(await res.arrayBuffer())));
        for (const sample of prof.sample) {
          for (const v of sample.value) assert.ok(BigInt.asIntN(64, BigInt(v)) >= 0n, `${type}: profile ${p.id} has a negative sample`);
        }
      }
    }
    const allocs = (await render('memory:alloc_space:bytes:space:bytes')).flamebearer;
    assert.ok(allocs.names.includes('main.allocate'), 'the allocation flame graph shows the allocating function');
  });
});
