/**
 * Regression tests of issue-14 findings 1, 2, 5 and 8 against a real Hearth: each request here
 * once froze, bloated or double-stored the server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { encodePprof } from '../../formats/pprof/encode.ts';
import { syntheticProfile } from '../support/synthetic-profiles.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';

const tmp = tempDir();
let hearth: HearthProcess;
before(async () => {
  hearth = await startHearth(singleNodeConfig(`${tmp.dir}/data`), tmp.dir);
});
after(async () => {
  await hearth?.stop('SIGKILL');
  tmp.remove();
});

/** POST that retries what a real client retries (429 and 503) and gives up after a deadline. */
async function post(path: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await fetch(hearth.url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : new Blob([body as Uint8Array<ArrayBuffer>]), signal: AbortSignal.timeout(60_000) });
    const text = await r.text();
    if ((r.status === 429 || r.status === 503) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 500));
      continue;
    }
    return { status: r.status, text };
  }
}

async function totalTicks(service: string, type = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds'): Promise<number> {
  const q = encodeURIComponent(`${type}{service_name="${service}"}`);
  const r = await fetch(`${hearth.url}/pyroscope/render?query=${q}&from=now-1d&until=now%2B1d`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks;
}

test('finding 1: a multipart part without Content-Disposition of 16 KiB and more is answered', async () => {
  const boundary = 'hearthboundary';
  const pprof = encodePprof(syntheticProfile(1, Date.now(), 8, false));
  for (const size of [16_384, 100_000]) {
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`),
      Buffer.alloc(size, 0x61),
      Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="profile"; filename="profile.pprof"\r\n\r\n`),
      pprof,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const r = await post(`/ingest?name=multipart-skip-${size}&from=now-10s&until=now`, body, { 'Content-Type': `multipart/form-data; boundary=${boundary}` });
    // The part without a name is skipped, as Pyroscope's form parser does; the profile is stored.
    assert.equal(r.status, 200, r.text);
  }
  const alone = Buffer.concat([Buffer.from(`--${boundary}\r\n\r\n`), Buffer.alloc(20_000, 0x61), Buffer.from(`\r\n--${boundary}--\r\n`)]);
  const r = await post('/ingest?name=multipart-skip-alone', alone, { 'Content-Type': `multipart/form-data; boundary=${boundary}` });
  assert.equal(r.status, 400, r.text);
  assert.match(JSON.parse(r.text).message, /no "profile" part/);
});

test('finding 2: a gzip push.v1 JSON body stops inflating at the request limit', async () => {
  // 200 MB of JSON whitespace around an empty request, about 200 KB once compressed.
  const json = Buffer.alloc(200 * 1024 * 1024, 0x20);
  json[0] = 0x7b;
  json[json.length - 1] = 0x7d;
  const gz = gzipSync(json, { level: 9 });
  const r = await fetch(`${hearth.url}/push.v1.PusherService/Push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    body: new Blob([gz]),
  });
  const text = await r.text();
  // invalid_argument: a size that can never fit is not worth a retry, unlike resource_exhausted.
  assert.equal(r.status, 400, text);
  assert.match(text, /inflates to more than 16777216 bytes/);
  // The same shape under the limit is a valid empty push.
  const small = Buffer.alloc(1024 * 1024, 0x20);
  small[0] = 0x7b;
  small[small.length - 1] = 0x7d;
  const ok = await post('/push.v1.PusherService/Push', gzipSync(small), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
  assert.equal(ok.status, 200, ok.text);
  // A binary body that is no PushRequest is the client's fault, not an internal error.
  const garbage = await post('/push.v1.PusherService/Push', Uint8Array.of(0x0a, 0x05, 0x01), { 'Content-Type': 'application/proto' });
  assert.equal(garbage.status, 400, garbage.text);
  assert.equal(JSON.parse(garbage.text).code, 'invalid_argument');
  // /ingest refuses its gzip bombs too (at the profile limit).
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  const ingest = await post('/ingest?name=bomb&format=pprof', bomb, { 'Content-Encoding': 'gzip' });
  assert.ok(ingest.status === 400 || ingest.status === 413, `${ingest.status} ${ingest.text}`);
  assert.match(ingest.text, /exceeds \d+ bytes/);
});

test('finding 5: retries of uploads without their own time are stored once', async () => {
  const folded = 'main;work 3\nmain;idle 2\n';
  for (let i = 0; i < 3; i++) assert.equal((await post('/ingest?name=retry-ingest.cpu&sampleRate=100', folded)).status, 200);
  assert.equal(await totalTicks('retry-ingest'), 5 * 10_000_000);

  const p = syntheticProfile(7, 0, 8, false);
  const raw = encodePprof({ ...p, timeNanos: 0n });
  const expected = p.samples.reduce((s, x) => s + x.values[0], 0);
  const request = JSON.stringify({
    series: [{ labels: [{ name: 'service_name', value: 'retry-push' }], samples: [{ ID: '', rawProfile: Buffer.from(raw).toString('base64') }] }],
  });
  for (let i = 0; i < 3; i++) {
    const r = await post('/push.v1.PusherService/Push', request, { 'Content-Type': 'application/json' });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(await totalTicks('retry-push'), expected);
});

/** Sends raw bytes on one keep-alive connection and collects what comes back until it closes. */
function rawExchange(port: number, first: string, second: string): Promise<{ answers: string; secondError?: string }> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1');
    let answers = '';
    sock.on('data', (d) => {
      answers += d.toString('latin1');
    });
    sock.on('error', (err) => resolve({ answers, secondError: err.message }));
    sock.on('close', () => resolve({ answers }));
    sock.write(first);
    setTimeout(() => {
      if (!sock.destroyed) sock.write(second);
    }, 200);
  });
}

test('finding 8: a 431 says Connection: close', async () => {
  const port = Number(new URL(hearth.url).port);
  const big = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
  const { answers } = await rawExchange(port, big, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(answers, /^HTTP\/1\.1 431 /);
  const head = answers.split('\r\n\r\n')[0];
  assert.match(head, /\r\nConnection: close/i, head);
});
