/**
 * `npx tsx soak/attacks.ts`: repeats the resource attacks of the hardening review against a real
 * single-node Hearth and prints, for each, the answer, how long it took and the server's RSS.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';

const tmp = tempDir('hearth-attacks-');
const hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
const port = Number(new URL(hearth.url).port);
const rssMb = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${hearth.child.pid}/status`, 'utf8'))![1]) / 1024);

async function timed<T>(what: string, fn: () => Promise<T>): Promise<void> {
  const before = rssMb();
  const t = Date.now();
  const result = await fn();
  console.log(`${what}: ${JSON.stringify(result)} in ${Date.now() - t} ms; RSS ${before} -> ${rssMb()} MB`);
}

// Finding 1: ten multipart uploads whose part has no Content-Disposition and 100 KB.
const b = 'attackboundary';
const noDisposition = Buffer.concat([Buffer.from(`--${b}\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.alloc(100_000, 0x61), Buffer.from(`\r\n--${b}--\r\n`)]);
await timed('finding 1: 10 multipart parts without Content-Disposition', async () => {
  const rs = await Promise.all(
    Array.from({ length: 10 }, () =>
      fetch(`${hearth.url}/ingest?name=attack`, { method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${b}` }, body: noDisposition, signal: AbortSignal.timeout(120_000) }).then(
        (r) => r.status,
        (e: Error) => e.name,
      ),
    ),
  );
  return rs;
});

// Finding 2: gzip push.v1 JSON of 200 MB whitespace, once and 8 at once.
const json = Buffer.alloc(200 * 1024 * 1024, 0x20);
json[0] = 0x7b;
json[json.length - 1] = 0x7d;
const bomb = gzipSync(json, { level: 9 });
console.log(`finding 2: the body is ${bomb.length} bytes compressed, ${json.length} inflated`);
const push = () =>
  fetch(`${hearth.url}/push.v1.PusherService/Push`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body: bomb }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 90)}`);
await timed('finding 2: one gzip push.v1 JSON bomb', push);
await timed('finding 2: 8 at once', () => Promise.all(Array.from({ length: 8 }, push)));
const ingestBomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
await timed('finding 2: gzip /ingest bomb (200 MB)', () =>
  fetch(`${hearth.url}/ingest?name=attack&format=pprof`, { method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: ingestBomb }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 90)}`),
);

/** Opens a raw connection, writes the chunks one per `everyMs`, and reports when and how the server closed it. */
function slow(first: string, drip: string, everyMs: number, giveUpMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    sock.write(first);
    const timer = setInterval(() => !sock.destroyed && drip && sock.write(drip), everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      sock.destroy();
      resolve('still open when the client gave up');
    }, giveUpMs);
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(`closed by the server; answer: ${answer.split('\r\n')[0] || '(none)'}${/connection: close/i.test(answer) ? ' with Connection: close' : ''}`);
    });
  });
}

// Finding 7: stalled headers, stalled body, trickled body, idle connection.
await timed('finding 7: stalled headers', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\n', '', 1000, 330_000));
await timed('finding 7: stalled body', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc', '', 1000, 330_000));
await timed('finding 7: body trickled at 1 byte/s', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n', 'x', 1000, 330_000));
await timed('finding 7: idle connection that sends nothing', () => slow('', '', 1000, 330_000));

// Finding 8: a 431, then a second request on the same keep-alive socket.
await timed('finding 8: 431 and the next request on that socket', () =>
  new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    let error = '';
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('error', (e) => (error = e.message));
    sock.on('close', () => resolve({ head: answer.split('\r\n\r\n')[0].split('\r\n'), secondRequestError: error || 'none (the server closed the socket cleanly)' }));
    sock.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    setTimeout(() => !sock.destroyed && sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), 200);
  }),
);

const t = Date.now();
const code = await hearth.stop('SIGTERM');
console.log(`SIGTERM: exit ${code} after ${Date.now() - t} ms`);
tmp.remove();
