/**
 * The `hearth` command: `validate` checks a file with the real component registry and
 * reports mistakes with file, line and key, without starting anything.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/hearth.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tmp = tempDir();
after(() => tmp.remove());

function hearth(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/hearth.ts'), ...args], { cwd: root, encoding: 'utf8' });
}

test('hearth validate accepts the shipped pipelines.yaml', () => {
  const r = hearth('validate', join(root, 'pipelines.yaml'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pipelines\.yaml: ok \(2 pipelines\)/);
});

test('hearth validate reports every mistake with file, line and key, and exits non-zero', () => {
  const file = join(tmp.dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'receivers:',
      '  pyroscope:',
      '    max_profile_bytes: lots',
      'exporters:',
      '  clickhouse:',
      '    retention_dayz: 3',
      '  kafka: {}',
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope]',
      '      exporters: [clickhouse]',
      '',
    ].join('\n'),
  );
  const r = hearth('validate', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: receivers\\.pyroscope\\.max_profile_bytes: expected number`));
  assert.match(r.stderr, /bad\.yaml:6: exporters\.clickhouse\.retention_dayz: unknown key "retention_dayz"/);
  assert.match(r.stderr, /bad\.yaml:7: exporters\.kafka: unknown exporter type "kafka"/);
});

test('hearth start refuses an invalid file before starting anything', () => {
  const file = join(tmp.dir, 'unused.yaml');
  writeFileSync(file, ['receivers:', '  pyroscope: {}', 'exporters:', '  debug: {}', '  clickhouse: {}', 'service:', '  pipelines:', '    profiles:', '      receivers: [pyroscope]', '      exporters: [debug]', ''].join('\n'));
  const r = hearth('start', '--config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unused\.yaml:5: exporters\.clickhouse: .*unused|unused\.yaml:5: exporters\.clickhouse: .*not used/);
});
