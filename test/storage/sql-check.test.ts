/**
 * The ad-hoc SQL allow-list on its own: what reaches ClickHouse, and what is refused before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '../../core/errors.ts';
import { buildSchema } from '../../storage/schema.ts';
import { checkSql, tenantSql } from '../../storage/sql.ts';

const schema = buildSchema({ database: 'hearth', retentionDays: 0 });

const ALLOWED = [
  'SELECT function, sum(self) AS s FROM samples_flat GROUP BY function ORDER BY s DESC LIMIT 10',
  "select service_name, count() from profiles where time > now() - interval 7 day and profile_type like 'process_cpu:%' group by service_name",
  "WITH t AS (SELECT service_name, sum(total) AS v FROM profiles GROUP BY service_name) SELECT * FROM t WHERE v > 0",
  "SELECT labels['env'] AS env, count() FROM series GROUP BY env;",
  'SELECT a.function, b.service_name FROM samples_flat AS a INNER JOIN series AS b ON a.service_name = b.service_name LIMIT 1',
  "SELECT count() FROM (SELECT * FROM profiles WHERE service_name = 'x') -- a trailing comment",
  'SELECT toStartOfHour(time) AS h, quantile(0.9)(total) FROM profiles GROUP BY h',
];

const REFUSED: Array<[string, RegExp]> = [
  ['INSERT INTO profiles SELECT * FROM profiles', /read-only/],
  ['DROP TABLE series', /read-only/],
  ['CREATE TABLE x (a UInt8) ENGINE = Memory', /read-only/],
  ['SYSTEM FLUSH LOGS', /read-only/],
  ['SET readonly = 0', /read-only/],
  ['SELECT 1 AS x FROM profiles SETTINGS readonly = 0', /read-only/],
  ['SELECT * FROM profiles INTO OUTFILE \'/tmp/x\'', /read-only/],
  ['SELECT * FROM profiles FORMAT CSV', /read-only/],
  ['SELECT 1 AS one; SELECT 2 AS two', /one statement/],
  ['SELECT * FROM hearth.samples', /cannot be read/],
  ['SELECT * FROM samples', /cannot be read/],
  ['SELECT * FROM system.one', /cannot be read/],
  ["SELECT * FROM url('http://x', CSV, 'a String')", /cannot be read/],
  ['SELECT * FROM numbers(10)', /cannot be read/],
  ['SELECT * FROM profiles AS p, hearth.series AS s', /unknown name "hearth"|not a column/],
  ['SELECT * FROM profiles WHERE fingerprint IN (SELECT fingerprint FROM hearth.series)', /cannot be read/],
  ["SELECT 1 AS hearth FROM profiles WHERE 1 IN (SELECT 1 AS x FROM hearth.series)", /cannot be used as an alias/],
  ['SELECT 1 AS samples FROM profiles', /cannot be used as an alias/],
  ['SELECT tenant FROM profiles', /unknown name "tenant"/],
  ["SELECT dictGet('d', 'a', 1) FROM profiles", /function "dictGet"/],
  ['SELECT {hearth_sql_tenant:String} FROM profiles', /not allowed/],
  ['SELECT $$x$$ FROM profiles', /not allowed/],
  ['SELECT 1 /* unterminated', /unterminated comment/],
  ['EXPLAIN SELECT 1', /read-only/],
  ['', /empty query/],
];

test('allowed queries pass and get the tenant views in front, with readonly last', () => {
  for (const q of ALLOWED) {
    const { query, params } = tenantSql(schema, 'team-a', q);
    assert.deepEqual(Object.values(params), ['team-a'], q);
    assert.match(query, /^WITH samples_flat AS \(/);
    assert.match(query, /\nSETTINGS max_execution_time = 30, max_result_rows = 10000, result_overflow_mode = 'throw', readonly = 1$/);
    // Every read of a store table is narrowed to the tenant parameter.
    const reads = [...query.matchAll(/FROM `hearth`\.`(samples|series)`[^)]*?WHERE tenant = \{hearth_sql_tenant:String\}/gs)];
    assert.equal(reads.length, 3, q);
  }
});

test('a WITH query continues the views list; a trailing comment cannot hide the settings', () => {
  const { query } = tenantSql(schema, 't', 'WITH t AS (SELECT 1 AS x) SELECT * FROM t -- note');
  assert.match(query, /,\n\s*t AS \(SELECT 1 AS x\) SELECT \* FROM t\nSETTINGS/);
  assert.doesNotMatch(query, /note/);
});

for (const [q, reason] of REFUSED) {
  test(`refused: ${q || '(empty)'}`, () => {
    assert.throws(
      () => checkSql(q, 'hearth'),
      (err: unknown) => err instanceof BadRequestError && reason.test(err.message),
    );
  });
}
