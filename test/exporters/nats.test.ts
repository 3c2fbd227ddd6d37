/**
 * The `nats` exporter against a real nats-server: subjects, the stream it creates and keeps
 * up to date, the message it publishes (binary batch, Nats-Msg-Id), JetStream's duplicate
 * drop, and every authentication method it supports.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { jetstreamManager } from '@nats-io/jetstream';
import { createUser } from '@nats-io/nkeys';
import factory, { type NatsExporterConfig } from '../../exporters/nats/index.ts';
import receiverFactory from '../../receivers/nats/index.ts';
import { profileSubject, subjectToken, tokenName } from '../../core/nats/subject.ts';
import { decodeBatch, decodeBatches, encodeBatch } from '../../formats/batch/index.ts';
import { HearthError } from '../../core/errors.ts';
import type { Exporter, Host } from '../../core/component.ts';
import type { Batch } from '../../core/model.ts';
import { tempDir } from '../support/hearth.ts';
import { startNats, type NatsServer } from '../support/nats.ts';
import { natsClient } from '../support/distributed.ts';

const tmp = tempDir('hearth-nats-exporter-');
const servers: NatsServer[] = [];
const exporters: Exporter[] = [];
after(async () => {
  await Promise.all(exporters.map((e) => e.shutdown().catch(() => {})));
  await Promise.all(servers.map((s) => s.dispose()));
  tmp.remove();
});

async function server(args: string[] = []): Promise<NatsServer> {
  const s = await startNats({ args });
  servers.push(s);
  return s;
}

function config(over: Record<string, unknown>): NatsExporterConfig {
  const merged = { ...factory.defaultConfig(), ...over } as NatsExporterConfig;
  return factory.schema.parse(merged);
}

async function exporter(over: Record<string, unknown>): Promise<Exporter> {
  const e = factory.create({ id: 'nats', logger: pino({ level: 'silent' }), metrics: new Registry() }, config(over));
  exporters.push(e);
  await e.start({} as Host);
  return e;
}

function batch(key: string, tenant = 'team.a', service = 'check out*'): Batch {
  return {
    tenant,
    labels: { service_name: service, __name__: 'process_cpu' },
    idempotencyKey: key,
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: 1_700_000_000_000_000_000n,
      durationNanos: 10_000_000_000n,
      names: ['', 'main', 'work'],
      stacks: [Uint32Array.of(2, 1)],
      samples: [{ stack: 0, values: [30_000_000], labelSet: 0 }],
      sampleLabelSets: [{}],
    },
  };
}

describe('subjects', () => {
  test('tokens are escaped reversibly and stay short', () => {
    assert.equal(subjectToken('checkout-api_2'), 'checkout-api_2');
    assert.equal(subjectToken('a.b *>c%'), 'a%2Eb%20%2A%3Ec%25');
    assert.equal(subjectToken(''), '~');
    assert.equal(subjectToken('ü'), '%C3%BC');
    for (const name of ['a.b *>c%', '', 'ü✓', 'plain', '~tilde']) assert.equal(tokenName(subjectToken(name)), name);
    const long = subjectToken('x.'.repeat(200));
    assert.ok(long.length <= 96 && /~[0-9a-f]{15}$/.test(long), long);
    assert.notEqual(subjectToken('x.'.repeat(200)), subjectToken(`${'x.'.repeat(199)}y.`));
    assert.equal(profileSubject('hearth.profiles', 'team.a', 'check out*'), 'hearth.profiles.team%2Ea.check%20out%2A');
  });
});

describe('config', () => {
  test('the defaults are valid and unknown keys or two auth methods are refused', () => {
    assert.equal(factory.schema.safeParse(factory.defaultConfig()).success, true);
    assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), nope: 1 }).success, false);
    const two = { ...factory.defaultConfig(), auth: { ...factory.defaultConfig().auth, token: 't', user: 'u', password: 'p' } };
    assert.match(JSON.stringify(factory.schema.safeParse(two).error?.issues), /choose one authentication method/);
    assert.equal(factory.schema.safeParse({ ...factory.defaultConfig(), subject_prefix: 'a.*' }).success, false);
  });
});

test('both nats READMEs list every config key', () => {
  const keys = (o: object, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
  for (const [f, readme] of [
    [factory, '../../exporters/nats/README.md'],
    [receiverFactory, '../../receivers/nats/README.md'],
  ] as const) {
    const text = readFileSync(new URL(readme, import.meta.url), 'utf8');
    for (const k of keys(f.defaultConfig())) assert.ok(text.includes(`\`${k}\``), `${readme} does not list ${k}`);
  }
});

describe('nats exporter', { timeout: 60_000 }, () => {
  test('creates the stream, publishes the binary batch with its idempotency key, and JetStream drops a re-publish', async () => {
    const nats = await server();
    const e = await exporter({ url: nats.url });
    await e.consume(batch('key-1'));
    await e.consume(batch('key-1'));
    await e.consume(batch('key-2', 'anonymous', 'svc'));
    const nc = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('HEARTH_PROFILES');
      assert.deepEqual(info.config.subjects, ['hearth.profiles.>']);
      assert.equal(info.config.retention, 'workqueue');
      assert.equal(info.config.discard, 'new');
      assert.equal(info.state.messages, 2, 'the second publish of key-1 was a duplicate');
      const first = await jsm.streams.getMessage('HEARTH_PROFILES', { seq: 1 });
      assert.equal(first!.subject, 'hearth.profiles.team%2Ea.check%20out%2A');
      assert.equal(first!.header.get('Nats-Msg-Id'), 'key-1');
      assert.deepEqual(decodeBatch(first!.data), batch('key-1'));
    } finally {
      await nc.close();
    }
  });

  test('batches of one subject arriving together share a message; each settles with its ack', async () => {
    const nats = await server();
    const e = await exporter({ url: nats.url, linger_ms: 50 });
    const keys = ['g-1', 'g-2', 'g-3', 'g-4'];
    // A retry of g-2 while the original still waits joins it rather than being sent twice.
    await Promise.all([...keys.map((k) => e.consume(batch(k))), e.consume(batch('g-2')), e.consume(batch('other', 'anonymous', 'svc'))]);
    const nc = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info('HEARTH_PROFILES')).state.messages, 2, 'one message per subject');
      const bySubject = new Map<string, Batch[]>();
      for (const seq of [1, 2]) {
        const m = (await jsm.streams.getMessage('HEARTH_PROFILES', { seq }))!;
        bySubject.set(m.subject, decodeBatches(m.data));
      }
      assert.deepEqual(bySubject.get('hearth.profiles.team%2Ea.check%20out%2A'), keys.map((k) => batch(k)));
      assert.deepEqual(bySubject.get('hearth.profiles.anonymous.svc'), [batch('other', 'anonymous', 'svc')]);
    } finally {
      await nc.close();
    }
  });

  test('a group is split at max_message_bytes, and a failed publish answers every batch of its message', async () => {
    const nats = await server();
    const one = encodedSize(batch('size-probe-00'));
    const e = await exporter({ url: nats.url, linger_ms: 50, max_message_bytes: Math.max(4096, one * 3 + 64) });
    const many = Array.from({ length: Math.ceil(4096 / one) * 4 }, (_, i) => batch(`size-${String(i).padStart(4, '0')}`));
    await Promise.all(many.map((b) => e.consume(b)));
    const nc = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('HEARTH_PROFILES');
      assert.ok(info.state.messages > 1, `${many.length} batches went out as ${info.state.messages} messages`);
      const stored: Batch[] = [];
      for (let seq = 1; seq <= info.state.messages; seq++) {
        const m = (await jsm.streams.getMessage('HEARTH_PROFILES', { seq }))!;
        assert.ok(m.data.length <= Math.max(4096, one * 3 + 64), `message ${seq} of ${m.data.length} bytes`);
        stored.push(...decodeBatches(m.data));
      }
      assert.deepEqual(stored.map((b) => b.idempotencyKey).sort(), many.map((b) => b.idempotencyKey).sort());

      // No stream any more: every batch of the message is refused, none is left hanging.
      await jsm.streams.delete('HEARTH_PROFILES');
      const results = await Promise.allSettled(['lost-1', 'lost-2', 'lost-3'].map((k) => e.consume(batch(k))));
      for (const r of results) assert.ok(r.status === 'rejected' && r.reason instanceof HearthError && r.reason.status === 503, JSON.stringify(r));
    } finally {
      await nc.close();
    }
  });

  test('brings an existing stream to the configured settings, and leaves a matching one alone', async () => {
    const nats = await server();
    await exporter({ url: nats.url });
    const nc = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(nc);
      const before = await jsm.streams.info('HEARTH_PROFILES');
      await exporter({ url: nats.url, stream: { ...factory.defaultConfig().stream, max_age_seconds: 3600, max_bytes: 1 << 20 } });
      const changed = await jsm.streams.info('HEARTH_PROFILES');
      assert.equal(changed.config.max_age, 3600 * 1e9);
      assert.equal(changed.config.max_bytes, 1 << 20);
      assert.equal(changed.created, before.created, 'updated in place, not recreated');
      await exporter({ url: nats.url, stream: { ...factory.defaultConfig().stream, max_age_seconds: 3600, max_bytes: 1 << 20 } });
      assert.deepEqual((await jsm.streams.info('HEARTH_PROFILES')).config, changed.config);
    } finally {
      await nc.close();
    }
  });

  test('a stream deleted under a running exporter is created again', async () => {
    const nats = await server();
    const e = await exporter({ url: nats.url });
    await e.consume(batch('before'));
    const nc = await natsClient(nats.url);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('HEARTH_PROFILES');
      // The first publish finds no stream (a 503 the client retries); the exporter then sets it up again.
      await assert.rejects(e.consume(batch('lost')), (err: unknown) => err instanceof HearthError && err.status === 503);
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await e.consume(batch('after')).then(() => true, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ok, 'publishing works again');
      assert.equal((await jsm.streams.info('HEARTH_PROFILES')).state.messages, 1);
    } finally {
      await nc.close();
    }
  });

  test('a profile too large for max_payload is a 413, not a dropped connection', async () => {
    const conf = join(tmp.dir, 'small.conf');
    writeFileSync(conf, 'max_payload: 4096\n');
    const nats = await server(['-c', conf]);
    const e = await exporter({ url: nats.url, compress_above_bytes: 1 << 30 });
    const big = batch('big');
    big.profile.names = ['', ...Array.from({ length: 2000 }, (_, i) => `function_number_${i}`)];
    await assert.rejects(e.consume(big), (err: unknown) => err instanceof HearthError && err.status === 413 && /max_payload/.test(err.message));
    await e.consume(batch('small'));
  });

  test('authenticates with user/password and with a token; bad credentials mean 503, not a crash', async () => {
    const userPass = await server(['--user', 'hearth', '--pass', 's3cret']);
    await (await exporter({ url: userPass.url, auth: { ...factory.defaultConfig().auth, user: 'hearth', password: 's3cret' } })).consume(batch('u'));
    const token = await server(['--auth', 'tok-123']);
    await (await exporter({ url: token.url, auth: { ...factory.defaultConfig().auth, token: 'tok-123' } })).consume(batch('t'));
    const wrong = await exporter({ url: token.url, auth: { ...factory.defaultConfig().auth, token: 'wrong' } });
    await assert.rejects(wrong.consume(batch('w')), (err: unknown) => err instanceof HearthError && err.status === 503 && err.retryAfter === 1);
  });

  test('authenticates with an NKey seed', async () => {
    const user = createUser();
    const conf = join(tmp.dir, 'nkey.conf');
    writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const nats = await server(['-c', conf]);
    const seed = new TextDecoder().decode(user.getSeed());
    await (await exporter({ url: nats.url, auth: { ...factory.defaultConfig().auth, nkey_seed: seed } })).consume(batch('n'));
  });

  test('connects over TLS with a CA file and a client certificate', { skip: hasOpenssl() ? false : 'openssl is not installed' }, async () => {
    const d = tmp.dir;
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hearth-test-ca');
    writeFileSync(join(d, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const who of ['server', 'client']) {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
      ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '2', '-extfile', 'san.ext');
    }
    const nats = await server(['--tlsverify', '--tlscert', join(d, 'server.pem'), '--tlskey', join(d, 'server.key'), '--tlscacert', join(d, 'ca.pem')]);
    const tls = { enabled: true, ca_file: join(d, 'ca.pem'), cert_file: join(d, 'client.pem'), key_file: join(d, 'client.key') };
    await (await exporter({ url: `tls://127.0.0.1:${nats.port}`, tls })).consume(batch('tls'));
    // Without the client certificate the server refuses the connection.
    const noCert = await exporter({ url: `tls://127.0.0.1:${nats.port}`, tls: { ...tls, cert_file: '', key_file: '' }, connect_timeout_ms: 1000 });
    await assert.rejects(noCert.consume(batch('tls-2')), (err: unknown) => err instanceof HearthError && err.status === 503);
  });
});

function encodedSize(b: Batch): number {
  return encodeBatch(b).length;
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
