/**
 * Migration steps for the cluster variant can't run without a ClickHouse cluster, so each
 * statement is parsed by the real ClickHouse parser (chDB's formatQuery) and checked for the
 * shape a cluster needs: ALTERs run ON CLUSTER, on the shard-local tables or on the
 * Distributed table in front of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryBind } from 'chdb';
import { buildSchema } from '../../storage/schema.ts';
import { MIGRATIONS } from '../../storage/store.ts';

function format(statement: string): string {
  const out = queryBind('SELECT formatQuery({q:String}) AS f', { q: statement }, 'JSONEachRow');
  return (JSON.parse(out) as { f: string }).f;
}

const clustered = buildSchema({ database: 'hearth', cluster: 'profiles', retentionDays: 30 });
const single = buildSchema({ database: 'hearth', retentionDays: 30 });

test('every migration statement parses, on a cluster and on a single node', () => {
  for (const schema of [clustered, single]) for (const step of MIGRATIONS) for (const s of step(schema)) assert.ok(format(s).length > 0, s);
});

test('on a cluster, schema changes after the first versions run ON CLUSTER', () => {
  const alters = MIGRATIONS.slice(3).flatMap((step) => step(clustered)).filter((s) => /^ALTER/.test(s));
  assert.ok(alters.length > 0);
  for (const s of alters) {
    assert.match(format(s), /ON CLUSTER profiles/, s);
    assert.match(s, /^ALTER TABLE `hearth`\.`\w+`/, s);
  }
  // last_seen is stored in the local tables, where the rows are.
  assert.ok(alters.some((s) => s.includes('`stacks_local`') && /MATERIALIZE COLUMN last_seen/.test(s)));
  assert.ok(alters.some((s) => s.includes('`functions_local`') && /MATERIALIZE COLUMN last_seen/.test(s)));
});

test('the cluster schema expires functions and stacks row by row, a day after the longest tier', () => {
  for (const t of ['functions', 'stacks']) {
    const ttl = clustered.ttls.find((x) => x.table === `${t}_local`)!;
    assert.deepEqual({ column: ttl.column, days: ttl.days, dropPartsOnly: ttl.dropPartsOnly }, { column: 'last_seen', days: 31, dropPartsOnly: false });
    const create = clustered.statements.find((s) => s.includes(`\`${t}_local\``) && /ENGINE = Replicated/.test(s))!;
    assert.match(create, /TTL last_seen \+ INTERVAL 31 DAY/);
    assert.doesNotMatch(create, /ttl_only_drop_parts/);
  }
});
