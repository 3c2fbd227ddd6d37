/**
 * The shipped processor examples validate as they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('examples/processors validate', () => {
  for (const file of ['pipelines.yaml', 'collector.yaml', 'ingester.yaml']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/hearth.ts'), 'validate', join(root, 'examples/processors', file)], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
  }
});
