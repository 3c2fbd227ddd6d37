/**
 * Distributed mode end to end: real corpus profiles pushed to a collector process travel
 * through NATS JetStream to a store process, whose /pyroscope/render must then give, per
 * sample type, the totals and top self functions an independent decoder computes from the
 * files. The shipped example configs are run as they are, configured by env vars only.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORPUS_DIR, CORPUS_SKIP, HAS_CORPUS, corpusFile } from '../support/corpus.ts';
import { referenceOf, selfFromLevels, topN } from '../support/pprof-reference.ts';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { Processes, collectorConfig, metric, storeConfig, waitDrained } from '../support/distributed.ts';
import { fetchRetrying } from '../support/retrying-fetch.ts';


const examples = fileURLToPath(new URL('../../examples/distributed/', import.meta.url));
const NOT_PPROF = [/\.jfr\.gz$/, /\.collapsed$/, /\.txt(\.gz)?$/, /labels\.pb\.gz$/, /^otel-ebpf-profile/, /^cppbench\.cpu$/, /^MANIFEST\.md$/];

function corpusPprofs(): string[] {
  if (!HAS_CORPUS) return [];
  const out: string[] = [];
  for (const dir of readdirSync(CORPUS_DIR, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(CORPUS_DIR, dir.name))) if (!NOT_PPROF.some((re) => re.test(f))) out.push(`${dir.name}/${f}`);
  }
  return out.sort();
}

const tmp = tempDir('hearth-nats-e2e-');
const procs = new Processes();
const servers: NatsServer[] = [];
after(async () => {
  await procs.stopAll();
  await Promise.all(servers.map((s) => s.dispose()));
  tmp.remove();
});

/** Retries 429 and 503 as clients do: a collector just started under load may ask for it. */
async function push(url: string, tenant: string, service: string, bytes: Uint8Array): Promise<Response> {
  return fetchRetrying(`${url}/ingest?name=${encodeURIComponent(service)}&format=pprof&from=${Math.floor(Date.now() / 1000)}`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/octet-stream' },
    body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
  });
}

async function profileTypes(url: string, tenant: string): Promise<string[]> {
  const r = await fetch(`${url}/pyroscope/label-values?label=__name__&from=0&until=now%2B1d`, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as string[];
}

async function render(url: string, tenant: string, query: string): Promise<{ names: string[]; levels: number[][]; numTicks: number }> {
  const r = await fetch(`${url}/pyroscope/render?query=${encodeURIComponent(query)}&from=0&until=now%2B1d&maxNodes=1048576`, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { flamebearer: { names: string[]; levels: number[][]; numTicks: number } }).flamebearer;
}

/** Checks every sample type of `file` as stored under tenant/service against the independent reference. */
async function assertStored(storeUrl: string, file: string, tenant: string, service: string): Promise<void> {
  const ref = referenceOf(corpusFile(file));
  const types = await profileTypes(storeUrl, tenant);
  for (const [t, st] of ref.sampleTypes.entries()) {
    const suffix = `:${st.type.replaceAll('-', '_')}:${st.unit}:${ref.periodType.type}:${ref.periodType.unit}`;
    const id = types.find((x) => x.endsWith(suffix));
    // A sample type whose every value is zero holds no samples, so no series is made for it.
    if (!id && ref.self[t].size === 0) continue;
    assert.ok(id, `${file}: no profile type ending ${suffix} in ${JSON.stringify(types)}`);
    const fb = await render(storeUrl, tenant, `${id}{service_name="${service}"}`);
    assert.equal(fb.numTicks, ref.totals[t], `${file}: ${st.type} total`);
    const ours = selfFromLevels(fb.names, fb.levels);
    assert.deepEqual(topN(ours, 5).map(([, v]) => v), topN(ref.self[t], 5).map(([, v]) => v), `${file}: ${st.type} top-5 self values`);
    for (const [name, v] of topN(ours, 5)) assert.equal(ref.self[t].get(name), v, `${file}: ${st.type} self of ${name}`);
  }
}

describe('collector → NATS JetStream → store', { skip: CORPUS_SKIP, timeout: 240_000 }, () => {
  test('every corpus profile pushed to the collector is served by the store with the reference totals', async () => {
    const nats = await startNats();
    servers.push(nats);
    const collector = await procs.hearth(collectorConfig(nats.url), tmp.dir);
    const store = await procs.hearth(storeConfig(nats.url, join(tmp.dir, 'store-data')), tmp.dir);
    const files = corpusPprofs();
    assert.ok(files.length >= 20, `only ${files.length} corpus profiles`);
    const results = await Promise.all(files.map((f, i) => push(collector.url, `t${i}`, `svc-${i}`, corpusFile(f))));
    for (const [i, r] of results.entries()) assert.equal(r.status, 200, `${files[i]}: ${await r.text()}`);
    await waitDrained(nats.url);
    for (const [i, f] of files.entries()) await assertStored(store.url, f, `t${i}`, `svc-${i}`);
    // Every message was published once and acknowledged once: nothing was redelivered. A file
    // may hold several profiles (one per sample type group), which can share one message.
    const batches = await metric(collector.url, 'hearth_nats_published_total');
    assert.ok(batches >= files.length, `published ${batches} batches`);
    const messages = await metric(collector.url, 'hearth_nats_published_messages_total');
    assert.ok(messages >= files.length && messages <= batches, `published ${messages} messages`);
    assert.equal(await metric(store.url, 'hearth_nats_acknowledged_total'), messages);
    assert.equal(await metric(store.url, 'hearth_nats_redelivered_total'), 0);
  });

  test('the shipped examples/distributed configs run as they are, configured by env vars', async () => {
    const nats = await startNats();
    servers.push(nats);
    const env = { NATS_URL: nats.url, HEARTH_LISTEN: '127.0.0.1:0', HEARTH_DATA: join(tmp.dir, 'example-data') };
    const collector = await procs.hearth(readFileSync(join(examples, 'collector.yaml'), 'utf8'), tmp.dir, env);
    const store = await procs.hearth(readFileSync(join(examples, 'store.yaml'), 'utf8'), tmp.dir, env);
    const files = ['grafana-pyroscope/go.cpu.labels.pprof', 'google-pprof/large.cpu', 'grafana-pyroscope/go-heap.pb.gz'];
    for (const [i, f] of files.entries()) {
      const r = await push(collector.url, 'example', `example-${i}`, corpusFile(f));
      assert.equal(r.status, 200, await r.text());
    }
    await waitDrained(nats.url);
    for (const [i, f] of files.entries()) await assertStored(store.url, f, 'example', `example-${i}`);
    // The store keeps its data where HEARTH_DATA says.
    assert.ok(readdirSync(env.HEARTH_DATA).length > 0);
    assert.equal(await metric(store.url, 'hearth_nats_ready', { component: 'receivers/nats' }), 1);
    assert.equal(await metric(collector.url, 'hearth_nats_ready', { component: 'exporters/nats' }), 1);
  });
});
