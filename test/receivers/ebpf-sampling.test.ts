/**
 * The ebpf receiver sampling real processes through a real Hearth: a C program built here with
 * gcc and the Go program of test/fixtures/goapp each burn CPU in a function of their own. Their
 * flame graphs must carry the executable's name as service_name, have that function hottest,
 * and hold as many samples as the process's own CPU time (read from /proc/PID/stat) times the
 * sample rate, within 20%.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { selfFromLevels } from '../support/pprof-reference.ts';

const SAMPLE_RATE = 99;
const COLLECT_INTERVAL_MS = 1_000;
/** How long the Go program runs before it is frozen and its CPU time read. */
const BURN_MS = 9_000;
/** CPU time the C program burns before it is frozen; on a busy machine that takes longer than it would alone. */
const C_CPU_SECONDS = 3;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const GOAPP = fileURLToPath(new URL('../fixtures/goapp/main.go', import.meta.url));
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const isRoot = process.geteuid?.() === 0;
const hasBpftrace = spawnSync('bpftrace', ['--version'], { stdio: 'ignore' }).status === 0;
const hasGcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
const skip = !isRoot
  ? 'sampling with eBPF needs root, and the tests run unprivileged'
  : !hasBpftrace
    ? 'bpftrace is not installed'
    : false;

const C_PROGRAM = `
#include <stdlib.h>
#include <time.h>
volatile double sink;
/* All the CPU time goes here, so it is the hottest function by far. */
__attribute__((noinline)) void hearth_burn_cpu(long rounds) {
  double x = sink;
  for (long i = 0; i < rounds; i++) x = x * 1.0000001 + (double)i;
  sink = x;
}
int main(void) {
  for (;;) hearth_burn_cpu(1000000);
}
`;

const tmp = tempDir('hearth-ebpf-');
let hearth: HearthProcess | undefined;
const children: ChildProcess[] = [];

before(async () => {
  if (skip) return;
  hearth = await startHearth(config(tmp.dir), tmp.dir);
  // The programs start only once the probes are attached, so all their CPU time is sampled.
  await waitFor(() => hearth!.output().includes('bpftrace attached'), 60_000, 'bpftrace never attached');
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await hearth?.stop();
  tmp.remove();
});

