/**
 * The process logger: pino JSON lines for machines (files, log shippers, pipes), and colored,
 * human-readable lines when a person watches a terminal. The start line is the same record in
 * both; in pretty mode it is laid out as a short banner saying where to go next.
 */
import { resolve } from 'node:path';
import { styleText } from 'node:util';
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { Endpoint } from './component.ts';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormatSetting = (typeof LOG_FORMATS)[number];
export type LogFormat = Exclude<LogFormatSetting, 'auto'>;

export interface LoggerOptions {
  level: string;
  /** `auto`: pretty on a terminal, JSON otherwise. */
  format: LogFormatSetting;
  /** Where lines go; stdout by default. Its `isTTY` decides `auto`. */
  out?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
}

export function resolveLogFormat(setting: LogFormatSetting, isTTY: boolean | undefined): LogFormat {
  if (setting !== 'auto') return setting;
  return isTTY ? 'pretty' : 'json';
}

/** Log bytes waiting for a stalled stdout reader; later lines are dropped until it reads again. */
export const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Stdout for JSON lines, written asynchronously. Written synchronously (pino's default), a pipe
 * whose reader stalls or dies blocks the event loop for good: the server stopped answering, and
 * stopped heeding SIGTERM, once the process reading its output went away. A reader that is
 * gone loses the lines; the server runs on.
 */
function stdoutDestination() {
  // minLength 1 still writes each line at once, and makes flush() wait for the writes in flight
  // (with 0 it returns at once, and an exit right after it lost the last lines).
  const dest = pino.destination({ dest: 1, sync: false, minLength: 1, maxLength: LOG_BUFFER_BYTES });
  dest.on('error', () => giveUp(dest));
  return dest;
}

/**
 * Stops a destination from writing at exit: pino's exit hook retries a failing write (a closed
 * pipe, or a reader that never reads again) in a loop that blocks the process from ending.
 */
function giveUp(dest: ReturnType<typeof pino.destination>): void {
  dest.flushSync = () => {};
}

const stdoutOf = new WeakMap<Logger, ReturnType<typeof pino.destination>>();

/**
 * Writes out buffered log lines before an exit, waiting at most `timeoutMs` for a slow reader;
 * lines it could not write by then are given up.
 */
export function flushLogs(logger: Logger, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      const dest = stdoutOf.get(logger);
      if (dest) giveUp(dest);
      resolve();
    }, timeoutMs);
    try {
      logger.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.out ?? process.stdout;
  const format = resolveLogFormat(opts.format, out.isTTY);
  if (format === 'json') {
    if (opts.out) return pino({ level: opts.level }, out as never);
    const dest = stdoutDestination();
    const logger = pino({ level: opts.level }, dest);
    stdoutOf.set(logger, dest);
    return logger;
  }
  // Colors only where escape codes are understood: `pretty` forced into a pipe stays plain.
  const color = out.isTTY === true;
  const pretty = prettyFactory({ colorize: color, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return pino(
    { level: opts.level },
    {
      write(line: string) {
        const record = JSON.parse(line) as Record<string, unknown>;
        out.write(record.msg === STARTED && typeof record.url === 'string' ? banner(record as unknown as StartFacts, color) : pretty(record));
      },
    },
  );
}

/** The message of the start line; tests and log searches look for it. */
export const STARTED = 'hearth started';

/** What the start line tells: where the server is, what is mounted there, where data lives. */
export interface StartFacts {
  /** `host:port` as bound. */
  address: string;
  /** The URL to open in a browser or give to an SDK. */
  url: string;
  config: string;
  pipelines: string[];
  /** Paths on the shared server are joined to `url`; other locations stay as they are. */
  ingest: string[];
  query: string[];
  ui: string[];
  data: string[];
}

/** Groups the components' endpoints by role, each as `where — what (component)`. */
export function startFacts(
  bound: { host: string; port: number },
  config: string,
  pipelines: string[],
  endpoints: Array<{ component: string; endpoint: Endpoint }>,
): StartFacts {
  const url = `http://${displayHost(bound.host)}:${bound.port}`;
  const byRole = (role: Endpoint['role']) => {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const { component, endpoint } of endpoints) {
      if (endpoint.role !== role) continue;
      const where = endpoint.path !== undefined ? `${url}${endpoint.path}` : (endpoint.location ?? '');
      // Two components sharing one store both report it; once is enough.
      if (seen.has(where)) continue;
      seen.add(where);
      lines.push(`${where} — ${endpoint.what} (${component})`);
    }
    return lines;
  };
  return {
    address: `${bound.host}:${bound.port}`,
    url: `${url}/`,
    config: resolve(config),
    pipelines,
    ingest: byRole('ingest'),
    query: byRole('query'),
    ui: byRole('ui'),
    data: byRole('data'),
  };
}

/** A wildcard bind is reachable on this machine as localhost; IPv6 literals need brackets in a URL. */
function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function banner(f: StartFacts, color: boolean): string {
  const paint = (style: Parameters<typeof styleText>[0], s: string) => (color ? styleText(style, s) : s);
  const section = (title: string, lines: string[]) =>
    lines.length === 0 ? [] : [`  ${paint('bold', title)}`, ...lines.map((l) => `    ${l}`)];
  const open = f.ui.length > 0 ? f.ui[0].split(' — ')[0] : f.url;
  return (
    [
      '',
      `${paint(['bold', 'green'], 'Hearth is running')} at ${paint(['bold', 'cyan'], open)}`,
      ...section('Send profiles to', f.ingest),
      ...section('Query', f.query),
      ...section('Data', f.data),
      `  ${paint('bold', 'Config')}  ${f.config} (pipelines: ${f.pipelines.join(', ')})`,
      `  ${paint('dim', 'Stop with Ctrl-C; what is in flight is written first.')}`,
      '',
    ].join('\n') + '\n'
  );
}
