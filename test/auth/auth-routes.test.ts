/**
 * Every route of a started Hearth is behind service.http.auth, over HTTP and over gRPC. The routes
 * are not listed here: they are taken from the server's route table as the components register
 * them, so a route added later is covered without touching this test. Only the health routes are
 * open; /metrics is guarded here because this config sets metrics_auth.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import http2 from 'node:http2';
import { join } from 'node:path';
import type { RouteOptions } from 'fastify';
import { parseConfig } from '../../core/config.ts';
import { Service } from '../../core/service.ts';
import { builtinComponents } from '../../components.ts';
import { createLogger } from '../../core/logging.ts';
import { tempDir } from '../support/hearth.ts';
import { basic, bearer, guardedConfig, PASSWORD_A, TOKENS } from './auth-support.ts';

interface Route {
  method: string;
  url: string;
  write: boolean;
  open: boolean;
}

const OPEN_PATHS = ['/healthz', '/ready'];
/** A Connect / gRPC method path: /package.Service/Method. */
const RPC_PATH = /^\/[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/[A-Za-z_]\w*$/;

let tmp: ReturnType<typeof tempDir>;
let service: Service;
let url: string;
const routes: Route[] = [];

/**
 * (path, methods) of every route, from the server's printed route tree: it has the routes the
 * service added before any hook of this test could see them (health, metrics) as well as those of
 * the components.
 */
function routeTable(tree: string): { url: string; methods: string[] }[] {
  const out: { url: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([\s│├└─]*?)(?:[├└]── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    if (m[3]) out.push({ url: stack.join(''), methods: m[3].split(', ') });
  }
  return out;
}

before(async () => {
  tmp = tempDir('hearth-auth-routes-');
  const text = guardedConfig(tmp.dir, join(tmp.dir, 'data'), { metricsAuth: true });
  const config = parseConfig(text, join(tmp.dir, 'pipelines.yaml'), builtinComponents());
  service = new Service(config, { endpoint: '127.0.0.1:0', logger: createLogger({ level: 'warn', format: 'json' }) });
  // The route config (write, open) of what components add; the route tree lacks it.
  // Kept as registered and read after the start: hooks of a component's own scope (markWriteRoutes) run after this one.
  const options = new Map<string, RouteOptions>();
  service.http.addHook('onRoute', (r: RouteOptions) => {
    for (const method of [r.method].flat()) options.set(`${method} ${r.url}`, r);
  });
  const { port } = await service.start();
  url = `http://127.0.0.1:${port}`;
  for (const { url: path, methods } of routeTable(service.http.printRoutes({ commonPrefix: false }))) {
    for (const method of methods) {
      const f = options.get(`${method} ${path}`)?.config as { write?: boolean; open?: boolean } | undefined;
      routes.push({ method, url: path, write: !!f?.write, open: f ? !!f.open : OPEN_PATHS.includes(path) });
    }
  }
});

after(async () => {
  await service?.shutdown();
  tmp?.remove();
});

/** A concrete path for a route pattern: parameters and wildcards filled in. */
function pathOf(r: Route): string {
  return r.url.replace(/:[A-Za-z_]\w*/g, 'x').replace(/\*/g, 'x');
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The `message` of the JSON answer; undefined when there is no body (HEAD). */
  message(): string | undefined;
}

/** Any method, including those fetch refuses (TRACE, CONNECT). */
function send(r: Route, headers: Record<string, string>): Promise<Answer> {
  // The HTTP parser itself refuses a TRACE with a body, before any route is reached.
  const body = ['GET', 'HEAD', 'TRACE'].includes(r.method) ? undefined : '{}';
  return new Promise((resolve, reject) => {
    // Content-Length always: Node sends a DELETE or OPTIONS body unframed otherwise.
    const framing = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest(url + pathOf(r), { method: r.method, headers: { 'content-type': 'application/json', ...framing, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, message: () => (text ? (JSON.parse(text) as { message: string }).message : undefined) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One gRPC call over cleartext HTTP/2 with an empty message: the response headers (a refusal is trailers-only). */
function grpcCall(path: string, headers: Record<string, string>): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let got: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (got = { ...h }));
    req.on('trailers', (t) => (got = { ...got, ...t }));
    req.on('error', reject);
    req.on('data', () => {});
    req.on('end', () => {
      session.close();
      resolve(got);
    });
    req.end(Buffer.alloc(5));
  });
}

const guarded = () => routes.filter((r) => !r.open);

/** The refusal message, for every method but HEAD, whose answers have no body. */
function assertMessage(r: Route, res: Answer, pattern: RegExp): void {
  if (r.method === 'HEAD') assert.equal(res.message(), undefined);
  else assert.match(res.message() ?? '', pattern, `${r.method} ${r.url}`);
}

describe('every route of the shared port', () => {
  test('the route table has the routes of every component, and only health checks are open', (t) => {
    t.diagnostic(`${guarded().length} guarded (method, path) pairs on ${new Set(guarded().map((r) => r.url)).size} paths, ${guarded().filter((r) => r.method === 'POST' && RPC_PATH.test(r.url)).length} of them RPCs`);
    const urls = new Set(routes.map((r) => r.url));
    for (const expected of ['/ingest', '/push.v1.PusherService/Push', '/querier.v1.QuerierService/SelectMergeStacktraces', '/pyroscope/render', '/v1development/profiles', '/metrics', '/']) {
      assert.ok(urls.has(expected), `${expected} is in the route table (${[...urls].join(' ')})`);
    }
    assert.deepEqual([...new Set(routes.filter((r) => r.open).map((r) => r.url))].sort(), OPEN_PATHS.slice().sort());
    assert.ok(guarded().length >= 20, `${guarded().length} guarded routes`);
    // The routes that store data say so; nothing that only reads does.
    const writes = new Set(routes.filter((r) => r.write).map((r) => r.url));
    for (const w of ['/ingest', '/push.v1.PusherService/Push', '/v1development/profiles', '/v1/traces']) assert.ok(writes.has(w), `${w} is a write route`);
    for (const r of ['/pyroscope/render', '/querier.v1.QuerierService/LabelNames', '/api/sql', '/']) assert.ok(!writes.has(r), `${r} is not a write route`);
  });

  test('without credentials, or with wrong ones: 401, with a challenge for each scheme', async () => {
    for (const r of guarded()) {
      for (const headers of [{}, { authorization: basic('tenant-a', 'wrong password') }, { authorization: bearer('not-a-known-token-000000') }, { authorization: 'Digest x' }] as Record<string, string>[]) {
        const res = await send(r, headers);
        assert.equal(res.status, 401, `${r.method} ${r.url} with ${JSON.stringify(headers)}: ${res.status} ${res.message()}`);
        const challenges = [res.headers['www-authenticate'] ?? ''].flat().join('\n');
        assert.match(challenges, /Basic realm="hearth"/, `${r.method} ${r.url}`);
        assert.match(challenges, /Bearer/, `${r.method} ${r.url}`);
        assertMessage(r, res, /authentication required|wrong user name or password|unknown bearer token|scheme is not accepted/);
      }
    }
  });

  test('over gRPC, every RPC route without credentials is UNAUTHENTICATED', async () => {
    const rpcs = guarded().filter((r) => r.method === 'POST' && RPC_PATH.test(r.url));
    assert.ok(rpcs.length >= 10, `${rpcs.length} RPC routes`);
    for (const r of rpcs) {
      const h = await grpcCall(r.url, {});
      assert.equal(h[':status'], 200, r.url);
      assert.equal(h['grpc-status'], '16', `${r.url}: grpc-status ${h['grpc-status']} ${h['grpc-message']}`);
      const wrong = await grpcCall(r.url, { authorization: basic('tenant-a', 'nope') });
      assert.equal(wrong['grpc-status'], '16', r.url);
      // gRPC-Web (over HTTP/1.1) and Connect get the refusal in their own forms too.
      const web = await send(r, { 'content-type': 'application/grpc-web+proto' });
      assert.equal(web.status, 200, r.url);
      assert.equal(web.headers['grpc-status'], '16', `${r.url} over gRPC-Web`);
      const connect = await send(r, { 'connect-protocol-version': '1' });
      assert.equal(connect.status, 401, r.url);
    }
  });

  test('a tenant the credential does not hold: 403, over HTTP and gRPC', async () => {
    for (const r of guarded()) {
      const res = await send(r, { authorization: basic('tenant-a', PASSWORD_A), 'x-scope-orgid': 'tenant-b' });
      assert.equal(res.status, 403, `${r.method} ${r.url}`);
      assertMessage(r, res, /does not hold tenant "tenant-b"/);
      if (r.method === 'POST' && RPC_PATH.test(r.url)) {
        const h = await grpcCall(r.url, { authorization: bearer(TOKENS.adminB), 'x-scope-orgid': 'tenant-a' });
        assert.equal(h['grpc-status'], '7', `${r.url}: grpc-status ${h['grpc-status']}`);
      }
    }
  });

  test('a read-only credential cannot reach any write route, a write-only one no read route', async () => {
    for (const r of guarded()) {
      const token = r.write ? TOKENS.readA : TOKENS.writeA;
      const res = await send(r, { authorization: bearer(token) });
      assert.equal(res.status, 403, `${r.method} ${r.url} (${r.write ? 'write' : 'read'} route) with a ${r.write ? 'read' : 'write'} token`);
      assertMessage(r, res, r.write ? /read-only .* cannot send data/ : /may only send data/);
      if (r.method === 'POST' && RPC_PATH.test(r.url)) {
        const h = await grpcCall(r.url, { authorization: bearer(token) });
        assert.equal(h['grpc-status'], '7', `${r.url} over gRPC`);
      }
    }
  });

  test('the right credential passes the guard on every route (whatever the route then answers)', async () => {
    for (const r of guarded()) {
      const res = await send(r, { authorization: basic('tenant-a', PASSWORD_A) });
      assert.ok(res.status !== 401 && res.status !== 403, `${r.method} ${r.url}: ${res.status}`);
    }
  });

  test('health routes answer without credentials; /metrics needs them under metrics_auth', async () => {
    for (const p of OPEN_PATHS) assert.equal((await fetch(url + p)).status, 200, p);
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    const m = await fetch(`${url}/metrics`, { headers: { authorization: basic('tenant-a', PASSWORD_A) } });
    assert.equal(m.status, 200);
    assert.match(await m.text(), /hearth_pipeline_in_flight_batches/);
  });
});