function config(dir: string): string {
  const data = join(dir, 'data');
  // Only executables under this test's directory are profiled, so other processes on the node cannot disturb the counts.
  const exeRegex = `${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*`;
  return `
receivers:
  ebpf:
    sample_rate: ${SAMPLE_RATE}
    collect_interval: ${COLLECT_INTERVAL_MS}ms
    relabel_configs:
      - source_labels: [__meta_process_exe]
        regex: ${JSON.stringify(exeRegex)}
        action: keep
exporters:
  clickhouse:
    path: ${JSON.stringify(data)}
extensions:
  api:
    path: ${JSON.stringify(data)}
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [ebpf]
      exporters: [clickhouse]
`;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}\n${hearth?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** utime + stime of every thread of the process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

interface Flamebearer {
  names: string[];
  levels: number[][];
  numTicks: number;
}

async function render(service: string): Promise<Flamebearer> {
  const q = encodeURIComponent(`${CPU}{service_name="${service}"}`);
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(`${hearth!.url}/pyroscope/render?query=${q}&from=now-1h&until=now%2B1m&maxNodes=4096`);
    if (r.ok) return ((await r.json()) as { flamebearer: Flamebearer }).flamebearer;
    if ((r.status !== 503 && r.status !== 429) || attempt > 20) assert.fail(`render ${r.status}: ${await r.text()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/**
 * Lets the process run until `done`, freezes it (SIGSTOP: no more CPU time, /proc stays
 * readable), reads its CPU time, then waits until the stored total has stopped growing.
 */
async function sampleProgram(child: ChildProcess, service: string, done: () => boolean): Promise<{ cpu: number; fb: Flamebearer }> {
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  await waitFor(() => done() || child.exitCode !== null, 120_000, `${service} never got enough CPU`);
  assert.equal(child.exitCode, null, `${service} exited early: ${out}`);
  child.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 100));
  const cpu = cpuSeconds(child.pid!);
  let last = -1;
  let fb: Flamebearer | undefined;
  // The last window reaches the store one collect interval later, plus the writer's batching.
  await waitFor(
    async () => {
      await new Promise((r) => setTimeout(r, COLLECT_INTERVAL_MS * 2));
      fb = await render(service);
      const settled = fb.numTicks > 0 && fb.numTicks === last;
      last = fb.numTicks;
      return settled;
    },
    90_000,
    `${service}: the stored profile never settled`,
  );
  child.kill('SIGKILL');
  return { cpu, fb: fb! };
}

function checkProfile(service: string, hot: string, cpu: number, fb: Flamebearer, log: (m: string) => void): void {
  const self = selfFromLevels(fb.names, fb.levels);
  const ranked = [...self].sort((a, b) => b[1] - a[1]);
  assert.equal(ranked[0]?.[0], hot, `${service}: hottest functions ${JSON.stringify(ranked.slice(0, 5))}`);
  const period = Math.round(1e9 / SAMPLE_RATE);
  const samples = fb.numTicks / period;
  const expected = cpu * SAMPLE_RATE;
  assert.ok(cpu >= 0.5, `${service} got too little CPU to judge (${cpu} s)`);
  const ratio = samples / expected;
  log(`${service}: ${samples} samples for ${cpu.toFixed(2)} s of CPU (expected ${expected.toFixed(0)}, ratio ${ratio.toFixed(3)}); hottest ${hot}`);
  assert.ok(Math.abs(ratio - 1) <= 0.2, `${service}: ${samples} samples for ${cpu.toFixed(2)} s of CPU at ${SAMPLE_RATE} Hz (expected ${expected.toFixed(0)}, ratio ${ratio.toFixed(3)})`);
}

test('a C program burning CPU: service_name is the executable, its burning function is hottest, samples match its CPU time', { skip: skip || (!hasGcc && 'gcc is not installed') }, async (t) => {
  const src = join(tmp.dir, 'burner.c');
  const exe = join(tmp.dir, 'cburner');
  writeFileSync(src, C_PROGRAM);
  const cc = spawnSync('gcc', ['-g', '-O1', '-fno-omit-frame-pointer', '-o', exe, src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const child = spawn(exe, [], { stdio: 'ignore' });
  const { cpu, fb } = await sampleProgram(child, 'cburner', () => cpuSeconds(child.pid!) >= C_CPU_SECONDS);
  checkProfile('cburner', 'hearth_burn_cpu', cpu, fb, (m) => t.diagnostic(m));
});

test('the Go program: service_name is the executable, spinCheckout is hottest, samples match its CPU time', { skip: skip || (!hasGo && 'go is not installed') }, async (t) => {
  const exe = join(tmp.dir, 'goburner');
  const build = spawnSync('go', ['build', '-o', exe, GOAPP], { encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: join(tmp.dir, 'gocache') } });
  assert.equal(build.status, 0, build.stderr);
  // Work by wall clock: background 1.5 s, checkout 4.5 s, search 3 s, render 1.5 s. Frozen at 9 s,
  // checkout has had the most time.
  const child = spawn(exe, ['-out', tmp.dir, '-profiles', '1', '-span', '1500ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = Date.now();
  const { cpu, fb } = await sampleProgram(child, 'goburner', () => Date.now() - started >= BURN_MS);
  checkProfile('goburner', 'main.spinCheckout', cpu, fb, (m) => t.diagnostic(m));
});

// Last, since it costs the interval in which bpftrace dies.
test('bpftrace killed under the receiver is started again, and Hearth stops it cleanly', { skip }, async () => {
  const attachedPids = () => [...hearth!.output().matchAll(/"msg":"bpftrace attached"/g)].length;
  const first = /"bpftracePid":(\d+),"sampleRate":\d+,"msg":"bpftrace attached"/.exec(hearth!.output());
  assert.ok(first, 'no bpftrace pid in the log');
  const pid = Number(first[1]);
  process.kill(pid, 'SIGKILL');
  await waitFor(() => attachedPids() >= 2, 120_000, 'bpftrace was not restarted');
  const metrics = await (await fetch(`${hearth!.url}/metrics`)).text();
  assert.match(metrics, /hearth_receiver_ebpf_bpftrace_restarts_total\{receiver="ebpf"\} 1\b/);
  const second = [...hearth!.output().matchAll(/"bpftracePid":(\d+),"sampleRate":\d+,"msg":"bpftrace attached"/g)].map((m) => Number(m[1]));
  const current = second[second.length - 1];
  assert.notEqual(current, pid);
  assert.equal(await hearth!.stop('SIGTERM'), 0, hearth!.output());
  // SIGINT reached it and it exited: no bpftrace is left behind.
  assert.throws(() => process.kill(current, 0));
  hearth = undefined;
});
