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
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, HEARTH_BIN, ...args], {
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
