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
 * - samples_1m, samples_1h: rollups kept by materialized views (per series and bucket: profile
 *   count, summed total, and the stacks' summed values as parallel arrays, like samples) for
 *   flame graphs over long ranges; rollup_state records from when on they hold everything.
 * - spans: the spans of traces, keyed by (tenant, trace_id), kept as long as raw samples.
 *
 * Retention has three tiers, each with its own TTL: raw (samples, spans), 1m (samples_1m) and
 * 1h (samples_1h); the series index lives as long as the longest of them. Functions and stacks
 * expire a day after the longest tier, counted from the day they were last written (last_seen):
 * the writer writes each stack and function it uses again at least once per UTC day, so one
 * that a stored sample still references is never older than that sample.
 */

export interface SchemaOptions {
  database: string;
  /** Cluster name: switches to Replicated engines, ON CLUSTER and Distributed tables. */
  cluster?: string;
  /** Days to keep data in every tier; 0 keeps it forever. `retention` overrides it per tier. */
  retentionDays: number;
  /** Days to keep each tier; 0 keeps it forever. */
  retention?: RetentionDays;
}

/** Days each tier is kept; 0 keeps it forever. */
export interface RetentionDays {
  raw: number;
  '1m': number;
  '1h': number;
}

export type Tier = keyof RetentionDays;

/** The per-tier retention that the options amount to. */
export function retentionOf(opts: SchemaOptions): RetentionDays {
  const d = Math.max(0, Math.floor(opts.retentionDays));
  return opts.retention ?? { raw: d, '1m': d, '1h': d };
}

/** Days the series index is kept: as long as the longest-kept tier, since each tier's queries read it. */
function longest(r: RetentionDays): number {
  const all = [r.raw, r['1m'], r['1h']];
  return all.includes(0) ? 0 : Math.max(...all);
}

/**
 * Days functions and stacks are kept after they were last written: one more than the longest
 * tier, so that a stack rewritten today outlives every sample that may reference it, whatever
 * the hour the last such sample was stamped at.
 */
function dictionaryDays(r: RetentionDays): number {
  const days = longest(r);
  return days === 0 ? 0 : days + 1;
}

interface TableDef {
  name: string;
  columns: string;
  engine: 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree';
  partitionBy?: string;
  orderBy: string;
  /** TTL expression on a Date/DateTime column, applied when retention is set. */
  ttlColumn?: string;
  /**
   * Whose retention applies; `index` is the longest of all tiers, `dictionary` one day more.
   * Tiered tables are partitioned by day and drop whole parts; dictionary tables are not
   * partitioned (one ID must collapse to one row), so their expired rows are deleted row by row.
   */
  tier?: Tier | 'index' | 'dictionary';
  settings?: string[];
  /** Sharding key of the Distributed table on a cluster. */
  shardBy: string;
}

/**
 * Sample values are mostly a count times the sampling period (CPU time in multiples of 10 ms):
 * GCD divides the common factor out of each block, T64 then keeps only the bits the remaining
 * counts use, and ZSTD folds what repeats. About a third fewer bytes than ZSTD alone, at no
 * measurable insert cost.
 */
export const STACK_VALUES_COLUMN = 'stack_values Array(Int64) CODEC(GCD, T64, ZSTD(3))';

/**
 * A rollup's stacks: the codec applies to both arrays of the tuple. Summed values keep the
 * period as a common factor, which GCD divides out; the stack IDs (hashes, greatest common
 * divisor 1) pass through it unchanged for ZSTD to fold their repeats. T64 is left out: it
 * would scatter the IDs' bits and hide those repeats.
 */
export const ROLLUP_STACKS_COLUMN = 'stacks SimpleAggregateFunction(sumMap, Tuple(Array(UInt64), Array(Int64))) CODEC(GCD, ZSTD(3))';

/** The column that dates a function's or a stack's last write, for their TTL. */
export const LAST_SEEN = 'last_seen Date DEFAULT today()';

const TABLES: TableDef[] = [
  {
    name: 'functions',
    // The writer names only id and name; last_seen takes the day of the insert, and the newest
    // insert of an ID is the one a merge keeps.
    columns: `id UInt64, name String CODEC(ZSTD(1)), ${LAST_SEEN}`,
    engine: 'ReplacingMergeTree',
    orderBy: 'id',
    ttlColumn: 'last_seen',
    tier: 'dictionary',
    shardBy: 'id',
  },
  {
    name: 'stacks',
    columns: `id UInt64, frames Array(UInt64) CODEC(ZSTD(1)), ${LAST_SEEN}`,
    engine: 'ReplacingMergeTree',
    orderBy: 'id',
    ttlColumn: 'last_seen',
    tier: 'dictionary',
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
      ${STACK_VALUES_COLUMN},
      span_ids Array(UInt64) CODEC(ZSTD(1)),
      trace_ids Array(FixedString(16)) CODEC(ZSTD(1)),
      INDEX idx_profile_id profile_id TYPE bloom_filter GRANULARITY 1`,
    engine: 'MergeTree',
    partitionBy: 'toDate(time)',
    orderBy: '(tenant, profile_type, service, fingerprint, time)',
    ttlColumn: 'toDate(time)',
    tier: 'raw',
    // Small granules, because a row holds a whole profile (thousands of array elements) and a
    // range edge that is not a whole minute is read raw from every series of the selection: with
    // ClickHouse's 8,192 rows a granule, one edge of a 1-hour, 100-series flame graph read every
    // row of the hour (66 ms); with 64 it reads each series' edge granule (21 ms), and a granule
    // stays within one compressed block (256 rows spill past it and read as slowly as 8,192).
    // The store grows by 4% (more marks and blocks), and the primary index by 19 bytes per 64
    // rows. ClickHouse fixes this setting at creation: an older store keeps its granules.
    settings: ['non_replicated_deduplication_window = 10000', 'index_granularity = 64'],
    shardBy: 'fingerprint',
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
    tier: 'index',
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
    tier: 'index',
    shardBy: 'fingerprint',
  },
  ...(['1m', '1h'] as const).map(
    (g): TableDef => ({
      name: `samples_${g}`,
      columns: `
      tenant LowCardinality(String),
      profile_type LowCardinality(String),
      service LowCardinality(String),
      fingerprint UInt64,
      bucket DateTime CODEC(DoubleDelta, ZSTD(1)),
      profiles SimpleAggregateFunction(sum, UInt64),
      total_sum SimpleAggregateFunction(sum, Int64),
      ${ROLLUP_STACKS_COLUMN}`,
      engine: 'AggregatingMergeTree',
      partitionBy: 'toDate(bucket)',
      orderBy: '(tenant, profile_type, service, fingerprint, bucket)',
      ttlColumn: 'toDate(bucket)',
      tier: g,
      shardBy: 'fingerprint',
    }),
  ),
  {
    // Spans of traces, so that a trace's profiles can be found without an outside tracing
    // backend. Ordered for "all spans of this trace"; a span stored twice (two deliveries that
    // overlap) collapses on merge and is read once by the queries meanwhile.
    name: 'spans',
    columns: `
      tenant LowCardinality(String),
      trace_id FixedString(16),
      span_id UInt64,
      parent_span_id UInt64,
      service LowCardinality(String),
      name String CODEC(ZSTD(1)),
      kind UInt8,
      start DateTime64(9) CODEC(DoubleDelta, ZSTD(1)),
      duration UInt64 CODEC(ZSTD(1)),
      status_code UInt8,
      status_message String CODEC(ZSTD(1)),
      attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
      batch_id UInt64 CODEC(ZSTD(1)),
      INDEX idx_batch_id batch_id TYPE bloom_filter GRANULARITY 1`,
    engine: 'ReplacingMergeTree',
    partitionBy: 'toDate(start)',
    orderBy: '(tenant, trace_id, span_id)',
    ttlColumn: 'toDate(start)',
    tier: 'raw',
    settings: ['non_replicated_deduplication_window = 10000'],
    shardBy: 'cityHash64(trace_id)',
  },
  {
    // One row, written when the rollup views were created: rollups hold every profile stamped after it.
    name: 'rollup_state',
    columns: `since DateTime64(3)`,
    engine: 'MergeTree',
    orderBy: 'since',
    shardBy: 'rand()',
  },
];

/** Materialized views: source table → target table. On a cluster they run on each shard's local tables. */
const VIEWS = [
  {
    name: 'series_labels_mv',
    to: 'series_labels',
    select: (t: (n: string) => string) => `
      SELECT tenant, date, name, value, profile_type, fingerprint
      FROM ${t('series')}
      ARRAY JOIN mapKeys(labels) AS name, mapValues(labels) AS value`,
  },
  ...([['1m', 60], ['1h', 3600]] as const).map(([g, seconds]) => ({
    name: `samples_${g}_mv`,
    to: `samples_${g}`,
    // Rows are copied as they come and summed by the table's background merges: an insert block
    // rarely holds two profiles of one series and bucket, so summing here would only cost time.
    // Buckets are epoch-aligned seconds, independent of the server's time zone.
    select: (t: (n: string) => string) => `
      SELECT tenant, profile_type, service, fingerprint,
             toDateTime(intDiv(toUnixTimestamp(time), ${seconds}) * ${seconds}) AS bucket,
             toUInt64(1) AS profiles, total AS total_sum, (stack_ids, stack_values) AS stacks
      FROM ${t('samples')}`,
  })),
];

export interface Schema {
  /** Statements in order; each is idempotent (IF NOT EXISTS). */
  statements: string[];
  /** The table a query reads: the Distributed one on a cluster. */
  table(name: string): string;
  /** `IN` on a single node, `GLOBAL IN` on a cluster so that subqueries run once. */
  inOp: 'IN' | 'GLOBAL IN';
  /** The database holding the tables. */
  database: string;
  /** Days each tier is kept. */
  retention: RetentionDays;
  /**
   * Per table with a TTL: where it lives, its TTL column, the days it should keep (0: forever)
   * and whether expiry drops whole parts only (day-partitioned tables) or deletes rows.
   */
  ttls: Array<{ table: string; local: string; onCluster: string; column: string; days: number; dropPartsOnly: boolean }>;
  /** Where each table lives (`_local` tables on a cluster) and its Distributed table, if any. */
  placement(name: string): { local: string; distributed?: string; onCluster: string };
}

export function buildSchema(opts: SchemaOptions): Schema {
  const db = quoteIdent(opts.database);
  const clustered = Boolean(opts.cluster);
  const onCluster = clustered ? ` ON CLUSTER ${quoteIdent(opts.cluster!)}` : '';
  const local = (n: string) => `${db}.${quoteIdent(clustered ? `${n}_local` : n)}`;
  const table = (n: string) => `${db}.${quoteIdent(n)}`;

  const retention = retentionOf(opts);
  const ttlDays = (t: TableDef) =>
    t.tier === 'index' ? longest(retention) : t.tier === 'dictionary' ? dictionaryDays(retention) : t.tier ? retention[t.tier] : 0;
  const dropPartsOnly = (t: TableDef) => Boolean(t.partitionBy);
  const statements = [`CREATE DATABASE IF NOT EXISTS ${db}${onCluster} ENGINE = Atomic`];
  for (const t of TABLES) {
    const engine = clustered
      ? `Replicated${t.engine}('/clickhouse/tables/{shard}/${opts.database}/${t.name}', '{replica}')`
      : t.engine;
    const settings = [...(t.settings ?? [])];
    let ttl = '';
    const days = ttlDays(t);
    if (days > 0 && t.ttlColumn) {
      ttl = `\nTTL ${t.ttlColumn} + INTERVAL ${days} DAY`;
      if (dropPartsOnly(t)) settings.push('ttl_only_drop_parts = 1');
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
  // Rollups start with the views: on a fresh store they cover all time, on an upgraded one only
  // what comes after. Written once (the guard makes re-running the statement a no-op).
  statements.push(
    `INSERT INTO ${table('rollup_state')} (since)\n` +
      `SELECT if((SELECT count() FROM ${table('samples')}) = 0, toDateTime64(0, 3), now64(3))\n` +
      `WHERE (SELECT count() FROM ${table('rollup_state')}) = 0`,
  );
  const ttls = TABLES.filter((t) => t.ttlColumn).map((t) => ({
    table: clustered ? `${t.name}_local` : t.name,
    local: local(t.name),
    onCluster,
    column: t.ttlColumn!,
    days: ttlDays(t),
    dropPartsOnly: dropPartsOnly(t),
  }));
  const placement = (n: string) => ({ local: local(n), distributed: clustered ? table(n) : undefined, onCluster });
  return { statements, table, inOp: clustered ? 'GLOBAL IN' : 'IN', database: opts.database, retention, ttls, placement };
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid ClickHouse identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}
