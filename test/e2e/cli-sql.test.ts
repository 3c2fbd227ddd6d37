/**
 * `hearth sql` against a running Hearth (POST /api/sql) and on a data directory: a GROUP BY
 * over the test's data matches the pushed stacks, a tenant sees only its own rows, and writes,
 * table functions and reads of any other table are refused with a 400 before they run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { hearthCli, mustIngest } from '../support/cli.ts';
import { expectedGoCpuTotals, goCpuProfileGz } from '../support/go-cpu-profile.ts';

const tmp = tempDir('hearth-cli-sql-');
const dataDir = join(tmp.dir, 'data');
let hearth: HearthProcess;
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const DOUBLE = () => 2;

function ingest(tenant: string, name: string, body: Uint8Array): Promise<void> {
  return mustIngest(hearth.url, { name, format: 'pprof' }, body, { 'X-Scope-OrgID': tenant });
}

before(async () => {
  hearth = await startHearth(singleNodeConfig(dataDir), tmp.dir);
  await ingest('team-a', 'checkout{env=prod}', goCpuProfileGz(Date.now() - 120_000));
  await ingest('team-a', 'cart{env=prod}', goCpuProfileGz(Date.now() - 60_000, DOUBLE));
  // Another tenant's data, which team-a must never see.
  await ingest('team-b', 'secret-service{env=prod}', goCpuProfileGz(Date.now() - 60_000));
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

const GROUP_BY = `SELECT service_name, function, sum(self) AS self, sum(total) AS total
  FROM samples_flat WHERE profile_type = '${CPU}' AND time > now() - INTERVAL 1 DAY
  GROUP BY service_name, function ORDER BY service_name, function`;

type Result = { columns: Array<{ name: string; type: string }>; rows: unknown[][] };

function expectedRows(): string[][] {
  const rows: string[][] = [];
  for (const [service, scale] of [['cart', DOUBLE], ['checkout', () => 1]] as const) {
    const totals = expectedGoCpuTotals(scale);
    for (const name of [...totals.keys()].sort()) rows.push([service, name, String(totals.get(name)!.flat), String(totals.get(name)!.cum)]);
  }
  return rows;
}

test('sql answers a GROUP BY over the tenant data, equal to the pushed stacks', async () => {
  const r = await hearthCli(['sql', GROUP_BY, '--url', hearth.url, '--tenant', 'team-a', '--output', 'json']);
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout) as Result;
  assert.deepEqual(result.columns.map((c) => c.name), ['service_name', 'function', 'self', 'total']);
  assert.deepEqual(result.rows.map((row) => row.map(String)), expectedRows());

  // The table for people holds the same values.
  const t = await hearthCli(['sql', `SELECT service_name, count() AS n FROM profiles WHERE profile_type = '${CPU}' GROUP BY service_name ORDER BY service_name`, '--url', hearth.url, '--tenant', 'team-a']);
  assert.equal(t.status, 0, t.stderr);
  assert.deepEqual(t.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s+/)), [['service_name', 'n'], ['cart', '1'], ['checkout', '1'], ['(2', 'rows)']]);
});

test('sql sees only the tenant: team-b gets its own service, team-a never sees it', async () => {
  const b = await hearthCli(['sql', 'SELECT DISTINCT service_name FROM series ORDER BY service_name', '--url', hearth.url, '--tenant', 'team-b', '--output', 'json']);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual((JSON.parse(b.stdout) as Result).rows, [['secret-service']]);
  const a = await hearthCli(['sql', "SELECT count() FROM samples_flat WHERE service_name = 'secret-service'", '--url', hearth.url, '--tenant', 'team-a', '--output', 'json']);
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual((JSON.parse(a.stdout) as Result).rows.map((r) => r.map(String)), [['0']]);
});

const REFUSED: Array<[string, string, RegExp]> = [
  ['INSERT', `INSERT INTO samples_flat SELECT * FROM samples_flat`, /read-only/],
  ['DROP', 'DROP TABLE samples_flat', /read-only/],
  ['DROP after a SELECT', 'SELECT 1 AS one; DROP TABLE hearth.samples', /one statement/],
  ['ALTER', 'ALTER TABLE series DELETE WHERE 1', /read-only/],
  ['SETTINGS', 'SELECT count() FROM profiles SETTINGS readonly = 0', /read-only/],
  ['a cross-tenant read of the raw table', `SELECT count() FROM hearth.samples WHERE tenant = 'team-b'`, /cannot be read/],
  ['the tenant column', `SELECT count() FROM profiles WHERE tenant = 'team-b'`, /unknown name "tenant"/],
  ['an alias named after a table', 'SELECT 1 AS samples FROM samples', /cannot be used as an alias/],
  ['system tables', 'SELECT * FROM system.tables', /cannot be read/],
  ['a table function', "SELECT * FROM remote('127.0.0.1', hearth.samples)", /cannot be read/],
  ['a table function in a subquery', "SELECT count() FROM (SELECT * FROM file('/etc/passwd'))", /cannot be read/],
  ['a function outside the list', "SELECT dictGet('d', 'x', 1) FROM profiles", /function "dictGet"/],
  ['a query parameter', 'SELECT {hearth_sql_tenant:String} FROM profiles', /not allowed/],
];

for (const [what, sql, reason] of REFUSED) {
  test(`sql refuses ${what} with a 400, before it runs`, async () => {
    const r = await hearthCli(['sql', sql, '--url', hearth.url, '--tenant', 'team-a']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /400 from \/api\/sql: sql: /);
    assert.match(r.stderr, reason);
  });
}

test('the route answers 400 to refused queries, and the data is still there afterwards', async () => {
  for (const [, sql] of REFUSED) {
    const res = await fetch(`${hearth.url}/api/sql`, { method: 'POST', body: sql, headers: { 'Content-Type': 'text/plain', 'X-Scope-OrgID': 'team-a' } });
    assert.equal(res.status, 400, sql);
  }
  const res = await fetch(`${hearth.url}/api/sql`, {
    method: 'POST',
    body: JSON.stringify({ query: 'SELECT count() AS n FROM profiles' }),
    headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': 'team-b' },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as Result).rows.map((r) => r.map(String)), [['2']]);
});

test('sql --data runs the same query on the data directory once the server is stopped', async () => {
  assert.equal(await hearth.stop(), 0);
  const r = await hearthCli(['sql', GROUP_BY, '--data', dataDir, '--tenant', 'team-a', '--output', 'json']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as Result).rows.map((row) => row.map(String)), expectedRows());
  const refused = await hearthCli(['sql', 'DROP TABLE series', '--data', dataDir]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /read-only/);
});
