/**
 * One connection layer: `@clickhouse/client` everywhere. Embedded chDB plugs into it through
 * `chdb/connection`; a ClickHouse server or cluster uses the client's own HTTP connection.
 * Everything above this file sees the same ClickHouseClient.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';

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
}

export function connect(opts: ConnectionOptions): Connection {
  const settings = {
    // Large results are parsed by us; 64-bit IDs must survive as exact decimal text.
    output_format_json_quote_64bit_integers: 1,
    date_time_input_format: 'best_effort',
  } as const;
  if (opts.url) {
    const client = createClient({
      url: opts.url,
      username: opts.username || 'default',
      password: opts.password ?? '',
      clickhouse_settings: settings,
      request_timeout: 60_000,
      compression: { request: false, response: true },
    });
    return { client, kind: 'http', key: `url:${opts.url}`, spoolDir: '' };
  }
  const dir = resolve(opts.path);
  mkdirSync(dir, { recursive: true });
  // The hook is typed for the client's internal Connection; chdb implements exactly that contract.
  const connection = createChdbConnection({ path: dir }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const client = createClient({ connection, clickhouse_settings: settings } as Parameters<typeof createClient>[0]);
  return { client, kind: 'chdb', key: `path:${dir}`, spoolDir: resolve(dir, 'spool') };
}
