/**
 * Runs the `hearth` command as a user would, in its own process, and collects what it printed.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
export const HEARTH_BIN = join(root, 'bin/hearth.ts');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function hearthCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return runProgram(process.execPath, ['--import', tsxLoader, HEARTH_BIN, ...args], opts);
}

/** Runs a program to its end and collects its output; the environment adds to this process's. */
export function runProgram(program: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: opts.cwd ?? root,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A command line `hearth …` for a shell: the same node and loader as the tests use. */
export function hearthShellCommand(): string {
  return `exec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(tsxLoader)} ${JSON.stringify(HEARTH_BIN)} "$@"`;
}

/**
 * POST /ingest as a well-behaved client: 429 and 503 are retried, any other answer returned
 * with the server's message.
 */
export async function ingest(url: string, params: Record<string, string>, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; message: string }> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${url}/ingest?${new URLSearchParams(params)}`, { method: 'POST', body: body as BodyInit, headers });
    const text = await res.text();
    if ((res.status === 429 || res.status === 503) && attempt < 60) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    let message = text;
    try {
      message = (JSON.parse(text) as { message: string }).message;
    } catch {
      // not JSON: the text itself
    }
    return { status: res.status, message };
  }
}

/** An ingest that must succeed. */
export async function mustIngest(url: string, params: Record<string, string>, body: Uint8Array, headers: Record<string, string> = {}): Promise<void> {
  const r = await ingest(url, params, body, headers);
  if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${r.message}`);
}
