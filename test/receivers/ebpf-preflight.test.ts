/**
 * A Hearth whose ebpf receiver cannot sample refuses to start and says exactly why: run as an
 * unprivileged user, or with no bpftrace on the PATH.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/hearth.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const isRoot = process.geteuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
const hasBpftrace = spawnSync('bpftrace', ['--version'], { stdio: 'ignore' }).status === 0;

const CONFIG = `
receivers:
  ebpf: {}
exporters:
  debug: {}
service:
  http:
    endpoint: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [ebpf]
      exporters: [debug]
`;

const tmp = tempDir('hearth-ebpf-preflight-');
after(() => tmp.remove());
// The unprivileged run must be able to read the config.
chmodSync(tmp.dir, 0o755);
const configFile = join(tmp.dir, 'pipelines.yaml');
writeFileSync(configFile, CONFIG);
chmodSync(configFile, 0o644);

async function runHearth(prefix: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const argv = [...prefix, process.execPath, '--import', tsxLoader, join(root, 'bin/hearth.ts'), 'start', '--config', configFile];
  const child = spawn(argv[0], argv.slice(1), { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, out };
}

test('as an unprivileged user, start fails saying Hearth is not root', { skip: !isRoot ? 'switching to an unprivileged user needs root' : !hasSetpriv && 'setpriv is not installed' }, async () => {
  // nobody cannot write the tsx cache where root left it; give it a home of its own.
  const home = join(tmp.dir, 'nobody');
  mkdirSync(home, { mode: 0o777 });
  chmodSync(home, 0o777);
  const { code, out } = await runHearth(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], { ...process.env, HOME: home, TMPDIR: home });
  assert.equal(code, 1, out);
  assert.match(out, /receiver ebpf \(ebpf\) cannot start: Hearth is not running as root \(effective uid 65534\); loading eBPF programs needs root/);
  if (hasBpftrace) assert.doesNotMatch(out, /bpftrace was not found/);
  assert.doesNotMatch(out, /hearth started/);
});

test('with no bpftrace on the PATH, start fails saying so', async () => {
  // A PATH that still finds node's helpers but not bpftrace: a directory holding only a link to node.
  const bin = join(tmp.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  const { code, out } = await runHearth([], { ...process.env, PATH: bin });
  assert.equal(code, 1, out);
  assert.match(out, /receiver ebpf \(ebpf\) cannot start: .*bpftrace was not found on the PATH; install it/);
  if (isRoot) assert.doesNotMatch(out, /not running as root/);
  assert.doesNotMatch(out, /hearth started/);
});
