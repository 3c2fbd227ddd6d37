/**
 * How auth is configured: references to authenticators are checked before anything starts (with
 * file and line), the authenticators' own settings are validated, secrets are not printed, and a
 * server reachable from other hosts without auth says so when it starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { ConfigError, parseConfig } from '../../core/config.ts';
import { resolvedYaml } from '../../core/config-print.ts';
import { createLogger } from '../../core/logging.ts';
import { Service } from '../../core/service.ts';
import { builtinComponents } from '../../components.ts';
import { parseHtpasswd } from '../../extensions/basicauth/htpasswd.ts';

const HASH = bcrypt.hashSync('pw', 4);

function config(extensions: string, listed: string, http: string, receivers = 'pyroscope: {}'): string {
  return `receivers:
  ${receivers}
exporters:
  debug: {}
extensions:
${extensions}
service:
  extensions: [${listed}]
  http:
    endpoint: 127.0.0.1:0
${http}
  pipelines:
    profiles:
      receivers: [${receivers.split(':')[0]}]
      exporters: [debug]
`;
}

const BASIC = `  basicauth/server:\n    htpasswd: { inline: "tenant-a:${HASH}" }\n  api: {}`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'pipelines.yaml', builtinComponents());
  } catch (err) {
    if (err instanceof ConfigError) return err.errors;
    throw err;
  }
  return [];
}

test('service.http.auth names running authenticators: defined, listed, and of an authenticator type', () => {
  const ok = parseConfig(config(BASIC, 'basicauth/server, api', '    auth: { authenticator: basicauth/server }'), 'pipelines.yaml', builtinComponents());
  assert.deepEqual(ok.service.http.auth, { authenticators: ['basicauth/server'], metricsAuth: false });

  assert.deepEqual(problems(config(BASIC, 'basicauth/server, api', '    auth: { authenticator: basicauth/other }')), [
    'pipelines.yaml:13: service.http.auth.authenticator: extension "basicauth/other" is not defined in extensions; declare an authenticator (basicauth, bearertokenauth) under that ID',
  ]);
  assert.deepEqual(problems(config(BASIC, 'basicauth/server, api', '    auth: { authenticator: [basicauth/server, api] }')), [
    'pipelines.yaml:13: service.http.auth.authenticator.1: extension "api" is not an authenticator (authenticator types: basicauth, bearertokenauth)',
  ]);
  const unlisted = problems(config(BASIC, 'api', '    auth:\n      authenticator: basicauth/server'));
  assert.ok(unlisted.includes('pipelines.yaml:14: service.http.auth.authenticator: extension "basicauth/server" is not listed in service.extensions, so it would not run'), unlisted.join('\n'));
});

test('a receiver\'s protocols.*.auth is checked the same way, and only guards a listener of its own', () => {
  const own = (auth: string) => `otlp:\n    protocols:\n      http: { endpoint: 127.0.0.1:0, auth: { authenticator: ${auth} } }`;
  assert.deepEqual(problems(config(BASIC, 'basicauth/server, api', '', own('basicauth/server'))), []);
  assert.deepEqual(problems(config(BASIC, 'basicauth/server, api', '', own('nope'))), [
    'pipelines.yaml:4: receivers.otlp.protocols.http.auth.authenticator: extension "nope" is not defined in extensions; declare an authenticator (basicauth, bearertokenauth) under that ID',
  ]);
  const shared = problems(config(BASIC, 'basicauth/server, api', '', 'otlp:\n    protocols:\n      http: { auth: { authenticator: basicauth/server } }'));
  assert.match(shared.join('\n'), /receivers\.otlp\.protocols\.http\.auth: auth guards the protocol's own server \(set its endpoint\); on the shared port, service\.http\.auth guards it/);
  const differing = problems(
    config(
      BASIC,
      'basicauth/server, api',
      '',
      'otlp:\n    protocols:\n      grpc: { endpoint: 127.0.0.1:4317, auth: { authenticator: basicauth/server } }\n      http: { endpoint: 127.0.0.1:4317 }',
    ),
  );
  assert.match(differing.join('\n'), /grpc and http share one server on this endpoint, so they need the same auth/);
});

test('basicauth and bearertokenauth settings are validated before start', () => {
  const bad = (ext: string) => problems(config(`${ext}\n  api: {}`, 'api, a', '    auth: { authenticator: a }').replaceAll('basicauth/server', 'a'));
  assert.match(bad('  basicauth/a:\n    htpasswd: {}').join('\n'), /set htpasswd.file or htpasswd.inline/);
  assert.match(bad(`  basicauth/a:\n    htpasswd: { inline: "tenant-a:{SHA}abc" }`).join('\n'), /htpasswd.inline line 1: the hash of "tenant-a" is not bcrypt/);
  assert.match(bad(`  bearertokenauth/a:\n    tokens: [{ token: short, tenant: t, role: read }]`).join('\n'), /a token has at least 16 characters/);
  assert.match(bad(`  bearertokenauth/a:\n    tokens: [{ token: 0123456789abcdef0, tenant: t, role: owner }]`).join('\n'), /expected one of "write", "read", "admin"/);
  assert.match(bad(`  bearertokenauth/a:\n    tokens: [{ token: 0123456789abcdef0, tenant: t, tenants: [u], role: read }]`).join('\n'), /give either tenant or tenants/);
  assert.match(bad('  bearertokenauth/a: {}').join('\n'), /set tokens_file or tokens/);
});

test('htpasswd: comments and blank lines, bcrypt only, user names that are tenant IDs, each user once', () => {
  const users = parseHtpasswd(`# team\n\ntenant-a:${HASH}\ntenant-b:${HASH.replace(/^\$2b\$/, '$2y$')}\n`, 'f');
  assert.deepEqual([...users.keys()], ['tenant-a', 'tenant-b']);
  assert.throws(() => parseHtpasswd('tenant-a:$apr1$abc$def', 'f'), /f line 1: the hash of "tenant-a" is not bcrypt/);
  assert.throws(() => parseHtpasswd(`bad/tenant:${HASH}`, 'f'), /f line 1: the user name is the tenant, and invalid tenant ID/);
  assert.throws(() => parseHtpasswd(`a:${HASH}\na:${HASH}`, 'f'), /f line 2: user "a" appears twice/);
  assert.throws(() => parseHtpasswd('no-colon', 'f'), /expected user:hash/);
});

test('validate --print hides tokens and htpasswd lines', () => {
  const text = config(
    `  basicauth/server:\n    htpasswd: { inline: "tenant-a:${HASH}" }\n  bearertokenauth/server:\n    tokens: [{ token: very-secret-token-1234, tenant: t, role: admin }]\n  api: {}`,
    'basicauth/server, bearertokenauth/server, api',
    '    auth: { authenticator: [basicauth/server, bearertokenauth/server] }',
  );
  const printed = resolvedYaml(parseConfig(text, 'pipelines.yaml', builtinComponents()));
  assert.doesNotMatch(printed, /very-secret-token-1234/);
  assert.ok(!printed.includes(HASH), printed);
  assert.match(printed, /metrics_auth: false/);
});

/** Starts a service on `endpoint` and returns what it logged. */
async function startLog(endpoint: string, auth = ''): Promise<string> {
  let logged = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      logged += String(chunk);
      done();
    },
  });
  const text = `receivers: { pyroscope: {} }
exporters: { debug: {} }
extensions:
  basicauth/server: { htpasswd: { inline: "tenant-a:${HASH}" } }
service:
  extensions: [basicauth/server]
  http: { endpoint: 127.0.0.1:0 ${auth} }
  pipelines: { profiles: { receivers: [pyroscope], exporters: [debug] } }
`;
  const s = new Service(parseConfig(text, 'pipelines.yaml', builtinComponents()), { endpoint, logger: createLogger({ level: 'info', format: 'json', out: out as never }) });
  await s.start();
  await s.shutdown();
  return logged;
}

test('listening beyond loopback without auth logs a warning that says so; with auth or on loopback it does not', async () => {
  const open = await startLog('0.0.0.0:0');
  const warning = open.split('\n').find((l) => l.includes('without authentication'));
  assert.ok(warning, open);
  assert.match(warning, /"level":40/);
  assert.match(warning, /anyone who can reach it can read and write every tenant \(set service.http.auth\)/);
  assert.doesNotMatch(await startLog('127.0.0.1:0'), /without authentication/);
  const guarded = await startLog('0.0.0.0:0', ', auth: { authenticator: basicauth/server }');
  assert.doesNotMatch(guarded, /without authentication/);
});
