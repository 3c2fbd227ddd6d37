/**
 * The scrape receiver on a collector in distributed mode: scraped profiles go through NATS
 * JetStream to a store process and are queryable there. The shipped example configs validate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Processes, storeConfig } from '../support/distributed.ts';
import { tempDir, type HearthProcess } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { activeTargets, buildGoapp, getJson, hasGo, hasNats, startGoapp, waitFor, type GoApp } from './scrape-support.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the scrape examples validate (single node and collector)', () => {
  for (const file of ['examples/scrape/pipelines.yaml', 'examples/scrape/collector.yaml']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/hearth.ts'), 'validate', join(root, file)], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
  }
});

describe('scrape receiver in distributed mode', { skip: (!hasGo && 'go is not installed') || (!hasNats && 'nats-server is not installed') }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let nats: NatsServer;
  let app: GoApp;
  const procs = new Processes();
  let collector: HearthProcess;
  let store: HearthProcess;

  before(async () => {
    tmp = tempDir('hearth-scrape-dist-');
    nats = await startNats();
    app = await startGoapp(buildGoapp(tmp.dir));
    const collectorYaml = stringify({
      receivers: {
        scrape: {
          scrape_configs: [
            {
              job_name: 'goapp',
              scrape_interval: '2s',
              static_configs: [{ targets: [`127.0.0.1:${app.port}`], labels: { service_name: 'goapp-dist' } }],
              profiling_config: { pprof_config: { process_cpu: { enabled: false }, memory: { enabled: false }, block: { enabled: false } } },
            },
          ],
        },
      },
      exporters: { nats: { url: nats.url } },
      service: { http: { endpoint: '127.0.0.1:0' }, pipelines: { profiles: { receivers: ['scrape'], exporters: ['nats'] } } },
    });
    collector = await procs.hearth(collectorYaml, tmp.dir);
    store = await procs.hearth(storeConfig(nats.url, join(tmp.dir, 'data')), tmp.dir);
  });

  after(async () => {
    await procs.stopAll();
    await app?.stop();
    await nats?.dispose();
    tmp?.remove();
  });

  test('scraped goroutine and mutex profiles reach the store through JetStream', async () => {
    const range = `from=now-1h&until=now%2B1m`;
    for (const type of ['goroutine:goroutine:count:goroutine:count', 'mutex:delay:nanoseconds:contentions:count']) {
      const q = encodeURIComponent(`${type}{service_name="goapp-dist",job="goapp"}`);
      await waitFor(`${type} in the store`, async () => {
        const r = await getJson<{ profiles: Array<{ total: number }> }>(`${store.url}/pyroscope/profiles?query=${q}&${range}`);
        return r.profiles.length >= 2 && r.profiles.every((p) => p.total > 0) ? true : undefined;
      });
    }
    const targets = await activeTargets(collector.url);
    assert.deepEqual(targets.map((t) => [t.labels.__name__, t.health]).sort(), [
      ['goroutine', 'up'],
      ['mutex', 'up'],
    ]);
  });
});
