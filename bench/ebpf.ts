/**
 * What the ebpf receiver costs the node it profiles: bpftrace's CPU time (sampling and
 * aggregation in the kernel are charged to the sampled tasks, printing the maps to bpftrace)
 * plus Hearth's own CPU time for reading, symbolizing and building the profiles, at 99 Hz
 * over a busy node, as a percentage of one core. The receiver runs in this process with a
 * consumer that only counts, so no storage cost is mixed in.
 *
 * The node is made busy with one CPU-bound process per core, each in several distinct
 * functions (so there are many stacks to symbolize), on top of whatever else runs. The first
 * collection reads the symbol tables of every binary on the node, a one-time cost that is
 * reported apart; the steady figure is measured after it. The baseline printed next to the
 * figure is how busy the whole node was meanwhile, from /proc/stat.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import { Registry } from 'prom-client';
import ebpf from '../receivers/ebpf/index.ts';
import type { EbpfReceiver } from '../receivers/ebpf/receiver.ts';

const RATE = 99;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// Each worker rotates through functions of its own so that stacks vary as a real node's do.
const WORKER = [
  "const fns = Array.from({ length: 8 }, (_, k) => new Function('n', 'let x = 0; for (let i = 0; i < n; i++) x += Math.sqrt(i * ' + (k + 1) + '); return x;'));",
  'for (;;) for (const f of fns) f(2e5);',
].join('\n');

function taskSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** Busy and total jiffies of the whole node. */
function nodeTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3] - (cpu[4] ?? 0), total };
}

export async function benchEbpf(seconds: number): Promise<{ name: string; lines: string[] }> {
  const name = `ebpf receiver: own CPU at ${RATE} Hz over a busy node (${seconds} s)`;
  if (process.geteuid?.() !== 0) return { name, lines: ['skipped: sampling with eBPF needs root'] };
  if (spawnSync('bpftrace', ['--version'], { stdio: 'ignore' }).status !== 0) return { name, lines: ['skipped: bpftrace is not installed'] };

  let samples = 0;
  let profiles = 0;
  const config = { ...ebpf.defaultConfig(), sample_rate: RATE, collect_interval: '5s' };
  // Profiles are counted as they arrive; the first one marks the end of the first collection.
  const receiver = ebpf.create({ id: 'ebpf', logger: pino({ level: 'warn' }), metrics: new Registry() }, config, {
    profiles: {
      async consume(b) {
        profiles++;
        for (const s of b.profile.samples) samples += s.values[0] / b.profile.period;
      },
    },
  }) as EbpfReceiver;
  const workers: ChildProcess[] = [];
  try {
    await receiver.start();
    for (let i = 0; i < availableParallelism(); i++) workers.push(spawn(process.execPath, ['-e', WORKER], { stdio: 'ignore' }));
    const bpftrace = receiver.bpftracePid!;
    const warm0 = process.cpuUsage();
    while (profiles === 0) await new Promise((r) => setTimeout(r, 100));
    // The rest of that collection's profiles are delivered in the same turn; let them land.
    await new Promise((r) => setTimeout(r, 500));
    const warm = process.cpuUsage(warm0);
    const samples0 = samples;
    const node0 = nodeTicks();
    const self0 = process.cpuUsage();
    const bpf0 = taskSeconds(bpftrace);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    // The window in flight is part of the cost: stop (bpftrace prints it) before reading the clocks.
    const bpf1 = taskSeconds(bpftrace);
    await receiver.shutdown();
    const wall = (performance.now() - t0) / 1000;
    const self1 = process.cpuUsage(self0);
    const node1 = nodeTicks();
    const hearthCpu = (self1.user + self1.system) / 1e6;
    const bpfCpu = bpf1 - bpf0;
    const busyCores = ((node1.busy - node0.busy) / (node1.total - node0.total)) * availableParallelism();
    const pct = (x: number) => `${((x / wall) * 100).toFixed(2)}% of one core`;
    return {
      name,
      lines: [
        `receiver total:    ${pct(bpfCpu + hearthCpu)}`,
        `  bpftrace:        ${pct(bpfCpu)}`,
        `  Hearth parsing:  ${pct(hearthCpu)} (reading maps, symbolizing, building profiles)`,
        `sampled:           ${((samples - samples0) / wall).toFixed(0)} samples/s (at most ${RATE * availableParallelism()}) into ${profiles} process profiles`,
        `first collection:  ${((warm.user + warm.system) / 1e3).toFixed(0)} ms of Hearth CPU (reading the symbol tables of the node's binaries, once)`,
        `baseline, node:    ${busyCores.toFixed(2)} of ${availableParallelism()} cores busy meanwhile`,
      ],
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await receiver.shutdown();
  }
}
