/**
 * Runs bpftrace as a supervised child process: restarted with a growing delay when it dies,
 * stopped with SIGINT at shutdown (so it prints its map one last time) and killed if it has
 * not exited after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

export interface SupervisorOptions {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** First restart delay; it doubles per failure up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A run at least this long counts as healthy, and the delay starts over. */
  healthyAfterMs: number;
  /** How long SIGINT may take before SIGKILL. */
  stopGraceMs: number;
  /** Called for each line of standard output, in order. */
  onLine(line: string): void;
  /** Called after each exit with the tail of standard error. */
  onExit(code: number | null, signal: NodeJS.Signals | null, stderr: string, expected: boolean): void;
  /** Lines of standard error that are noise, not trouble. */
  quietStderr?: RegExp;
  logger: Logger;
}

const STDERR_TAIL_BYTES = 4096;

export class Supervisor {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  restarts = 0;

  constructor(private readonly o: SupervisorOptions) {
    this.backoff = o.backoffMs;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the child; later exits restart it until `stop`. */
  start(): void {
    this.stopping = false;
    this.spawnChild();
  }

  private spawnChild(): void {
    const o = this.o;
    const startedAt = Date.now();
    const child = spawn(o.command, o.args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    // Lines are handed over in order; a whole map is one line, however long.
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => o.onLine(line));
    const stdoutDone = new Promise<void>((resolve) => lines.once('close', resolve));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        stderr += `\n${err.message}`;
        resolve({ code: null, signal: null });
      });
    });
    this.exited = Promise.all([exit, stdoutDone]).then(([{ code, signal }]) => {
      this.child = undefined;
      const expected = this.stopping;
      const tail = o.quietStderr ? stderr.split('\n').filter((l) => l.trim() && !o.quietStderr!.test(l)).join('\n') : stderr.trim();
      o.onExit(code, signal, tail, expected);
      if (expected) return;
      if (Date.now() - startedAt >= o.healthyAfterMs) this.backoff = o.backoffMs;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, o.maxBackoffMs);
      o.logger.warn({ code, signal, restartInMs: delay }, 'bpftrace exited; restarting');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.restarts++;
        this.spawnChild();
      }, delay);
    });
  }

  /** Stops for good: SIGINT, then SIGKILL after the grace period. Resolves once the child is gone and its output read. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || !this.exited) return;
    const exited = this.exited;
    child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.o.logger.warn({ graceMs: this.o.stopGraceMs }, 'bpftrace ignored SIGINT; killing it');
        child.kill('SIGKILL');
        resolve();
      }, this.o.stopGraceMs);
    });
    await Promise.race([exited, killed]);
    clearTimeout(timer);
    await exited;
  }
}
