/**
 * A store: one ClickHouse connection with its schema migrated, and a query engine. Writers are
 * created per exporter on top of it, each with its own batching settings.
 *
 * chDB binds one data directory per process, so the exporter and the API in one process
 * must share it: stores are reference-counted by what they connect to.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { connect, readerClients, siblingConnection, type Connection, type ConnectionOptions, type SiblingConnection } from './connection.ts';
import { buildSchema, LAST_SEEN, ROLLUP_STACKS_COLUMN, STACK_VALUES_COLUMN, quoteIdent, type RetentionDays, type Schema } from './schema.ts';
import { Writer, type WriterOptions } from './writer.ts';
import { QueryEngine } from './query.ts';
import { LeastBusy } from './least-busy.ts';
import { ttlDaysByTable } from './ttl.ts';

export interface StoreOptions extends ConnectionOptions {
  /** Days to keep every tier; 0 keeps everything. `retention` overrides it per tier. */
  retentionDays: number;
  /** Absent (and retentionDays 0): the tables keep the TTLs they have. */
  retention?: RetentionDays;
}

export interface Store {
  readonly connection: Connection;
  readonly schema: Schema;
  readonly query: QueryEngine;
  /** A batching writer; the caller flushes it (writer.flush()) before releasing the store. */
  createWriter(opts: WriterOptions, logger: Logger): Writer;
  release(): Promise<void>;
}

/** Each entry is a schema version; appending a step is how the schema evolves. */
export const MIGRATIONS: Array<(schema: Schema) => string[]> = [
  (schema) => schema.statements,
  // v2 adds the rollup tables and views; every statement is idempotent, so all are run again.
  (schema) => schema.statements,
  // v3 adds the spans table.
  (schema) => schema.statements,
  // v4 dates functions and stacks by their last write, so that they can expire (their TTL is set
  // by reconcileRetention like every other). Rows already stored get the day of the migration
  // written into their parts: a DEFAULT left unmaterialized is computed anew at every read,
  // would always be today, and would never expire.
  (schema) =>
    ['functions', 'stacks'].flatMap((name) => {
      const p = schema.placement(name);
      return [
        `ALTER TABLE ${p.local}${p.onCluster} ADD COLUMN IF NOT EXISTS ${LAST_SEEN}`,
        ...(p.distributed ? [`ALTER TABLE ${p.distributed}${p.onCluster} ADD COLUMN IF NOT EXISTS ${LAST_SEEN}`] : []),
        `ALTER TABLE ${p.local}${p.onCluster} MATERIALIZE COLUMN last_seen`,
      ];
    }),
  // v5: sample values and rollup sums compressed with GCD (and T64 on raw values) before ZSTD.
  // Changing a codec rewrites nothing: new parts use it, old ones take it at their next merge.
  (schema) =>
    (
      [
        ['samples', STACK_VALUES_COLUMN],
        ['samples_1m', ROLLUP_STACKS_COLUMN],
        ['samples_1h', ROLLUP_STACKS_COLUMN],
      ] as const
    ).map(([name, column]) => {
      const p = schema.placement(name);
      return `ALTER TABLE ${p.local}${p.onCluster} MODIFY COLUMN ${column}`;
    }),
];

