/**
 * The conformance corpus: every valid pprof in the shared corpus goes in through /ingest and
 * through push.v1, and /pyroscope/render must give back, per sample type, the total and the
 * top self functions that an independent decoder (pprof-format) computes from the same file.
 * Malformed inputs get a 400 that says what is wrong, and never cost other data.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync, createGzip } from 'node:zlib';
import { CORPUS_DIR, CORPUS_SKIP, HAS_CORPUS, corpusFile } from '../support/corpus.ts';
import { referenceOf, selfFromLevels, topN } from '../support/pprof-reference.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { fetchRetrying } from '../support/retrying-fetch.ts';

const NOT_PPROF = [/\.jfr\.gz$/, /\.collapsed$/, /\.txt(\.gz)?$/, /labels\.pb\.gz$/, /^otel-ebpf-profile/, /^cppbench\.cpu$/, /^MANIFEST\.md$/];

function corpusPprofs(): string[] {
  if (!HAS_CORPUS) return [];
  const out: string[] = [];
  for (const dir of readdirSync(CORPUS_DIR, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(CORPUS_DIR, dir.name))) {
      if (!NOT_PPROF.some((re) => re.test(f))) out.push(`${dir.name}/${f}`);
    }
  }
  return out.sort();
}

const files = corpusPprofs();
let hearth: HearthProcess;
const tmp = tempDir();

/** Retries 429 and 503 as clients do: many uploads at once may meet a full pipeline. */
async function push(path: 'ingest' | 'push', tenant: string, service: string, bytes: Uint8Array): Promise<Response> {
  if (path === 'ingest') {
    return fetchRetrying(`${hearth.url}/ingest?name=${encodeURIComponent(service)}&format=pprof&from=${Math.floor(Date.now() / 1000)}`, {
      method: 'POST',
      headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/octet-stream' },
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
    });
  }
  const body = {
    series: [{ labels: [{ name: 'service_name', value: service }], samples: [{ rawProfile: Buffer.from(bytes).toString('base64'), ID: '' }] }],
  };
  return fetchRetrying(`${hearth.url}/push.v1.PusherService/Push`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function profileTypes(tenant: string): Promise<string[]> {
  const r = await fetch(`${hearth.url}/pyroscope/label-values?label=__name__&from=0&until=now%2B1d`, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as string[];
}

async function render(tenant: string, query: string): Promise<{ flamebearer: { names: string[]; levels: number[][]; numTicks: number } }> {
  const url = `${hearth.url}/pyroscope/render?query=${encodeURIComponent(query)}&from=0&until=now%2B1d&maxNodes=1048576`;
  const r = await fetch(url, { headers: { 'X-Scope-OrgID': tenant } });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json() as never;
}

describe('conformance corpus', { skip: CORPUS_SKIP }, () => {
  before(async () => {
    hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
  });
  after(async () => {
    await hearth?.stop();
    tmp.remove();
  });

  for (const [i, file] of files.entries()) {
    for (const path of ['ingest', 'push'] as const) {
      test(`${file} via ${path === 'ingest' ? '/ingest' : 'push.v1'}`, async () => {
        const bytes = corpusFile(file);
        const ref = referenceOf(bytes);
        const tenant = `t${i}-${path}`;
        const service = `svc-${i}`;
        const res = await push(path, tenant, service, bytes);
        assert.equal(res.status, 200, `push failed: ${await res.text()}`);
        const types = await profileTypes(tenant);
        for (const [t, st] of ref.sampleTypes.entries()) {
          // As Pyroscope does, sample type names are stored with '-' turned into '_'.
          const suffix = `:${st.type.replaceAll('-', '_')}:${st.unit}:${ref.periodType.type}:${ref.periodType.unit}`;
          const id = types.find((x) => x.endsWith(suffix));
          // A sample type whose every value is zero holds no samples, so no series is made for it.
          if (!id && ref.self[t].size === 0) continue;
          assert.ok(id, `no profile type ending ${suffix} in ${JSON.stringify(types)}`);
          const fb = (await render(tenant, `${id}{service_name="${service}"}`)).flamebearer;
          assert.equal(fb.numTicks, ref.totals[t], `${st.type} total`);
          const ours = selfFromLevels(fb.names, fb.levels);
          const expected = topN(ref.self[t], 5);
          const got = topN(ours, 5);
          assert.deepEqual(got.map(([, v]) => v), expected.map(([, v]) => v), `${st.type} top-5 self values`);
          for (const [name, v] of got) assert.equal(ref.self[t].get(name), v, `${st.type} self of ${name}`);
        }
      });
    }
  }

  test('malformed inputs get a 400 that says what is wrong, and a valid push in the same window is kept', async () => {
    const valid = corpusFile('grafana-pyroscope/go.cpu.labels.pprof');
    const ref = referenceOf(valid);
    const rawLarge = corpusFile('google-pprof/large.cpu');
    const bomb = await gzipBomb(512 * 1024 * 1024);
    let seed = 42;
    const random = Buffer.alloc(64 * 1024, 0).map(() => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed & 0xff;
    });
    const malformed: Array<[string, Uint8Array, RegExp]> = [
      ['legacy gperftools profile', corpusFile('google-pprof/cppbench.cpu'), /legacy|not a pprof/i],
      ['truncated profile', gzipSync(Buffer.from(rawGunzip(rawLarge).subarray(0, 1_000_000))), /truncat/i],
      ['random bytes', random, /pprof|protobuf|invalid|truncat/i],
      ['gzip bomb', bomb, /exceeds|too large|limit/i],
    ];
    const results = await Promise.all([
      push('ingest', 'mixed', 'valid-neighbour', valid),
      ...malformed.map(([, bytes]) => push('ingest', 'mixed', 'bad', bytes)),
      ...malformed.map(([, bytes]) => push('push', 'mixed', 'bad', bytes)),
    ]);
    assert.equal(results[0].status, 200);
    const bodies = await Promise.all(results.map((r) => r.text()));
    malformed.forEach(([what, , re], k) => {
      for (const idx of [1 + k, 1 + malformed.length + k]) {
        assert.equal(results[idx].status, 400, `${what}: ${bodies[idx]}`);
        assert.match(bodies[idx], re, `${what}: ${bodies[idx]}`);
      }
    });
    const health = await fetch(`${hearth.url}/healthz`);
    assert.equal(health.status, 200);
    const types = await profileTypes('mixed');
    const id = types.find((x) => x.includes(':cpu:nanoseconds:'))!;
    const fb = (await render('mixed', `${id}{service_name="valid-neighbour"}`)).flamebearer;
    assert.equal(fb.numTicks, ref.totals[ref.sampleTypes.findIndex((s) => s.type === 'cpu')]);
  });
});

function rawGunzip(b: Uint8Array): Buffer {
  return b[0] === 0x1f ? gunzipSync(b) : Buffer.from(b);
}

/** `size` bytes of zeros, gzipped: a few hundred KiB that inflate to hundreds of MiB. */
async function gzipBomb(size: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => gz.on('end', r));
  const zeros = Buffer.alloc(1 << 20);
  for (let written = 0; written < size; written += zeros.length) {
    if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return Buffer.concat(chunks);
}
