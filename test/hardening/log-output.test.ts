/**
 * The process that reads Hearth's log output can go away (a supervisor or test runner that
 * dies). That must not stop the server from stopping: with log lines written synchronously, and
 * pino's exit hook retrying the last ones forever on the closed pipe, SIGTERM never completed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';

const tmp = tempDir();
after(() => tmp.remove());

/** Resolves with how the process ended, or 'running' if it has not within `ms` (a liveness bound, not a timing check). */
function exited(h: HearthProcess, ms: number): Promise<string> {
  if (h.child.exitCode !== null) return Promise.resolve(`exit ${h.child.exitCode}`);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('running'), ms);
    h.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ? `signal ${signal}` : `exit ${code}`);
    });
  });
}

async function withHearth(name: string, fn: (h: HearthProcess) => Promise<void>): Promise<void> {
  const dir = join(tmp.dir, name);
  const h = await startHearth(singleNodeConfig(join(dir, 'data')), tmp.dir);
  try {
    await fn(h);
  } finally {
    if (h.child.exitCode === null) h.child.kill('SIGKILL');
  }
}

test('SIGTERM stops Hearth after the reader of its output went away', async () => {
  await withHearth('closed', async (h) => {
    h.child.stdout!.destroy();
    h.child.stderr!.destroy();
    // Something to log after the pipe closed, then the stop, which logs too.
    assert.equal((await fetch(`${h.url}/ready`)).status, 200);
    h.child.kill('SIGTERM');
    assert.equal(await exited(h, 30_000), 'exit 0');
  });
});
