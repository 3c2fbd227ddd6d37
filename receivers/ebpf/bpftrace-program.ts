/**
 * The bpftrace program the receiver runs, and what must hold before it can run.
 *
 * Sampling and aggregation stay in the kernel: every tick of `profile:hz` on every CPU adds one
 * to a map entry keyed by process, kernel stack and user stack, and only the aggregated map
 * crosses into user space, once per collection, printed and cleared by an `interval` probe.
 * When bpftrace exits (SIGINT at shutdown) it prints the map one last time, so the last
 * partial window is delivered too.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { STACKS_MAP } from './bpftrace-output.ts';

export interface ProgramOptions {
  sampleRate: number;
  collectIntervalMs: number;
  collectKernel: boolean;
}

export function samplingProgram(o: ProgramOptions): string {
  // The key order matters to the parser: comm goes last (see bpftrace-output.ts).
  const kstack = o.collectKernel ? 'kstack(perf)' : '""';
  return [
    // PID 0 is the idle task: sampling it would only count idle CPUs.
    `profile:hz:${o.sampleRate} /pid != 0/ { ${STACKS_MAP}[pid, ${kstack}, ustack(perf), comm] = count(); }`,
    `interval:ms:${o.collectIntervalMs} { print(${STACKS_MAP}); clear(${STACKS_MAP}); }`,
  ].join('\n');
}

/** Where `name` would be run from, searching PATH as a shell does; undefined when it is not there. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Everything that stops the receiver from sampling, each said plainly. Both are checked
 * before anything is spawned, so the user learns of both at once.
 */
export function preflightProblems(euid: number, bpftrace: string | undefined): string[] {
  const problems: string[] = [];
  if (euid !== 0) {
    problems.push(`Hearth is not running as root (effective uid ${euid}); loading eBPF programs needs root`);
  }
  if (!bpftrace) {
    problems.push('bpftrace was not found on the PATH; install it (Debian and Ubuntu: apt-get install bpftrace)');
  }
  return problems;
}