async function migrate(conn: Connection, schema: Schema, database: string, cluster: string | undefined, logger: Logger): Promise<void> {
  const client = conn.client;
  const db = quoteIdent(database);
  await client.command({ query: schema.statements[0] });
  const onCluster = cluster ? ` ON CLUSTER ${quoteIdent(cluster)}` : '';
  const engine = cluster ? `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/schema_migrations', '{replica}')` : 'ReplacingMergeTree';
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations${onCluster} (version UInt32, applied_at DateTime DEFAULT now()) ENGINE = ${engine} ORDER BY version`,
  });
  const rs = await client.query({ query: `SELECT max(version) AS v FROM ${db}.schema_migrations`, format: 'JSONEachRow' });
  const current = Number((await rs.json<{ v: number | string }>())[0]?.v ?? 0);
  for (let v = current; v < MIGRATIONS.length; v++) {
    for (const query of MIGRATIONS[v](schema)) await client.command({ query });
    await client.insert({ table: `${db}.schema_migrations`, values: [{ version: v + 1 }], format: 'JSONEachRow' });
    logger.info({ version: v + 1 }, 'schema migrated');
  }
}

/**
 * Brings each table's TTL to what the config asks now. Retention is configuration, not schema:
 * it may change between two starts of the same store, so it is compared at every start rather
 * than set once by a migration. A table already right is left alone (changing a TTL makes
 * ClickHouse recompute it over every part).
 */
async function reconcileRetention(conn: Connection, schema: Schema, logger: Logger): Promise<void> {
  const current = await ttlDaysByTable(conn.client, schema.database);
  for (const t of schema.ttls) {
    const have = current.get(t.table);
    if (have === undefined) continue;
    if (have === t.days) continue;
    if (t.days === 0) {
      await conn.client.command({ query: `ALTER TABLE ${t.local}${t.onCluster} REMOVE TTL` });
    } else {
      if (t.dropPartsOnly) await conn.client.command({ query: `ALTER TABLE ${t.local}${t.onCluster} MODIFY SETTING ttl_only_drop_parts = 1` });
      await conn.client.command({ query: `ALTER TABLE ${t.local}${t.onCluster} MODIFY TTL ${t.column} + INTERVAL ${t.days} DAY` });
    }
    logger.info({ table: t.table, fromDays: have, toDays: t.days }, 'retention changed');
  }
}

interface Shared {
  refs: number;
  store: Promise<Store>;
}

const open = new Map<string, Shared>();

function sharingKey(opts: StoreOptions): string {
  // `./data` and `data` are one directory, and chDB would refuse the second open.
  return opts.url ? `url:${opts.url}/${opts.database}` : `path:${resolve(opts.path)}/${opts.database}`;
}

export function acquireStore(opts: StoreOptions, logger: Logger): Promise<Store> {
  const key = sharingKey(opts);
  const existing = open.get(key);
  if (existing) {
    existing.refs++;
    // The component that opened the store first (the API starts before the exporters) may not
    // declare the retention; the one that does applies it now.
    if (!opts.retention) return existing.store;
    return existing.store.then(async (s) => {
      await reconcileRetention(s.connection, buildSchema({ database: opts.database, cluster: opts.cluster, retentionDays: opts.retentionDays, retention: opts.retention }), logger);
      s.query.forgetRetention();
      return s;
    });
  }
  const shared: Shared = { refs: 1, store: openStore(opts, logger, key) };
  open.set(key, shared);
  shared.store.catch(() => open.delete(key));
  return shared.store;
}

/**
 * Connections the embedded engine's queries are spread over: a request's flame graph and
 * timeline, and a few requests at once, run side by side; more would only contend for the cores.
 */
const READER_CONNECTIONS = 3;

async function openStore(opts: StoreOptions, logger: Logger, key: string): Promise<Store> {
  const connection = connect(opts);
  const schema = buildSchema({ database: opts.database, cluster: opts.cluster, retentionDays: opts.retentionDays, retention: opts.retention });
  try {
    await migrate(connection, schema, opts.database, opts.cluster, logger);
    if (opts.retention || opts.retentionDays > 0) await reconcileRetention(connection, schema, logger);
  } catch (e) {
    await connection.client.close().catch(() => {});
    throw e;
  }
  const reader = readerClients(connection, READER_CONNECTIONS);
  const lanes: SiblingConnection[] = [];
  const store: Store = {
    connection,
    schema,
    query: new QueryEngine(new LeastBusy(reader.clients), schema, logger, connection.kind === 'http'),
    createWriter: (writerOpts, writerLogger) => {
      // A connection per insert allowed beside the first, so that concurrent flushes really run side by side.
      const own = Array.from({ length: Math.max(0, writerOpts.maxConcurrentFlushes - 1) }, () => siblingConnection(connection));
      lanes.push(...own);
      return new Writer(connection, schema, writerOpts, writerLogger, own.map((l) => l.connection));
    },
    async release() {
      const shared = open.get(key);
      if (!shared || --shared.refs > 0) return;
      open.delete(key);
      await reader.close();
      for (const l of lanes.splice(0)) await l.close();
      await connection.client.close();
    },
  };
  return store;
}
