/**
 * The ClickHouse schema, written once for both deployments. A single node uses MergeTree
 * engines; a cluster gets the Replicated* engines, ON CLUSTER DDL and Distributed tables in
 * front, from the same table definitions.
 *
 * Layout (see DESIGN.md, "Storage"):
 * - functions, stacks: content-addressed and deduplicated (ReplacingMergeTree by ID).
 * - samples: one row per stored profile and series (stack IDs and values as arrays), which
 *   also lists individual profiles and answers "was this batch stored already?".
 * - series + series_labels: the series index and the inverted label index.
 */

export interface SchemaOptions {
  database: string;
  /** Cluster name: switches to Replicated engines, ON CLUSTER and Distributed tables. */
  cluster?: string;
  /** Days to keep data; 0 keeps it forever. */
  retentionDays: number;
}

interface TableDef {
  name: string;
  columns: string;
  engine: 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree';
  partitionBy?: string;
  orderBy: string;
  /** TTL expression on a Date/DateTime column, applied when retention is set. */
  ttlColumn?: string;
  settings?: string[];
  /** Sharding key of the Distributed table on a cluster. */
  shardBy: string;
}

const TABLES: TableDef[] = [
  {
    name: 'functions',
    columns: `id UInt64, name String CODEC(ZSTD(1))`,
    engine: 'ReplacingMergeTree',
    orderBy: 'id',
    shardBy: 'id',
  },
  {
    name: 'stacks',
    columns: `id UInt64, frames Array(UInt64) CODEC(ZSTD(1))`,
    engine: 'ReplacingMergeTree',
    orderBy: 'id',
    shardBy: 'id',
  },
  {
    name: 'samples',
    // One row per profile and series: stack IDs and values as parallel arrays sorted by stack
    // ID. A series' consecutive rows repeat nearly the same arrays, which ZSTD folds away.
    columns: `
      tenant LowCardinality(String),
      profile_type LowCardinality(String),
      service LowCardinality(String),
      fingerprint UInt64,
      time DateTime64(3) CODEC(DoubleDelta, ZSTD(1)),
      profile_id UInt64 CODEC(ZSTD(1)),
      total Int64 CODEC(ZSTD(1)),
      stack_ids Array(UInt64) CODEC(ZSTD(3)),
      stack_values Array(Int64) CODEC(ZSTD(3)),
      span_ids Array(UInt64) CODEC(ZSTD(1)),
      trace_ids Array(FixedString(16)) CODEC(ZSTD(1)),
      INDEX idx_profile_id profile_id TYPE bloom_filter GRANULARITY 1`,
    engine: 'MergeTree',
    partitionBy: 'toDate(time)',
    orderBy: '(tenant, profile_type, service, fingerprint, time)',
    ttlColumn: 'toDate(time)',
    settings: ['non_replicated_deduplication_window = 10000'],
    shardBy: 'fingerprint',
  },
  {
    // Which profiles are stored: a point lookup by profile ID tells a redelivery from new data.
    name: 'ingested',
    columns: `profile_id UInt64, time DateTime64(3)`,
    engine: 'ReplacingMergeTree',
    partitionBy: 'toDate(time)',
    orderBy: 'profile_id',
    ttlColumn: 'toDate(time)',
    shardBy: 'profile_id',
  },
  {
    name: 'series',
    columns: `
      tenant LowCardinality(String),
      profile_type LowCardinality(String),
      service LowCardinality(String),
      fingerprint UInt64,
      date Date,
      labels Map(LowCardinality(String), String)`,
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYYYYMM(date)',
    orderBy: '(tenant, profile_type, service, fingerprint, date)',
    ttlColumn: 'date',
    shardBy: 'fingerprint',
  },
  {
    name: 'series_labels',
    columns: `
      tenant LowCardinality(String),
      date Date,
      name LowCardinality(String),
      value String,
      profile_type LowCardinality(String),
      fingerprint UInt64`,
    engine: 'ReplacingMergeTree',
    partitionBy: 'toYYYYMM(date)',
    orderBy: '(tenant, name, value, profile_type, fingerprint, date)',
    ttlColumn: 'date',
    shardBy: 'fingerprint',
  },
];

/** Materialized views: source table → target table. On a cluster they run on each shard's local tables. */
const VIEWS = [
  {
    name: 'ingested_mv',
    to: 'ingested',
    select: (t: (n: string) => string) => `
      SELECT DISTINCT profile_id, time FROM ${t('samples')}`,
  },
  {
    name: 'series_labels_mv',
    to: 'series_labels',
    select: (t: (n: string) => string) => `
      SELECT tenant, date, name, value, profile_type, fingerprint
      FROM ${t('series')}
      ARRAY JOIN mapKeys(labels) AS name, mapValues(labels) AS value`,
  },
];

export interface Schema {
  /** Statements in order; each is idempotent (IF NOT EXISTS). */
  statements: string[];
  /** The table a query reads: the Distributed one on a cluster. */
  table(name: string): string;
  /** `IN` on a single node, `GLOBAL IN` on a cluster so that subqueries run once. */
  inOp: 'IN' | 'GLOBAL IN';
}

export function buildSchema(opts: SchemaOptions): Schema {
  const db = quoteIdent(opts.database);
  const clustered = Boolean(opts.cluster);
  const onCluster = clustered ? ` ON CLUSTER ${quoteIdent(opts.cluster!)}` : '';
  const local = (n: string) => `${db}.${quoteIdent(clustered ? `${n}_local` : n)}`;
  const table = (n: string) => `${db}.${quoteIdent(n)}`;

  const statements = [`CREATE DATABASE IF NOT EXISTS ${db}${onCluster} ENGINE = Atomic`];
  for (const t of TABLES) {
    const engine = clustered
      ? `Replicated${t.engine}('/clickhouse/tables/{shard}/${opts.database}/${t.name}', '{replica}')`
      : t.engine;
    const settings = [...(t.settings ?? [])];
    let ttl = '';
    if (opts.retentionDays > 0 && t.ttlColumn) {
      ttl = `\nTTL ${t.ttlColumn} + INTERVAL ${Math.floor(opts.retentionDays)} DAY`;
      settings.push('ttl_only_drop_parts = 1');
    }
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${local(t.name)}${onCluster} (${t.columns}\n)\nENGINE = ${engine}` +
        (t.partitionBy ? `\nPARTITION BY ${t.partitionBy}` : '') +
        `\nORDER BY ${t.orderBy}${ttl}` +
        (settings.length ? `\nSETTINGS ${settings.join(', ')}` : ''),
    );
    if (clustered) {
      statements.push(
        `CREATE TABLE IF NOT EXISTS ${table(t.name)}${onCluster} AS ${local(t.name)}\n` +
          `ENGINE = Distributed(${quoteIdent(opts.cluster!)}, ${db}, ${quoteIdent(`${t.name}_local`)}, ${t.shardBy})`,
      );
    }
  }
  for (const v of VIEWS) {
    statements.push(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${quoteIdent(v.name)}${onCluster} TO ${local(v.to)} AS${v.select(local)}`,
    );
  }
  return { statements, table, inOp: clustered ? 'GLOBAL IN' : 'IN' };
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid ClickHouse identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}
