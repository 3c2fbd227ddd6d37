/**
 * The scrape receiver's targets: a file_sd_configs file edited while Hearth runs adds and
 * removes targets; a target that does not answer is down on /api/v1/targets while the others
 * are still scraped; relabel_configs see the discovery labels; and a third-party Go binary
 * (nats-server's --profile port) is scraped as well.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { freePort, startNats, type NatsServer } from '../support/nats.ts';
import { activeTargets, buildGoapp, getJson, hasGo, hasNats, scrapeNodeConfig, startGoapp, waitFor, type GoApp, type TargetView } from './scrape-support.ts';

interface StoredProfile {
  id: string;
  time: number;
  total: number;
  labels: Record<string, string>;
}

describe('scrape receiver: discovery and target health', { skip: (!hasGo && 'go is not installed') || (!hasNats && 'nats-server is not installed') }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let app: GoApp;
  let nats: NatsServer;
  let natsProfilePort: number;
  let deadPort: number;
  /** Accepts connections and never answers: scrapes of it can only time out. */
  let silent: Server;
  const silentSockets = new Set<Socket>();
  let hearth: HearthProcess;
  let sdDir: string;
  const startedSec = Math.floor(Date.now() / 1000) - 60;
  const range = () => `from=${startedSec}&until=${Math.ceil(Date.now() / 1000) + 60}`;

  async function stored(type: string, selector: string): Promise<StoredProfile[]> {
    const q = encodeURIComponent(`${type}${selector}`);
    return (await getJson<{ profiles: StoredProfile[] }>(`${hearth.url}/pyroscope/profiles?query=${q}&${range()}&limit=10000`)).profiles;
  }

  /** Writes a discovery file the way editors and config tools do: a new file renamed over the old. */
  function writeSd(name: string, groups: unknown): void {
    const tmpFile = join(sdDir, `.${name}.tmp`);
    writeFileSync(tmpFile, JSON.stringify(groups, null, 2));
    renameSync(tmpFile, join(sdDir, name));
  }

  const byService = (targets: TargetView[], service: string) => targets.filter((t) => t.labels.service_name === service);

  before(async () => {
    tmp = tempDir('hearth-scrape-sd-');
    app = await startGoapp(buildGoapp(tmp.dir));
    natsProfilePort = await freePort();
    nats = await startNats({ args: ['--profile', String(natsProfilePort)] });
    deadPort = await freePort();
    silent = createServer((socket) => {
      silentSockets.add(socket);
      socket.on('close', () => silentSockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    sdDir = join(tmp.dir, 'targets');
    mkdirSync(sdDir);
    writeSd('a.json', [
      { targets: [`127.0.0.1:${app.port}`], labels: { service_name: 'goapp-a' } },
      { targets: [`127.0.0.1:${deadPort}`], labels: { service_name: 'nothing-there' } },
      { targets: [`127.0.0.1:${silentPort}`], labels: { service_name: 'never-answers' } },
      { targets: [`127.0.0.1:${app.port}`], labels: { service_name: 'goapp-ignored', skip: 'yes' } },
    ]);
    const goroutineOnly = { process_cpu: { enabled: false }, memory: { enabled: false }, mutex: { enabled: false }, block: { enabled: false } };
    hearth = await startHearth(
      scrapeNodeConfig(join(tmp.dir, 'data'), [
        {
          job_name: 'files',
          scrape_interval: '2s',
          scrape_timeout: '1s',
          file_sd_configs: [{ files: [join(sdDir, '*.json')], refresh_interval: '1m' }],
          relabel_configs: [
            { source_labels: ['skip'], regex: 'yes', action: 'drop' },
            { source_labels: ['__meta_filepath'], regex: '.*/([^/]+)[.]json', target_label: 'sd_file' },
          ],
          profiling_config: { pprof_config: goroutineOnly },
        },
        {
          job_name: 'nats',
          scrape_interval: '3s',
          static_configs: [{ targets: [`127.0.0.1:${natsProfilePort}`], labels: { service_name: 'nats-server' } }],
        },
      ]),
      tmp.dir,
    );
  });

  after(async () => {
    await hearth?.stop();
    await app?.stop();
    await nats?.dispose();
    for (const socket of silentSockets) socket.destroy();
    silent?.close();
    tmp?.remove();
  });

  test('a target that does not answer is down, and the others are still scraped', async () => {
    const dead = await waitFor('the dead target to be marked down', async () => {
      const t = byService(await activeTargets(hearth.url), 'nothing-there');
      return t.length === 1 && t[0].health === 'down' ? t[0] : undefined;
    });
    assert.match(dead.lastError, /ECONNREFUSED|refused/i);
    assert.equal(dead.labels.instance, `127.0.0.1:${deadPort}`);
    assert.equal(dead.labels.job, 'files');
    assert.equal(dead.labels.sd_file, 'a', 'relabel_configs see __meta_filepath');
    assert.equal(dead.discoveredLabels.__meta_filepath, join(sdDir, 'a.json'));
    const hung = await waitFor('the silent target to time out', async () => {
      const t = byService(await activeTargets(hearth.url), 'never-answers');
      return t.length === 1 && t[0].health === 'down' ? t[0] : undefined;
    });
    assert.match(hung.lastError, /timed out/);

    // While it stays down, the live target keeps being stored, scrape after scrape.
    const first = (await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-a"}')).length;
    await waitFor('more goroutine profiles of the live target', async () => {
      const n = (await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-a"}')).length;
      return n >= first + 3 ? n : undefined;
    });
    const targets = await activeTargets(hearth.url);
    assert.equal(byService(targets, 'goapp-a')[0].health, 'up');
    assert.equal(byService(targets, 'nothing-there')[0].health, 'down');
    assert.equal(byService(targets, 'never-answers')[0].health, 'down');

    const metrics = await (await fetch(`${hearth.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`hearth_scrape_target_up\\{[^}]*instance="127.0.0.1:${deadPort}"[^}]*\\} 0`));
    assert.match(metrics, new RegExp(`hearth_scrape_target_up\\{[^}]*instance="127.0.0.1:${app.port}"[^}]*\\} 1`));
    assert.match(metrics, /hearth_scrape_duration_seconds\{/);

    // The target a rule dropped is listed with its discovered labels, as Prometheus lists it.
    const all = await getJson<{ data: { droppedTargets: Array<{ discoveredLabels: Record<string, string> }> } }>(`${hearth.url}/api/v1/targets?state=dropped`);
    assert.ok(all.data.droppedTargets.some((d) => d.discoveredLabels.service_name === 'goapp-ignored'));
    const bad = await fetch(`${hearth.url}/api/v1/targets?state=sideways`);
    assert.equal(bad.status, 400);
  });

  test('editing the discovery files adds and removes targets', async () => {
    writeSd('b.json', [{ targets: [`127.0.0.1:${app.port}`], labels: { service_name: 'goapp-b' } }]);
    writeSd('a.json', [{ targets: [`127.0.0.1:${deadPort}`], labels: { service_name: 'nothing-there' } }]);
    await waitFor('goapp-b listed and goapp-a gone', async () => {
      const t = await activeTargets(hearth.url);
      return byService(t, 'goapp-b').length === 1 && byService(t, 'goapp-a').length === 0 ? true : undefined;
    });
    await waitFor('goapp-b profiles stored', async () => {
      const p = await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-b"}');
      return p.length >= 2 && p.every((x) => x.labels.sd_file === 'b') ? true : undefined;
    });
    // goapp-a is no longer scraped: its count stops growing.
    const frozen = (await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-a"}')).length;
    const moreB = (await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-b"}')).length;
    await waitFor('two more goapp-b scrapes', async () =>
      (await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-b"}')).length >= moreB + 2 ? true : undefined,
    );
    assert.equal((await stored('goroutine:goroutine:count:goroutine:count', '{service_name="goapp-a"}')).length, frozen);

    rmSync(join(sdDir, 'b.json'));
    await waitFor('goapp-b removed once its file is deleted', async () => {
      const t = await activeTargets(hearth.url);
      return byService(t, 'goapp-b').length === 0 && byService(t, 'nothing-there').length === 1 ? true : undefined;
    });
  });

  test('nats-server --profile is scraped like any Go service', async () => {
    await waitFor('nats-server goroutine and memory profiles', async () => {
      const g = await stored('goroutine:goroutine:count:goroutine:count', '{service_name="nats-server"}');
      const m = await stored('memory:inuse_space:bytes:space:bytes', '{service_name="nats-server"}');
      return g.length >= 2 && m.length >= 1 ? true : undefined;
    });
    const q = encodeURIComponent('goroutine:goroutine:count:goroutine:count{service_name="nats-server"}');
    const fb = await getJson<{ flamebearer: { names: string[] } }>(`${hearth.url}/pyroscope/render?query=${q}&${range()}`);
    assert.ok(
      fb.flamebearer.names.some((n) => /nats-io\/nats-server\/(v2\/)?server\./.test(n)),
      'the goroutine flame graph shows nats-server functions',
    );
    const targets = (await activeTargets(hearth.url)).filter((t) => t.scrapePool === 'nats');
    assert.deepEqual(targets.map((t) => t.labels.__name__).sort(), ['block', 'goroutine', 'memory', 'mutex', 'process_cpu']);
    await waitFor('every nats-server target up', async () => ((await activeTargets(hearth.url)).filter((t) => t.scrapePool === 'nats').every((t) => t.health === 'up') ? true : undefined));
  });
});
