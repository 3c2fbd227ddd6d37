/**
 * What a person meets first: `hearth start` on a terminal prints colored, readable logs and a
 * banner saying where to open, where to send profiles, where the data lives and which config
 * runs; piped, the same facts are fields of the JSON start line. `hearth validate --print`
 * shows the config as it would run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { singleNodeConfig, startHearth, tempDir } from '../support/hearth.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const tmp = tempDir();
after(() => tmp.remove());

const ESC = '\x1b[';
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `hearth start` inside a pseudo-terminal (util-linux `script`), so stdout is a TTY as in a
 * person's shell. Resolves once `until` matches the output, with what was printed so far.
 */
async function startOnTerminal(args: string[], until: RegExp) {
  const cmd = [process.execPath, '--import', tsxLoader, join(root, 'bin/hearth.ts'), 'start', ...args].map(shellQuote).join(' ');
  // detached: the child leads its own process group, so the stop signal reaches hearth under script.
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: tmp.dir, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no match for ${until} in time:\n${out}`)), 60_000);
    const check = () => {
      if (until.test(stripAnsi(out))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hearth exited with ${code} before it started:\n${out}`));
    });
  });
  return {
    output: () => out,
    async stop(): Promise<number | null> {
      if (child.exitCode !== null) return child.exitCode;
      process.kill(-child.pid!, 'SIGTERM');
      return exited;
    },
  };
}

test('on a terminal: a banner with the URL, ingest endpoints, data directory and config, and colored logs', async () => {
  const dataDir = join(tmp.dir, 'tty-data');
  const configFile = join(tmp.dir, 'tty.yaml');
  writeFileSync(configFile, singleNodeConfig(dataDir));
  const run = await startOnTerminal(['--config', configFile], /Stop with Ctrl-C/);
  try {
    const raw = run.output();
    const text = stripAnsi(raw).replace(/\r/g, '');
    const url = /Hearth is running at (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(text);
    assert.ok(url, text);
    const base = url[1].slice(0, -1);
    // The ingest endpoints come from the receiver itself, as mounted.
    assert.match(text, /Send profiles to\n/);
    assert.ok(text.includes(`${base}/ingest — `), text);
    assert.ok(text.includes(`${base}/push.v1.PusherService/Push — `), text);
    assert.match(text, /\(receivers\.pyroscope\)/);
    assert.ok(text.includes(`${base}/pyroscope/render — `), text);
    assert.match(text, new RegExp(`Data\\n\\s+${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} — embedded ClickHouse`));
    assert.ok(text.includes(`Config  ${configFile} (pipelines: profiles)`), text);
    // Pretty, colored log lines rather than JSON.
    assert.ok(raw.includes(ESC), 'escape codes on a terminal');
    assert.match(raw, /\x1b\[32mINFO\x1b\[39m/);
    assert.match(text, /\] INFO: schema migrated/);
    assert.doesNotMatch(text, /"level":\d+/);

    // The printed URL is the server: a profile sent to the printed ingest endpoint is stored.
    const push = await fetch(`${base}/ingest?name=first-run.cpu&sampleRate=100&from=now-10s&until=now`, { method: 'POST', body: 'main;work 4\n' });
    assert.equal(push.status, 200, await push.text());
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
});

test('--log-format json and --log-level override a terminal and the config', async () => {
  const configFile = join(tmp.dir, 'tty-json.yaml');
  // The config asks for info; the flag's debug wins.
  writeFileSync(configFile, singleNodeConfig(join(tmp.dir, 'tty-json-data')));
  const run = await startOnTerminal(['--config', configFile, '--log-format', 'json', '--log-level', 'debug'], /"msg":"hearth started"/);
  try {
    const port = /"address":"127\.0\.0\.1:(\d+)"/.exec(run.output())![1];
    const push = await fetch(`http://127.0.0.1:${port}/ingest?name=json-run.cpu&sampleRate=100`, { method: 'POST', body: 'main;work 2\n' });
    assert.equal(push.status, 200, await push.text());
    // The writer logs each flush at debug level.
    const deadline = Date.now() + 30_000;
    while (!/"level":20/.test(run.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const text = run.output();
    assert.match(text, /"level":20/);
    assert.doesNotMatch(text, /\x1b\[/);
    for (const line of text.split(/\r?\n/).filter((l) => l.trim() !== '')) JSON.parse(line);
  } finally {
    assert.equal(await run.stop(), 0, run.output());
  }
});

test('piped: JSON lines, with the banner facts as fields of the start line', async () => {
  const dataDir = join(tmp.dir, 'pipe-data');
  const hearth = await startHearth(singleNodeConfig(dataDir), tmp.dir);
  try {
    const line = hearth
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"hearth started"'));
    assert.ok(line, hearth.output());
    const started = JSON.parse(line) as Record<string, unknown>;
    assert.match(String(started.address), /^127\.0\.0\.1:\d+$/);
    const port = String(started.address).split(':')[1];
    assert.equal(started.url, `http://127.0.0.1:${port}/`);
    assert.ok((started.ingest as string[]).some((l) => l.startsWith(`http://127.0.0.1:${port}/ingest — `)));
    assert.ok((started.data as string[]).some((l) => l.startsWith(`${dataDir} — `)));
    assert.match(String(started.config), /pipelines-.*\.yaml$/);
    assert.doesNotMatch(hearth.output(), /\x1b\[/);
  } finally {
    assert.equal(await hearth.stop(), 0);
  }
});

test('hearth validate --print shows the resolved config with defaults, credentials hidden, and it validates again', () => {
  const file = join(tmp.dir, 'print.yaml');
  writeFileSync(
    file,
    ['receivers:', '  pyroscope: {}', 'exporters:', '  clickhouse:', '    url: http://ch:8123', '    password: ${env:CH_PASSWORD}', 'extensions:', '  api: {}', 'service:', '  extensions: [api]', '  pipelines:', '    profiles:', '      receivers: [pyroscope]', '      exporters: [clickhouse]'].join('\n'),
  );
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', tsxLoader, join(root, 'bin/hearth.ts'), ...args], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, CH_PASSWORD: 'hunter2' } });
  const r = run('validate', '--print', file);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /hunter2/);
  const doc = parse(r.stdout);
  assert.equal(doc.exporters.clickhouse.url, 'http://ch:8123');
  assert.equal(doc.exporters.clickhouse.password, '[redacted]');
  assert.equal(doc.exporters.clickhouse.flush_interval_ms, 200);
  assert.equal(doc.receivers.pyroscope.max_profile_bytes, 4 * 1024 * 1024);
  assert.equal(doc.service.http.endpoint, '0.0.0.0:4040');
  assert.deepEqual(doc.service.telemetry.logs, { level: 'info', format: 'auto' });
  assert.deepEqual(doc.service.pipelines.profiles, { receivers: ['pyroscope'], processors: [], exporters: ['clickhouse'] });

  const again = join(tmp.dir, 'printed.yaml');
  writeFileSync(again, r.stdout);
  const v = run('validate', again);
  assert.equal(v.status, 0, v.stderr);
});
