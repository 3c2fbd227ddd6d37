/**
 * `hearth push DIR` against a running Hearth: good files are accepted and stored, bad ones are
 * refused with the server's own reason, files that are no profile are skipped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { spawnSync } from 'node:child_process';
import { hearthCli, hearthShellCommand, ingest, runProgram } from '../support/cli.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { GO_CPU_STACKS, PERIOD_NS, goCpuProfile, goCpuProfileGz } from '../support/go-cpu-profile.ts';

const tmp = tempDir('hearth-cli-push-');
let hearth: HearthProcess;
const service = `push-${Date.now().toString(36)}`;

before(async () => {
  hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

test('push DIR: accepts the good files, refuses the bad ones with the server reason, skips the rest', async () => {
  const now = Date.now();
  const dir = join(tmp.dir, 'profiles');
  mkdirSync(join(dir, 'nested'), { recursive: true });
  // Good: gzip pprof, raw pprof (named as nothing in particular), folded, folded gzip in a subfolder.
  writeFileSync(join(dir, 'cpu-1.pb.gz'), goCpuProfileGz(now - 60_000));
  writeFileSync(join(dir, 'cpu-2'), goCpuProfile(now - 30_000));
  writeFileSync(join(dir, 'stacks.folded'), 'main;work;compute 30\nmain;idle 10\n');
  writeFileSync(join(dir, 'nested', 'more.txt.gz'), gzipSync('main;work;compute 5\n'));
  // Bad: a pprof cut short, a folded file with a broken count.
  const truncated = goCpuProfile(now).subarray(0, 40);
  writeFileSync(join(dir, 'truncated.pprof'), truncated);
  writeFileSync(join(dir, 'broken.folded'), 'main;work 3\nmain;oops three\n');
  // Not a profile at all.
  writeFileSync(join(dir, 'NOTES.md'), '# notes about these profiles\n');

  const r = await hearthCli(['push', dir, '--name', `${service}{env=test}`, '--url', hearth.url]);
  assert.equal(r.status, 1, `refusals make the exit code 1\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^7 files: 4 accepted, 2 refused, 1 skipped$/m, r.stdout);
  assert.match(r.stdout, /^accepted: 2 pprof, 2 folded$/m, r.stdout);

  // The reasons are the server's: the same files posted directly get the same answers.
  const truncatedVerdict = await ingest(hearth.url, { name: `${service}-direct`, format: 'pprof' }, truncated);
  const brokenVerdict = await ingest(hearth.url, { name: `${service}-direct`, format: 'folded' }, readFileSync(join(dir, 'broken.folded')));
  assert.equal(truncatedVerdict.status, 400);
  assert.equal(brokenVerdict.status, 400);
  const refused = r.stdout.split('\n').filter((l) => l.startsWith('  '));
  assert.ok(refused.includes(`  truncated.pprof (pprof): 400 ${truncatedVerdict.message}`), r.stdout);
  assert.ok(refused.includes(`  broken.folded (folded): 400 ${brokenVerdict.message}`), r.stdout);
  assert.ok(refused.some((l) => l.startsWith('  NOTES.md: ')), r.stdout);
  // Without a terminal, one plain line per file goes to stderr.
  assert.equal(r.stderr.split('\n').filter((l) => /^(accepted|refused|skipped) /.test(l)).length, 7, r.stderr);

  // What was accepted is stored: the CPU total is the two pprof files' samples plus the folded
  // samples (45 at the default 100 Hz, 10 ms each); the refused files added nothing.
  const expectedCpu = 2 * GO_CPU_STACKS.reduce((a, s) => a + s.count, 0) * PERIOD_NS + 45 * 10_000_000;
  const q = new URLSearchParams({ query: `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="${service}"}`, from: 'now-1h', until: 'now+1m' });
  const render = (await (await fetch(`${hearth.url}/pyroscope/render?${q}`)).json()) as { flamebearer: { numTicks: number } };
  assert.equal(render.flamebearer.numTicks, expectedCpu);
});

test('push FILE: one good file exits 0 with a one-line summary', async () => {
  const file = join(tmp.dir, 'single.pb.gz');
  writeFileSync(file, goCpuProfileGz(Date.now() - 10_000));
  const r = await hearthCli(['push', file, '--name', `${service}-single`], { env: { HEARTH_URL: hearth.url } });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^1 file: 1 accepted, 0 refused, 0 skipped$/m);
});

test('push: a missing --name is a usage error', async () => {
  const r = await hearthCli(['push', tmp.dir, '--url', hearth.url]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--name is required/);
});

test('push finds a JFR recording by its content, whatever its name', { skip: CORPUS_SKIP }, async () => {
  const dir = join(tmp.dir, 'jfr');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'recording.bin'), corpusFile('grafana-jfr-parser/dump2.jfr.gz'));
  const r = await hearthCli(['push', dir, '--name', `${service}-java`, '--url', hearth.url]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^accepted: 1 jfr$/m);
});

const hasScript = spawnSync('sh', ['-c', 'command -v script'], { encoding: 'utf8' }).stdout.trim() !== '';

test('push draws a progress bar on a terminal', { skip: hasScript ? false : 'script (util-linux) is not installed' }, async () => {
  const dir = join(tmp.dir, 'tty');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `cpu-${i}.pb.gz`), goCpuProfileGz(Date.now() - (i + 1) * 1000));
  // `script` gives the command a pseudo-terminal; its output is what a person would see.
  const command = ['push', dir, '--name', `${service}-tty`, '--url', hearth.url].map((a) => `'${a}'`).join(' ');
  const r = await runProgram('script', ['-qec', `${hearthShellCommand().replace(' "$@"', '')} ${command}`, '/dev/null']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\r\x1b\[K\[#{30}\] 3\/3 accepted 3, refused 0, skipped 0/);
  assert.match(r.stdout, /3 files: 3 accepted, 0 refused, 0 skipped/);
  // The bar replaces the per-file lines.
  assert.doesNotMatch(r.stdout, /^accepted +\//m);
});
