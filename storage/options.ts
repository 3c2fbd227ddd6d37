/**
 * The store settings shared by every component that opens a store (the clickhouse exporter,
 * the API), with one schema and one set of defaults.
 *
 * One store per process, declared once: the components that open a store claim it as a
 * process-wide resource, so a component that declares no store settings of its own (the API in
 * a process that also runs the exporter) uses the one the process declares, and two different
 * embedded directories in one process are a config error rather than a chDB failure at start.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Endpoint, ResourceClaim } from '../core/component.ts';
import type { StoreOptions } from './store.ts';
import type { RetentionDays, Tier } from './schema.ts';
import { parseDuration } from '../core/duration.ts';

/** The store a process declares; its value is a StoreConfig. */
export const STORE_RESOURCE = 'store';
/** chDB binds one data directory per process; its value is the absolute directory. */
export const EMBEDDED_DIR_RESOURCE = 'chdb-data-dir';

const STORE_KEYS = ['path', 'url', 'username', 'password', 'database', 'cluster', 'retention_days', 'retention'] as const;

const DAY_MS = 86_400_000;
const TIERS: Tier[] = ['raw', '1m', '1h'];

/** A tier's retention: whole days as a duration (`7d`, `2w`, `1y`), or 0 to keep it forever. */
const retentionDuration = z.union([z.literal(0), z.string()]).superRefine((v, ctx) => {
  if (v === 0) return;
  try {
    const ms = parseDuration(v);
    if (ms % DAY_MS !== 0) ctx.addIssue({ code: 'custom', message: `must be whole days (e.g. 7d, 2w, 1y) or 0 to keep forever; data is dropped by day` });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export type RetentionConfig = Record<Tier, string | 0>;

function daysOf(v: string | 0): number {
  return v === 0 ? 0 : parseDuration(v) / DAY_MS;
}

export const storeSchema = {
  /** Embedded chDB data directory, used when `url` is empty. */
  path: z.string().min(1),
  /** ClickHouse server URL (http://host:8123); empty selects the embedded store. */
  url: z.string(),
  username: z.string(),
  password: z.string(),
  database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier'),
  /** Cluster name for ReplicatedMergeTree + Distributed tables; empty for one node. */
  cluster: z.string(),
  /** Days to keep data in every tier; 0 keeps it forever. The older spelling of `retention`. */
  retention_days: z.number().int().nonnegative(),
  /** How long each tier is kept: raw profiles, 1-minute and 1-hour rollups. */
  retention: z.strictObject({ raw: retentionDuration.optional(), '1m': retentionDuration.optional(), '1h': retentionDuration.optional() }).optional(),
};

export interface StoreConfig {
  path: string;
  url: string;
  username: string;
  password: string;
  database: string;
  cluster: string;
  retention_days: number;
  /** Absent: this component declares no retention, and the tables keep the TTLs they have. */
  retention?: Partial<RetentionConfig>;
}

export function defaultStoreConfig(): StoreConfig {
  return { path: './data', url: '', username: 'default', password: '', database: 'hearth', cluster: '', retention_days: 0 };
}

export function storeOptions(c: StoreConfig): StoreOptions {
  return {
    path: c.path,
    url: c.url || undefined,
    username: c.username,
    password: c.password,
    database: c.database,
    cluster: c.cluster || undefined,
    retentionDays: c.retention_days,
    // Only a config that says something about retention changes the tables' TTLs: a query
    // server pointing at the same store must not undo the ingesters' retention.
    retention: c.retention !== undefined || c.retention_days > 0 ? retentionDays(c) : undefined,
  };
}

/** Per-tier days; `retention_days` alone keeps every tier that long, as it always did. */
export function retentionDays(c: StoreConfig): RetentionDays {
  const r = c.retention ?? {};
  const tiers = { raw: daysOf(r.raw ?? 0), '1m': daysOf(r['1m'] ?? 0), '1h': daysOf(r['1h'] ?? 0) };
  if (c.retention_days > 0 && TIERS.every((t) => tiers[t] === 0)) return { raw: c.retention_days, '1m': c.retention_days, '1h': c.retention_days };
  return tiers;
}

/**
 * Config mistakes in the retention keys, for a schema's superRefine: both spellings at once, or
 * a finer tier kept longer than a coarser one (the coarser one would then answer less).
 */
export function retentionIssues(c: Pick<StoreConfig, 'retention' | 'retention_days'>): Array<{ path: (string | number)[]; message: string }> {
  const r = c.retention;
  if (!r) return [];
  let tiers: Record<Tier, number>;
  try {
    tiers = { raw: daysOf(r.raw ?? 0), '1m': daysOf(r['1m'] ?? 0), '1h': daysOf(r['1h'] ?? 0) };
  } catch {
    return []; // the field's own check reports it
  }
  const issues: Array<{ path: (string | number)[]; message: string }> = [];
  if (c.retention_days > 0 && TIERS.some((t) => tiers[t] !== 0)) {
    issues.push({ path: ['retention_days'], message: `set either retention_days (every tier) or retention (per tier), not both; write retention: { raw: ${c.retention_days}d, 1m: …, 1h: … }` });
  }
  const forever = (d: number) => (d === 0 ? Infinity : d);
  for (let i = 1; i < TIERS.length; i++) {
    const finer = TIERS[i - 1];
    const coarser = TIERS[i];
    if (forever(tiers[finer]) > forever(tiers[coarser])) {
      issues.push({ path: ['retention', coarser], message: `must keep at least as long as retention.${finer} (0 keeps forever)` });
    }
  }
  return issues;
}

/** The claims of a component whose config declares a store. */
export function storeClaims(c: StoreConfig): ResourceClaim[] {
  const store: StoreConfig = {} as StoreConfig;
  for (const k of STORE_KEYS) (store as unknown as Record<string, unknown>)[k] = c[k];
  if (c.url) return [{ resource: STORE_RESOURCE, key: 'url', value: store }];
  return [
    { resource: STORE_RESOURCE, key: 'path', value: { ...store, path: resolve(c.path) } },
    { resource: EMBEDDED_DIR_RESOURCE, key: 'path', value: resolve(c.path), exclusive: true },
  ];
}

/** Store settings a component may leave out to use the process's store. */
export type OptionalStoreConfig = Partial<StoreConfig>;

export const optionalStoreSchema = Object.fromEntries(
  Object.entries(storeSchema).map(([k, v]) => [k, v.optional()]),
) as { [K in keyof typeof storeSchema]: z.ZodOptional<(typeof storeSchema)[K]> };

/** Whether a component's own settings pick a store (`path` or `url`) rather than use the process's. */
export function declaresStore(c: OptionalStoreConfig): boolean {
  return c.path !== undefined || c.url !== undefined;
}

/**
 * The store a component with optional settings opens: the defaults, then the store the process
 * declares when the component picks none itself, then the component's own keys.
 */
export function effectiveStoreConfig(own: OptionalStoreConfig, processStore: unknown): StoreConfig {
  const inherited = declaresStore(own) ? {} : ((processStore as StoreConfig | undefined) ?? {});
  const defined = Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined));
  return { ...defaultStoreConfig(), ...inherited, ...defined };
}

/** The claims of such a component: a use of the process's store, or its own store. */
export function optionalStoreClaims(own: OptionalStoreConfig): ResourceClaim[] {
  if (!declaresStore(own)) return [{ resource: STORE_RESOURCE, key: '' }];
  return storeClaims(effectiveStoreConfig(own, undefined));
}

/** Where a store keeps its data, for the start banner; a URL is shown without credentials. */
export function storeLocation(c: StoreConfig): Endpoint {
  if (!c.url) return { role: 'data', location: resolve(c.path), what: `embedded ClickHouse (chDB), database ${c.database}` };
  let where = c.url;
  try {
    const u = new URL(c.url);
    u.username = '';
    u.password = '';
    where = u.toString();
  } catch {
    // Not a URL: the connection will say so; show it as written.
  }
  return { role: 'data', location: where, what: `ClickHouse server, database ${c.database}${c.cluster ? ` on cluster ${c.cluster}` : ''}` };
}
