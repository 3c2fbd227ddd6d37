/**
 * Finding 7: slow clients are timed out. A stalled header, a stalled or trickled body, and an
 * idle connection each lose their socket, on HTTP/1.1 and on HTTP/2, with the timeouts made short
 * for the test; and a real Hearth runs with the default timeouts set.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import http2 from 'node:http2';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createHttpServer, HTTP_TIMEOUTS } from '../../core/http.ts';

let app: FastifyInstance;
let port: number;
before(async () => {
  app = createHttpServer({
    endpoint: '127.0.0.1:0',
    maxBodyBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
    timeouts: { headersMs: 500, requestMs: 1500, idleMs: 1000 },
  });
  app.post('/echo', async (req) => ({ bytes: (req.body as Buffer).length }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(() => app.close());

/** Writes `chunks` one per `everyMs` and resolves with what came back once the server closes. */
function slowClient(chunks: string[], everyMs: number, giveUpMs: number): Promise<{ closedByServer: boolean; answer: string }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i < chunks.length && !sock.destroyed) sock.write(chunks[i++]);
    }, everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      sock.destroy();
      resolve({ closedByServer: false, answer });
    }, giveUpMs);
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ closedByServer: true, answer });
    });
  });
}

test('a request whose headers never finish is closed', async () => {
  const r = await slowClient(['POST /echo HTTP/1.1\r\n', 'Host: x\r\n'], 50, 20_000);
  assert.equal(r.closedByServer, true);
});

test('a stalled body is closed with 408', async () => {
  const r = await slowClient(['POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 'abc'], 50, 20_000);
  assert.equal(r.closedByServer, true);
  assert.match(r.answer, /^HTTP\/1\.1 408 /);
  assert.match(r.answer, /Connection: close/i);
});

test('a trickled body is closed though bytes keep coming', async () => {
  const chunks = ['POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', ...Array.from({ length: 400 }, () => 'x')];
  const r = await slowClient(chunks, 100, 30_000);
  assert.equal(r.closedByServer, true);
  assert.match(r.answer, /^HTTP\/1\.1 408 /);
});

test('an idle keep-alive connection is closed after an answered request', async () => {
  const r = await slowClient(['POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok'], 10, 20_000);
  assert.equal(r.closedByServer, true);
  assert.match(r.answer, /^HTTP\/1\.1 200 /);
});

test('an HTTP/2 session that stalls its request body is closed', async () => {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  const closed = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 20_000);
    client.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  const stream = client.request({ ':method': 'POST', ':path': '/echo', 'content-length': '1000' });
  stream.on('error', () => {});
  stream.write('abc');
  assert.equal(await closed, true);
  client.destroy();
});

test('the defaults bound every phase of a request', () => {
  assert.ok(HTTP_TIMEOUTS.headersMs > 0 && HTTP_TIMEOUTS.headersMs <= 60_000);
  assert.ok(HTTP_TIMEOUTS.requestMs > 0 && HTTP_TIMEOUTS.requestMs <= 300_000);
  assert.ok(HTTP_TIMEOUTS.idleMs > 0 && HTTP_TIMEOUTS.idleMs <= 300_000);
  const server = createHttpServer({ endpoint: '127.0.0.1:0', maxBodyBytes: 1024, logger: pino({ level: 'silent' }) }).server;
  assert.equal(server.headersTimeout, HTTP_TIMEOUTS.headersMs);
  assert.equal(server.requestTimeout, HTTP_TIMEOUTS.requestMs);
  assert.equal(server.keepAliveTimeout, HTTP_TIMEOUTS.idleMs);
});
