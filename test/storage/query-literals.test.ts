/**
 * Values written into query text as literals: every string comes back from ClickHouse exactly
 * as it went in, whatever it holds, and numbers outside their type are refused before a query runs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../storage/connection.ts';
import { buildSchema } from '../../storage/schema.ts';
import { quoteString, sqlLiteral, tenantSql } from '../../storage/sql.ts';
import { tempDir } from '../support/hearth.ts';

const tmp = tempDir();
const { client } = connect({ path: tmp.dir, database: 'literals' });
after(async () => {
  await client.close();
  tmp.remove();
});

const HOSTILE = [
  '',
  "') OR 1=1 --",
  "' OR '1'='1",
  '\\',
  "\\'",
  "\\' OR 1=1 --",
  '"; DROP TABLE hearth.samples; --',
  'a\nb\r\tc',
  'nul \0 byte',
  '\x7f\x01\x1b[31m',
  "/* x */ '; SELECT 1; --",
  '{p0:String}',
  '{hearth_sql_tenant:String}',
  'é ü 漢字 😀',
  "\\\\''\\\\",
  '$$ dollar $$',
  '`backtick` "double"',
];

async function select<T>(query: string): Promise<T> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return ((await rs.json()) as T[])[0];
}

test('a quoted string is read back exactly, as one literal', async () => {
  for (const s of HOSTILE) {
    const row = await select<{ v: string; n: string }>(`SELECT ${quoteString(s)} AS v, toString(length(${quoteString(s)})) AS n`);
    assert.equal(row.v, s, JSON.stringify(s));
    assert.equal(Number(row.n), Buffer.byteLength(s), JSON.stringify(s));
  }
});

test('a quoted string has no quote or control character left unescaped', () => {
  for (const s of HOSTILE) {
    const inner = quoteString(s).slice(1, -1);
    // Drop escape pairs; what is left may hold neither a quote, a backslash nor a control character.
    const rest = inner.replace(/\\x[0-9a-f]{2}|\\\\|\\'/g, '');
    assert.doesNotMatch(rest, /['\\\x00-\x1f\x7f]/, JSON.stringify(s));
  }
});

test('string arrays and integers keep their values and their types', async () => {
  const row = await select<Record<string, unknown>>(
    `SELECT ${sqlLiteral('Array(String)', HOSTILE)} AS a, toTypeName(a) AS ta,
            ${sqlLiteral('Int64', -9_007_199_254_740_991)} AS i, toTypeName(i) AS ti,
            ${sqlLiteral('UInt64', 18_446_744_073_709_551_615n)} AS u, toTypeName(u) AS tu,
            ${sqlLiteral('UInt32', 4_294_967_295)} AS w, toTypeName(w) AS tw,
            ${sqlLiteral('Array(UInt64)', [0n, 18_446_744_073_709_551_615n])} AS ua, toTypeName(ua) AS tua,
            ${sqlLiteral('Array(UInt64)', [])} AS e, toTypeName(e) AS te`,
  );
  assert.deepEqual(row.a, HOSTILE);
  assert.equal(row.ta, 'Array(String)');
  assert.equal(String(row.i), '-9007199254740991');
  assert.equal(row.ti, 'Int64');
  assert.equal(String(row.u), '18446744073709551615');
  assert.equal(row.tu, 'UInt64');
  assert.equal(Number(row.w), 4_294_967_295);
  assert.equal(row.tw, 'UInt32');
  assert.deepEqual((row.ua as unknown[]).map(String), ['0', '18446744073709551615']);
  assert.equal(row.tua, 'Array(UInt64)');
  assert.deepEqual(row.e, []);
  assert.equal(row.te, 'Array(UInt64)');
});

test('values that are not integers of the type, or of an unknown type, are refused', () => {
  const bad: Array<[string, unknown]> = [
    ['UInt32', -1],
    ['UInt32', 4_294_967_296],
    ['UInt32', 1.5],
    ['UInt32', Number.NaN],
    ['Int64', Number.MAX_SAFE_INTEGER + 1],
    ['Int64', '1; DROP TABLE x'],
    ['Int64', '1e3'],
    ['UInt64', -1n],
    ['UInt64', 18_446_744_073_709_551_616n],
    ['Array(UInt64)', [1n, '2) OR (1']],
    ['Array(UInt64)', '1,2'],
    ['String', 5],
    ['Array(String)', ['a', 1]],
    ['Float64', 1],
    ['DateTime', 1],
    ['Array(Array(String))', [['a']]],
  ];
  for (const [type, value] of bad) assert.throws(() => sqlLiteral(type, value), Error, `${type} ${String(value)}`);
});

test('ad-hoc SQL inlines the tenant into the views only, never into the user text', () => {
  const schema = buildSchema({ database: 'hearth', retentionDays: 0 });
  const user = "SELECT count() FROM profiles WHERE service_name = 'x'";
  const { query, inlined } = tenantSql(schema, "t' OR 1=1 --", user);
  assert.ok(inlined.includes(user));
  assert.ok(!inlined.includes('{hearth_sql_tenant:String}'));
  assert.equal(inlined.split(quoteString("t' OR 1=1 --")).length - 1, query.split('{hearth_sql_tenant:String}').length - 1);
});
