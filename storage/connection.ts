/**
 * One connection layer: `@clickhouse/client` everywhere. Embedded chDB plugs into it through
 * `chdb/connection`; a ClickHouse server or cluster uses the client's own HTTP connection.
 * Everything above this file sees the same ClickHouseClient.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';

// chDB is loaded only when an embedded store is opened: loading the engine's library alone
// adds about 150 MB of resident memory, which a process that talks to a ClickHouse server (or
// only forwards to NATS) should not carry.
const require = createRequire(import.meta.url);

const MiB = 1024 * 1024;

/**
 * Server configuration for the embedded engine. ClickHouse sizes its caches for a machine of
 * its own (5 GiB each for marks, primary indexes and skip-index marks, 128 MiB of compiled
 * expressions); inside Hearth's process they are capped so that the engine's share of memory
 * stays small and predictable. Queries here touch few parts, so small caches lose little.
 */
const EMBEDDED_SERVER_ARGS = [
  `--mark_cache_size=${64 * MiB}`,
  `--index_mark_cache_size=${16 * MiB}`,
  `--primary_index_cache_size=${16 * MiB}`,
  `--query_condition_cache_size=${16 * MiB}`,
  `--compiled_expression_cache_size=${16 * MiB}`,
];

type ClientConnection = NonNullable<Parameters<typeof createClient>[0]>['connection'];

/** Starts the embedded engine on `dir` with EMBEDDED_SERVER_ARGS and returns the client's connection to it. */
function openEmbedded(dir: string): ClientConnection {
  const { Session } = require('chdb') as typeof import('chdb');
  const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
  // The engine takes its configuration from the first connection to a directory, and
  // chdb/connection has no way to pass any. So a first session starts it with the settings and
  // closes once the client's own connection holds the engine (which stays up while any does).
  const first = new Session(dir, { connectionArgs: EMBEDDED_SERVER_ARGS });
  try {
    // The hook is typed for the client's internal Connection; chdb implements exactly that contract.
    return createChdbConnection({ path: dir }) as unknown as ClientConnection;
  } finally {
    first.close();
  }
}

export interface ConnectionOptions {
  /** Embedded store directory (chDB). Used when `url` is empty. */
  path: string;
  /** ClickHouse server URL, e.g. http://localhost:8123. */
  url?: string;
  username?: string;
  password?: string;
  /** Database holding Hearth's tables. */
  database: string;
  /** Cluster name for ON CLUSTER DDL; empty for a single node. */
  cluster?: string;
}

export interface Connection {
  client: ClickHouseClient;
  /** 'chdb' runs in this process; 'http' talks to a server. */
  kind: 'chdb' | 'http';
  /** Identifies the underlying store so that components in one process can share it. */
  key: string;
  /** Embedded only: where bulk inserts are spooled for the engine to read. */
  spoolDir: string;
  /** Embedded only: the store's directory. */
  dir: string;
}

const CLIENT_SETTINGS = {
  // Large results are parsed by us; 64-bit IDs must survive as exact decimal text.
  output_format_json_quote_64bit_integers: 1,
  date_time_input_format: 'best_effort',
} as const;

export function connect(opts: ConnectionOptions): Connection {
  const settings = CLIENT_SETTINGS;
  if (opts.url) {
    const client = createClient({
      url: opts.url,
      username: opts.username || 'default',
      password: opts.password ?? '',
      clickhouse_settings: settings,
      request_timeout: 60_000,
      compression: { request: false, response: true },
    });
    return { client, kind: 'http', key: `url:${opts.url}`, spoolDir: '', dir: '' };
  }
  const dir = resolve(opts.path);
  mkdirSync(dir, { recursive: true });
  const connection = openEmbedded(dir);
  const client = createClient({ connection, clickhouse_settings: settings } as Parameters<typeof createClient>[0]);
  return { client, kind: 'chdb', key: `path:${dir}`, spoolDir: resolve(dir, 'spool'), dir };
}

/** A second connection to the same store, and how to close it. */
export interface SiblingConnection {
  connection: Connection;
  close(): Promise<void>;
}

/**
 * A connection of its own to the same store, for statements that must not wait behind another
 * connection's. The embedded engine's binding runs the statements of one connection one after
 * another (and bound-parameter ones one at a time across the process); a second connection to
 * the same running engine runs beside the first, as long as it sends statements with inlined
 * values. A server connection already runs requests side by side, so it is shared.
 */
export function siblingConnection(conn: Connection): SiblingConnection {
  if (conn.kind === 'http') return { connection: conn, close: async () => {} };
  const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
  const connection = createChdbConnection({ path: conn.dir }) as unknown as ClientConnection;
  const client = createClient({ connection, clickhouse_settings: CLIENT_SETTINGS } as Parameters<typeof createClient>[0]);
  return { connection: { ...conn, client }, close: () => client.close() };
}

/**
 * The query engine's own clients, so that API queries run beside the writer's inserts and, on
 * the embedded engine, beside each other. A server connection already runs requests side by
 * side, so it is shared.
 */
export function readerClients(conn: Connection, count: number): { clients: ClickHouseClient[]; close(): Promise<void> } {
  if (conn.kind === 'http') return { clients: [conn.client], close: async () => {} };
  const siblings = Array.from({ length: Math.max(1, count) }, () => siblingConnection(conn));
  return {
    clients: siblings.map((s) => s.connection.client),
    close: async () => {
      for (const s of siblings) await s.close();
    },
  };
}
