import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { resolve } from 'node:path';
import { createLogger, resolveLogFormat, startFacts, STARTED } from '../../core/logging.ts';
import { natsLocation } from '../../core/nats/connection.ts';

test('start facts: server paths join the URL, other locations stay, one store reported twice is listed once', () => {
  const f = startFacts({ host: '0.0.0.0', port: 4040 }, 'pipelines.yaml', ['profiles'], [
    { component: 'receivers.pyroscope', endpoint: { role: 'ingest', path: '/ingest', what: 'SDKs' } },
    { component: 'receivers.nats', endpoint: { role: 'ingest', location: natsLocation('nats://u:p@n1:4222,n2:4222'), what: 'stream' } },
    { component: 'exporters.clickhouse', endpoint: { role: 'data', location: '/var/lib/hearth', what: 'chDB' } },
    { component: 'extensions.api', endpoint: { role: 'data', location: '/var/lib/hearth', what: 'chDB' } },
  ]);
  assert.equal(f.address, '0.0.0.0:4040');
  assert.equal(f.url, 'http://localhost:4040/');
  assert.equal(f.config, resolve('pipelines.yaml'));
  assert.deepEqual(f.ingest, ['http://localhost:4040/ingest — SDKs (receivers.pyroscope)', 'nats://n1:4222,n2:4222 — stream (receivers.nats)']);
  assert.deepEqual(f.data, ['/var/lib/hearth — chDB (exporters.clickhouse)']);
  assert.equal(startFacts({ host: '::1', port: 1 }, 'c', [], []).url, 'http://[::1]:1/');
});

test('NATS locations lose their credentials, with or without a scheme', () => {
  assert.equal(natsLocation('nats://user:secret@a:4222, tls://token@b:4222,c:4222'), 'nats://a:4222,tls://b:4222,c:4222');
  assert.equal(natsLocation('user:secret@h:4222'), 'h:4222');
});

test('auto is pretty on a terminal and JSON elsewhere; forced pretty into a pipe has no colors', () => {
  assert.equal(resolveLogFormat('auto', true), 'pretty');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  let text = '';
  const out = Object.assign(new Writable({ write: (c, _e, cb) => ((text += c.toString()), cb()) }), { isTTY: false });
  const log = createLogger({ level: 'info', format: 'pretty', out });
  log.info({ k: 1 }, 'hello');
  log.info(startFacts({ host: '127.0.0.1', port: 9 }, 'c.yaml', ['profiles'], []), STARTED);
  assert.match(text, /INFO: hello\n\s+k: 1\n/);
  assert.match(text, /Hearth is running at http:\/\/127\.0\.0\.1:9\//);
  assert.doesNotMatch(text, /\x1b\[/);
});
