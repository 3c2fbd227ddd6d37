/**
 * The store settings shared by every component that opens a store (the clickhouse exporter,
 * the API, the nats receiver's ingesters), with one schema and one set of defaults.
 */
import { z } from 'zod';
import type { StoreOptions } from './store.ts';

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
  /** Days to keep data; 0 keeps it forever. */
  retention_days: z.number().int().nonnegative(),
};

export interface StoreConfig {
  path: string;
  url: string;
  username: string;
  password: string;
  database: string;
  cluster: string;
  retention_days: number;
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
  };
}
