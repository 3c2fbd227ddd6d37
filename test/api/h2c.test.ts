/**
 * The shared port speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge): each connection is
 * sniffed for the HTTP/2 preface, however its first bytes are split into packets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { createH2cServer } from '../../core/h2c.ts';

let server: Server;
let port = 0;

before(async () => {
  server = createH2cServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${req.httpVersion} ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** Writes raw bytes in the given pieces, a tick apart, and returns everything read until close. */
async function raw(pieces: string[]): Promise<string> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let out = '';
  socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const closed = new Promise((r) => socket.once('close', r));
  for (const p of pieces) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, 20));
  }
  await closed;
  return out;
}

test('HTTP/1.1 with a body, the request line split over packets, keep-alive then close', async () => {
  const req = 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
  const second = 'GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const out = await raw(['P', 'O', req.slice(2), second]);
  assert.match(out, /200 OK[\s\S]*1\.1 POST \/a hello[\s\S]*200 OK[\s\S]*1\.1 GET \/b /);
});

test('HTTP/2 prior knowledge, the preface split over packets', async () => {
  const client = http2.connect(`http://127.0.0.1:${port}`, {
    // Deliver the connection preface a few bytes at a time.
    createConnection: () => {
      const s = connect(port, '127.0.0.1');
      const write = s.write.bind(s);
      let first = true;
      s.write = ((chunk: Buffer, ...rest: unknown[]) => {
        if (first && Buffer.isBuffer(chunk) && chunk.length > 8) {
          first = false;
          write(chunk.subarray(0, 3));
          setTimeout(() => write(chunk.subarray(3, 10)), 10);
          setTimeout(() => (write as (...a: unknown[]) => boolean)(chunk.subarray(10), ...rest), 20);
          return true;
        }
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof s.write;
      return s;
    },
  });
  try {
    for (const path of ['/x', '/y']) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = client.request({ ':path': path, ':method': 'POST' });
        let d = '';
        req.on('data', (c: Buffer) => (d += c));
        req.on('end', () => resolve(d));
        req.on('error', reject);
        req.end('hi');
      });
      assert.equal(body, `2.0 POST ${path} hi`);
    }
  } finally {
    client.close();
  }
});

test('a connection that closes before saying anything does no harm', async () => {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const closed = new Promise((r) => socket.once('close', r));
  socket.end();
  await closed;
  const out = await raw(['GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.match(out, /1\.1 GET \/c/);
});
