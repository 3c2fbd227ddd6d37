/**
 * The cluster variant of the schema (ReplicatedMergeTree, Distributed tables, ON CLUSTER) can't
 * run without a ClickHouse cluster, so every statement is at least parsed by the real
 * ClickHouse parser (chDB's formatQuery) and checked for the shape a cluster needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryBind } from 'chdb';
import { buildSchema } from '../../storage/schema.ts';

function format(statement: string): string {
  const out = queryBind('SELECT formatQuery({q:String}) AS f', { q: statement }, 'JSONEachRow');
  return (JSON.parse(out) as { f: string }).f;
}

const clustered = buildSchema({ database: 'hearth', cluster: 'profiles', retentionDays: 30 });
const single = buildSchema({ database: 'hearth', retentionDays: 30 });

test('every cluster statement parses', () => {
  for (const s of clustered.statements) {
    const f = format(s);
    assert.ok(f.length > 0, s);
  }
});

test('every single-node statement parses', () => {
  for (const s of single.statements) assert.ok(format(s).length > 0, s);
});

test('cluster DDL: ON CLUSTER, Replicated engines on local tables, a Distributed table in front of each', () => {
  const ddl = clustered.statements.filter((s) => /^CREATE/.test(s));
  for (const s of ddl) assert.match(format(s), /ON CLUSTER profiles/, s);
  const locals = ddl.filter((s) => /ENGINE = Replicated/.test(s));
  const names = locals.map((s) => /CREATE TABLE IF NOT EXISTS `hearth`\.`(\w+)_local`/.exec(s)?.[1]);
  for (const table of ['functions', 'stacks', 'samples', 'series', 'series_labels', 'samples_1m', 'samples_1h', 'rollup_state']) {
    assert.ok(names.includes(table), `${table}_local is replicated`);
  }
  for (const table of names) {
    const local = locals.find((s) => s.includes(`\`${table}_local\``))!;
    assert.match(local, /\('\/clickhouse\/tables\/\{shard\}\/hearth\/\w+', '\{replica\}'\)/);
    const dist = ddl.find((s) => s.includes(`\`hearth\`.\`${table}\``) && /ENGINE = Distributed\(/.test(s));
    assert.ok(dist, `a Distributed table ${table}`);
    assert.match(dist!, new RegExp(`Distributed\\(\`profiles\`, \`hearth\`, \`${table}_local\`, `));
  }
  // Materialized views read and write the shard's local tables, so each shard rolls up its own rows.
  for (const mv of ddl.filter((s) => /MATERIALIZED VIEW/.test(s))) {
    assert.match(mv, /TO `hearth`\.`\w+_local`/);
    assert.match(mv, /FROM `hearth`\.`\w+_local`/);
  }
  // Queries go through the Distributed tables with GLOBAL IN.
  assert.equal(clustered.inOp, 'GLOBAL IN');
  assert.equal(clustered.table('samples'), '`hearth`.`samples`');
  // Retention: TTL that drops whole day partitions.
  assert.match(locals.find((s) => s.includes('`samples_local`'))!, /TTL toDate\(time\) \+ INTERVAL 30 DAY[\s\S]*ttl_only_drop_parts = 1/);
});
