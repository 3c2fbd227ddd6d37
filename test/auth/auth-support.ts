/**
 * Credentials and config shared by the auth tests: an htpasswd file and a tokens file in a temp
 * directory, and a pipeline file whose shared port is guarded by both authenticators.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

export const PASSWORD_A = 'correct horse battery staple';
export const PASSWORD_B = 'tenant-b-password-2026';

export const TOKENS = {
  writeA: 'tok-write-tenant-a-0123456789',
  readA: 'tok-read-tenant-a-0123456789',
  adminB: 'tok-admin-tenant-b-0123456789',
  /** Holds tenant-a and tenant-c. */
  readAC: 'tok-read-tenants-a-c-0123456789',
  /** Added to the file while Hearth runs. */
  later: 'tok-added-later-0123456789',
};

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

export function tokensYaml(extra = ''): string {
  return `tokens:
  - { token: ${TOKENS.writeA}, tenant: tenant-a, role: write }
  - { token: ${TOKENS.readA}, tenant: tenant-a, role: read, name: dashboards }
  - { token: ${TOKENS.adminB}, tenant: tenant-b, role: admin }
  - { token: ${TOKENS.readAC}, tenants: [tenant-a, tenant-c], role: read }
${extra}`;
}

/**
 * Writes `htpasswd` (tenant-a, cost 10 as `htpasswd -B` makes it) and `tokens.yaml` into `dir`;
 * returns the inline htpasswd line of tenant-b for the config.
 */
export function writeCredentials(dir: string): { inlineB: string } {
  writeFileSync(join(dir, 'htpasswd'), `# users of the shared port\ntenant-a:${bcrypt.hashSync(PASSWORD_A, 10).replace(/^\$2b\$/, '$2y$')}\n`);
  writeFileSync(join(dir, 'tokens.yaml'), tokensYaml());
  return { inlineB: `tenant-b:${bcrypt.hashSync(PASSWORD_B, 4)}` };
}

/** The extensions block and service.http.auth of a guarded Hearth; files are relative to its working directory. */
export function authBlocks(dir: string, opts: { metricsAuth?: boolean } = {}): { extensions: string; auth: string } {
  const { inlineB } = writeCredentials(dir);
  return {
    extensions: `
  basicauth/server:
    htpasswd:
      file: ${JSON.stringify(join(dir, 'htpasswd'))}
      inline: ${JSON.stringify(inlineB)}
  bearertokenauth/server:
    tokens_file: ${JSON.stringify(join(dir, 'tokens.yaml'))}`,
    auth: `
    auth:
      authenticator: [basicauth/server, bearertokenauth/server]
      metrics_auth: ${opts.metricsAuth ?? false}`,
  };
}

/** Hearth with pyroscope and otlp on the shared port, an otlp receiver of its own guarded by bearer tokens, and the API. */
export function guardedConfig(dir: string, dataDir: string, opts: { metricsAuth?: boolean } = {}): string {
  const a = authBlocks(dir, opts);
  return `
receivers:
  pyroscope: {}
  otlp:
    protocols: { grpc: {}, http: {} }
  otlp/own:
    protocols:
      grpc: { endpoint: 127.0.0.1:0, auth: { authenticator: bearertokenauth/server } }
      http: { endpoint: 127.0.0.1:0, auth: { authenticator: bearertokenauth/server } }
exporters:
  clickhouse:
    path: ${JSON.stringify(dataDir)}
extensions:
  api: {}${a.extensions}
service:
  extensions: [api, basicauth/server, bearertokenauth/server]
  http:
    endpoint: 127.0.0.1:0${a.auth}
  pipelines:
    profiles:
      receivers: [pyroscope, otlp, otlp/own]
      exporters: [clickhouse]
    traces:
      receivers: [otlp, otlp/own]
      exporters: [clickhouse]
`;
}
