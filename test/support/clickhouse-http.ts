/**
 * TEST ONLY. A stand-in for a ClickHouse server: the part of ClickHouse's HTTP interface that
 * `@clickhouse/client` uses, answered by an embedded chDB session. It lets tests run Hearth's
 * server code path (`url:` connections) without a ClickHouse installation. Never use it in the
 * product: it runs every request in the test process and trusts its input.
 *
 * What it speaks:
 * - `GET /ping` and `GET /` answer `Ok.`.
 * - `POST /` with the SQL in the body, or in the `query` URL parameter followed by the body.
 * - `param_<name>` URL parameters for `{name:Type}` placeholders (text, escaped as the HTTP
 *   interface expects), settings as other URL parameters, `default_format` or a FORMAT clause.
 * - `INSERT ... FORMAT <fmt>` in `query` with the data as the body (RowBinary included): the
 *   body is spooled to a file that `INSERT ... SELECT * FROM file()` reads.
 * - Responses carry the X-ClickHouse-* headers; errors are `Code: N. DB::Exception: ...` bodies
 *   with X-ClickHouse-Exception-Code.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { Session } from 'chdb';

export interface ClickHouseHttpFront {
  url: string;
  /** Requests answered so far, by kind. */
  stats: { queries: number; inserts: number; errors: number };
  close(): Promise<void>;
}

/** URL parameters that steer the HTTP layer, not the engine. */
const HTTP_PARAMS = new Set([
  'query',
  'query_id',
  'database',
  'default_format',
  'user',
  'password',
  'quota_key',
  'session_id',
  'session_timeout',
  'session_check',
  'compress',
  'decompress',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_native_compression_disable_checksumming_on_decompress',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'wait_end_of_query',
  'buffer_size',
  'cancel_http_readonly_queries_on_client_close',
  'role',
]);

const STRING_TYPES = /^(LowCardinality\()?(Nullable\()?(String|FixedString\(\d+\))\)?\)?$/;

export async function startClickHouseHttp(dataDir: string): Promise<ClickHouseHttpFront> {
  mkdirSync(dataDir, { recursive: true });
  const spool = join(dataDir, 'http-spool');
  mkdirSync(spool, { recursive: true });
  const session = new Session(dataDir);
  const stats = { queries: 0, inserts: 0, errors: 0 };

  // Long URLs: query parameters can carry thousands of IDs.
  const server = createServer({ maxHeaderSize: 16 * 1024 * 1024 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      stats.errors++;
      sendError(res, err);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && (url.pathname === '/ping' || (url.pathname === '/' && !url.searchParams.has('query')))) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    let body = await readBody(req);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const queryId = url.searchParams.get('query_id') || randomUUID();
    const format = url.searchParams.get('default_format') || 'TabSeparated';
    const urlQuery = url.searchParams.get('query');

    const settings: string[] = [];
    const params = new Map<string, string>();
    for (const [k, v] of url.searchParams) {
      if (k.startsWith('param_')) params.set(k.slice(6), v);
      else if (!HTTP_PARAMS.has(k)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new FrontError(115, 'UNKNOWN_SETTING', `Setting ${k} is neither a builtin setting nor started with the prefix 'custom_'`);
        settings.push(`SET ${k} = ${quote(v)}`);
      }
    }
    const database = url.searchParams.get('database');
    if (database && database !== 'default') settings.unshift(`USE ${database.replace(/[^A-Za-z0-9_]/g, '')}`);

    let sql: string;
    let file: string | undefined;
    const insert = urlQuery && body.length ? /^\s*(INSERT\s+INTO\s+[\s\S]+?)\s+FORMAT\s+(\w+)\s*$/i.exec(urlQuery) : null;
    if (insert) {
      // The body is data, not SQL: the engine reads it back from a file, typed by the target table.
      file = join(spool, `${randomUUID()}.${insert[2]}`);
      writeFileSync(file, body);
      sql = `${insert[1]} SELECT * FROM file(${quote(file)}, ${quote(insert[2])})`;
      stats.inserts++;
    } else {
      sql = urlQuery ? `${urlQuery}${body.length ? `\n${body.toString('utf8')}` : ''}` : body.toString('utf8');
      stats.queries++;
    }
    sql = bindParams(sql, params);
    const started = process.hrtime.bigint();
    try {
      const result = await session.queryAsync(settings.length ? `${settings.join('; ')}; ${sql}` : sql, { format });
      const bytes = result.bytes();
      const fmt = /\bFORMAT\s+(\w+)\s*;?\s*$/i.exec(sql)?.[1] ?? format;
      res.writeHead(200, {
        'Content-Type': /^JSON/i.test(fmt) ? 'application/json; charset=UTF-8' : 'text/tab-separated-values; charset=UTF-8',
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': fmt,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Server-Display-Name': 'chdb-http-front',
        'X-ClickHouse-Summary': JSON.stringify({
          read_rows: String(result.rowsRead),
          read_bytes: String(result.bytesRead),
          written_rows: '0',
          written_bytes: '0',
          total_rows_to_read: String(result.rowsRead),
          result_rows: '0',
          result_bytes: String(bytes.length),
          elapsed_ns: String(process.hrtime.bigint() - started),
        }),
      });
      res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } finally {
      if (file) rmSync(file, { force: true });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      session.close();
    },
  };
}

class FrontError extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let code = 1000;
  let text: string;
  if (err instanceof FrontError) text = `Code: ${err.code}. DB::Exception: ${err.message}. (${err.type})`;
  else {
    // The engine's messages are already ClickHouse's: "Code: 62. DB::Exception: ... (SYNTAX_ERROR)".
    text = (err as Error)?.message ?? String(err);
    const m = /Code: (\d+)\./.exec(text);
    if (m) code = Number(m[1]);
    else text = `Code: ${code}. DB::Exception: ${text}. (UNKNOWN_EXCEPTION)`;
  }
  if (err instanceof FrontError) code = err.code;
  const status = code === 62 || code === 115 ? 400 : code === 60 || code === 81 ? 404 : 500;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': String(code) }).end(`${text} (version chdb)\n`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A ClickHouse string literal. */
function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Undoes the escaping the HTTP interface applies to a top-level string parameter. */
function unescapeText(s: string): string {
  const map: Record<string, string> = { t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', '0': '\0', '\\': '\\', "'": "'", '"': '"', a: '\x07', v: '\v' };
  return s.replace(/\\(.)/g, (m, c: string) => map[c] ?? m);
}

/**
 * Replaces `{name:Type}` placeholders with typed literals. The HTTP interface parses a
 * parameter's text as the type's escaped text format: for strings that means unescaping; any
 * other type is its text form, which CAST from a string parses the same way.
 */
function bindParams(sql: string, params: Map<string, string>): string {
  return sql.replace(/\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}/g, (_m, name: string, rawType: string) => {
    const type = rawType.trim();
    const value = params.get(name);
    if (value === undefined) throw new FrontError(456, 'UNKNOWN_QUERY_PARAMETER', `Substitution \`${name}\` is not set`);
    if (STRING_TYPES.test(type)) return `CAST(${quote(unescapeText(value))} AS ${type})`;
    return `CAST(${quote(value)} AS ${type})`;
  });
}
