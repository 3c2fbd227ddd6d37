/**
 * The bpftrace program the receiver runs, and what must hold before it can run.
 *
 * Sampling and aggregation stay in the kernel: every tick of `profile:hz` on every CPU adds one
 * to a map entry keyed by process, kernel stack and user stack, and only the aggregated map
 * crosses into user space, once per collection.
 *
 * Two maps take turns. bpftrace's print() and clear() run later in user space, and printing
 * (symbolizing) takes a while; with one map every sample counted between the two would be
 * cleared unseen. So the interval probe first flips the kernel over to the other map, then
 * prints and clears the one that has just stopped changing.
 * When bpftrace exits (SIGINT at shutdown) it prints its maps one last time, so the last
 * partial window is delivered too.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { STACK_MAPS } from './bpftrace-output.ts';

export interface ProgramOptions {
  sampleRate: number;
  collectIntervalMs: number;
  collectKernel: boolean;
}

export function samplingProgram(o: ProgramOptions): string {
  const [a, b] = STACK_MAPS;
  // The key order matters to the parser: comm goes last (see bpftrace-output.ts).
  const key = `[pid, ${o.collectKernel ? 'kstack(perf)' : '""'}, ustack(perf), comm]`;
  return [
    // PID 0 is the idle task: sampling it would only count idle CPUs.
    `profile:hz:${o.sampleRate} /pid != 0/ { if (@phase == 0) { ${a}${key} = count(); } else { ${b}${key} = count(); } }`,
    `interval:ms:${o.collectIntervalMs} { if (@phase == 0) { @phase = 1; print(${a}); clear(${a}); } else { @phase = 0; print(${b}); clear(${b}); } }`,
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
