/**
 * Authentication of a real Hearth process with both authenticators on the shared port and bearer
 * tokens on an otlp receiver's own listener: open health routes, the tenant taken from the
 * credential, read-only credentials refused on every ingest path, credentials files re-read while
 * running, and the CLI's --user/--password.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { toBinary } from '@bufbuild/protobuf';
import bcrypt from 'bcryptjs';
import { encodePprof } from '../../formats/pprof/encode.ts';
import { PusherService } from '../../gen/push/v1/push_pb.ts';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { ExportProfilesServiceRequestSchema, ProfilesService } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { hearthCli } from '../support/cli.ts';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { CPU, Sent, syntheticProfile } from '../support/synthetic-profiles.ts';
import { richProfilesRequest } from '../receivers/otlp-support.ts';
import { basic, bearer, guardedConfig, PASSWORD_A, PASSWORD_B, TOKENS, tokensYaml } from './auth-support.ts';

const NOW_MS = Date.now();
let tmp: ReturnType<typeof tempDir>;
let hearth: HearthProcess;
let ownUrl: string;

before(async () => {
  tmp = tempDir('hearth-auth-e2e-');
  hearth = await startHearth(guardedConfig(tmp.dir, join(tmp.dir, 'data')), tmp.dir);
  const m = /"receiver":"otlp\/own","otlp_(?:grpc|http)_address":"[^"]*:(\d+)"/.exec(hearth.output());
  assert.ok(m, 'the own OTLP listener logs its address');
  ownUrl = `http://127.0.0.1:${m[1]}`;
});

after(async () => {
  await hearth?.stop();
  tmp?.remove();
});

/** A request as a well-behaved client: 429 and 503 retried. */
async function req(path: string, init: RequestInit & { headers?: Record<string, string> } = {}, base = hearth.url): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(base + path, init);
    if ((res.status === 429 || res.status === 503) && attempt < 60) {
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    return res;
  }
}

function pprofOf(seed: number, sent?: Sent): Uint8Array {
  const p = syntheticProfile(seed, NOW_MS - 60_000);
  sent?.add(p);
  return encodePprof(p);
}

async function ingestAs(authorization: string, service: string, body: Uint8Array, tenant?: string): Promise<Response> {
  const from = Math.floor(NOW_MS / 1000) - 60;
  const headers: Record<string, string> = { authorization, 'content-type': 'application/octet-stream' };
  if (tenant) headers['x-scope-orgid'] = tenant;
  return req(`/ingest?name=${encodeURIComponent(`${service}{}`)}&format=pprof&from=${from}&until=${from + 10}`, { method: 'POST', headers, body: body as BodyInit });
}

/** The total of a service's CPU flame graph as `authorization` (and tenant header) sees it. */
async function totalAs(authorization: string, service: string, tenant?: string): Promise<number> {
  const q = new URLSearchParams({ query: `${CPU}{service_name="${service}"}`, from: 'now-1h', until: 'now' });
  const headers: Record<string, string> = { authorization };
  if (tenant) headers['x-scope-orgid'] = tenant;
  const res = await req(`/pyroscope/render?${q}`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks;
}

function withAuth(authorization: string, tenant?: string): { headers: Record<string, string> } {
  return { headers: tenant ? { authorization, 'x-scope-orgid': tenant } : { authorization } };
}

async function refusal(call: Promise<unknown>): Promise<Code | 'ok'> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

const grpc = (base = hearth.url): Transport => createGrpcTransport({ baseUrl: base });
const connect = (): Transport => createConnectTransport({ baseUrl: hearth.url, httpVersion: '1.1' });

describe('a guarded Hearth', () => {
  test('health routes and /metrics answer without credentials; everything else asks for them', async () => {
    for (const p of ['/healthz', '/ready', '/metrics']) assert.equal((await req(p)).status, 200, p);
    const render = await req('/pyroscope/render?query=x');
    assert.equal(render.status, 401);
    assert.match(render.headers.get('www-authenticate') ?? '', /Basic realm="hearth"/);
    // A browser opening the UI gets the Basic challenge, shows its login dialog, and sends the
    // credentials with every later same-origin request of the page.
    const page = await req('/', { headers: { accept: 'text/html' } });
    assert.equal(page.status, 401);
    assert.match(page.headers.get('www-authenticate') ?? '', /^Basic realm="hearth"/);
    const logged = await req('/', { headers: { authorization: basic('tenant-a', PASSWORD_A) } });
    assert.equal(logged.status, 200);
    assert.match(logged.headers.get('content-type') ?? '', /text\/html/);
  });

  test('without X-Scope-OrgID the credential\'s tenant is used, for writing and for reading', async () => {
    const sentA = new Sent();
    assert.equal((await ingestAs(bearer(TOKENS.writeA), 'auth-own-tenant', pprofOf(1, sentA))).status, 200);
    const sentB = new Sent();
    assert.equal((await ingestAs(basic('tenant-b', PASSWORD_B), 'auth-own-tenant', pprofOf(2, sentB))).status, 200);
    assert.notEqual(sentA.total, sentB.total);

    assert.equal(await totalAs(basic('tenant-a', PASSWORD_A), 'auth-own-tenant'), sentA.total);
    assert.equal(await totalAs(basic('tenant-a', PASSWORD_A), 'auth-own-tenant', 'tenant-a'), sentA.total);
    assert.equal(await totalAs(basic('tenant-b', PASSWORD_B), 'auth-own-tenant'), sentB.total);
    assert.equal(await totalAs(bearer(TOKENS.readA), 'auth-own-tenant'), sentA.total);
    // A credential holding two tenants: the first by default, the other when named.
    assert.equal(await totalAs(bearer(TOKENS.readAC), 'auth-own-tenant'), sentA.total);
    assert.equal(await totalAs(bearer(TOKENS.readAC), 'auth-own-tenant', 'tenant-c'), 0);
    const other = await req('/pyroscope/render?query=x', withAuth(bearer(TOKENS.readAC), 'tenant-b'));
    assert.equal(other.status, 403);

    // The same over push.v1 (Connect) and the querier over gRPC.
    const pushed = pprofOf(3);
    const sentPush = new Sent();
    sentPush.add(syntheticProfile(3, NOW_MS - 60_000));
    await createClient(PusherService, connect()).push(
      { series: [{ labels: [{ name: '__name__', value: 'process_cpu' }, { name: 'service_name', value: 'auth-push' }], samples: [{ rawProfile: pushed, ID: 'auth-push-1' }] }] },
      withAuth(basic('tenant-b', PASSWORD_B)),
    );
    const querier = createClient(QuerierService, grpc());
    const seriesOf = async (authorization: string, tenant?: string) => {
      const r = await querier.series({ matchers: ['{service_name="auth-push"}'], start: BigInt(NOW_MS - 3_600_000), end: BigInt(NOW_MS + 60_000) }, withAuth(authorization, tenant));
      return r.labelsSet.length;
    };
    assert.ok((await seriesOf(basic('tenant-b', PASSWORD_B))) > 0, 'tenant-b sees what it pushed');
    assert.equal(await seriesOf(basic('tenant-a', PASSWORD_A)), 0, 'tenant-a does not');
    assert.equal(await refusal(seriesOf(basic('tenant-a', PASSWORD_A), 'tenant-b')), Code.PermissionDenied);
    assert.equal(await refusal(seriesOf(basic('tenant-b', 'wrong'))), Code.Unauthenticated);
  });

  test('a read-only credential cannot ingest on any path, and nothing of it is stored', async () => {
    const auth = bearer(TOKENS.readA);
    const body = pprofOf(4);
    const ingest = await ingestAs(auth, 'auth-readonly', body);
    assert.equal(ingest.status, 403);
    assert.match(((await ingest.json()) as { message: string }).message, /read-only/);

    const push = { series: [{ labels: [{ name: '__name__', value: 'process_cpu' }, { name: 'service_name', value: 'auth-readonly' }], samples: [{ rawProfile: body }] }] };
    assert.equal(await refusal(createClient(PusherService, connect()).push(push, withAuth(auth))), Code.PermissionDenied);
    assert.equal(await refusal(createClient(PusherService, grpc()).push(push, withAuth(auth))), Code.PermissionDenied);

    const otlp = richProfilesRequest(BigInt(NOW_MS) * 1_000_000n);
    const otlpBody = toBinary(ExportProfilesServiceRequestSchema, otlp);
    for (const base of [hearth.url, ownUrl]) {
      const res = await req('/v1development/profiles', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-protobuf' }, body: otlpBody as BodyInit }, base);
      assert.equal(res.status, 403, `OTLP/HTTP at ${base}`);
      assert.equal(await refusal(createClient(ProfilesService, grpc(base)).export(otlp, withAuth(auth))), Code.PermissionDenied, `OTLP/gRPC at ${base}`);
    }
    assert.equal(await totalAs(bearer(TOKENS.readA), 'auth-readonly'), 0);
    assert.equal(await totalAs(bearer(TOKENS.readA), 'checkout'), 0);
  });

  test('the otlp receiver\'s own listener takes the bearer tokens its protocols.*.auth names, and nothing else', async () => {
    const otlp = richProfilesRequest(BigInt(NOW_MS) * 1_000_000n);
    const body = toBinary(ExportProfilesServiceRequestSchema, otlp);
    const post = (headers: Record<string, string>) => req('/v1development/profiles', { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers }, body: body as BodyInit }, ownUrl);
    const none = await post({});
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="hearth"');
    // Basic credentials are valid on the shared port, but this listener only takes bearer tokens.
    const basicOnOwn = await post({ authorization: basic('tenant-a', PASSWORD_A) });
    assert.equal(basicOnOwn.status, 401);
    assert.match(((await basicOnOwn.json()) as { message: string }).message, /use Bearer/);
    assert.equal(await refusal(createClient(ProfilesService, grpc(ownUrl)).export(otlp)), Code.Unauthenticated);
    assert.equal((await post({ authorization: bearer(TOKENS.writeA), 'x-scope-orgid': 'tenant-b' })).status, 403);

    // Accepted with a write token, stored under the token's tenant only.
    const res = await createClient(ProfilesService, grpc(ownUrl)).export(otlp, withAuth(bearer(TOKENS.writeA)));
    assert.equal(res.partialSuccess?.rejectedProfiles, 1n, 'one profile of the fixture is invalid on purpose');
    const querier = createClient(QuerierService, grpc());
    const count = async (authorization: string) =>
      (await querier.series({ matchers: ['{service_name="checkout"}'], start: BigInt(NOW_MS - 3_600_000), end: BigInt(NOW_MS + 3_600_000) }, withAuth(authorization))).labelsSet.length;
    assert.ok((await count(basic('tenant-a', PASSWORD_A))) > 0);
    assert.equal(await count(basic('tenant-b', PASSWORD_B)), 0);
  });

  test('the CLI authenticates with --user and --password', async () => {
    const file = join(tmp.dir, 'cli.pb');
    const sent = new Sent();
    writeFileSync(file, pprofOf(5, sent));
    const login = ['--url', hearth.url, '--user', 'tenant-a', '--password', PASSWORD_A];
    const push = await hearthCli(['push', file, '--name', 'auth-cli{}', ...login]);
    assert.equal(push.status, 0, push.stderr);
    const series = await hearthCli(['query', 'series', '{service_name="auth-cli"}', '--from', 'now-1h', ...login]);
    assert.equal(series.status, 0, series.stderr);
    assert.match(series.stdout, /auth-cli/);
    // The same tenant's data, through a bearer token given by the environment.
    const viaEnv = await hearthCli(['query', 'series', '{service_name="auth-cli"}', '--from', 'now-1h', '--url', hearth.url], { env: { HEARTH_TOKEN: TOKENS.readA } });
    assert.match(viaEnv.stdout, /auth-cli/);

    const wrong = await hearthCli(['query', 'series', '{}', '--url', hearth.url, '--user', 'tenant-a', '--password', 'nope']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /401.*wrong user name or password/);
    const otherTenant = await hearthCli(['query', 'series', '{}', '--tenant', 'tenant-b', ...login]);
    assert.equal(otherTenant.status, 1);
    assert.match(otherTenant.stderr, /403.*does not hold tenant "tenant-b"/);
    const both = await hearthCli(['query', 'series', '{}', ...login, '--token', TOKENS.readA]);
    assert.equal(both.status, 2);
  });

  test('the tokens and htpasswd files are re-read when they change', async () => {
    const render = (authorization: string) => req('/pyroscope/render?query=' + encodeURIComponent(`${CPU}{}`), { headers: { authorization } }).then((r) => r.status);
    const until = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 60_000;
      while (!(await check())) {
        assert.ok(Date.now() < deadline, `${what} within 60 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    assert.equal(await render(bearer(TOKENS.later)), 401);
    appendFileSync(join(tmp.dir, 'tokens.yaml'), `  - { token: ${TOKENS.later}, tenant: tenant-d, role: read }\n`);
    await until('a new token works', async () => (await render(bearer(TOKENS.later))) === 200);

    // A broken file keeps the last good tokens in force.
    writeFileSync(join(tmp.dir, 'tokens.yaml'), 'tokens: [ {');
    await until('the refusal is logged', async () => /cannot be used; keeping the previous content/.test(hearth.output()));
    assert.equal(await render(bearer(TOKENS.later)), 200);
    writeFileSync(join(tmp.dir, 'tokens.yaml'), tokensYaml());
    await until('a removed token stops working', async () => (await render(bearer(TOKENS.later))) === 401);

    const newPassword = 'a new password for tenant-a';
    assert.equal(await render(basic('tenant-a', PASSWORD_A)), 200);
    writeFileSync(join(tmp.dir, 'htpasswd'), `tenant-a:${bcrypt.hashSync(newPassword, 4)}\n`);
    await until('the new password works', async () => (await render(basic('tenant-a', newPassword))) === 200);
    assert.equal(await render(basic('tenant-a', PASSWORD_A)), 401, 'the old password, remembered as valid before, no longer is');
    // tenant-b comes from htpasswd.inline and is untouched by the file.
    assert.equal(await render(basic('tenant-b', PASSWORD_B)), 200);
  });
});
