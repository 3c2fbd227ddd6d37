/**
 * Helpers of the scrape receiver's tests: the Go program of test/fixtures/goapp serving
 * net/http/pprof, a recording proxy in front of it (what the receiver was served, kept for an
 * independent computation), and polling helpers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const GOAPP = fileURLToPath(new URL('../fixtures/goapp/main.go', import.meta.url));

export const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
export const hasNats = spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;

/** Builds the Go program into `dir`; returns the executable's path. */
export function buildGoapp(dir: string): string {
  const exe = join(dir, 'goapp');
  const r = spawnSync('go', ['build', '-o', exe, GOAPP], { encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
  return exe;
}

export interface GoApp {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts the program serving pprof on `port` (0: a free one) and waits until it listens. */
export async function startGoapp(exe: string, port = 0): Promise<GoApp> {
  const child = spawn(exe, ['-serve', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.on('exit', () => (live.delete(child), resolve())));
  let out = '';
  const bound = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`goapp did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on [^\s]*:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`goapp exited with ${code}:\n${out}`));
    });
  });
  return {
    port: bound,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Served {
  path: string;
  /** When the response was complete, Unix ms. */
  at: number;
  status: number;
  body: Buffer;
}

export interface RecordingProxy {
  port: number;
  served: Served[];
  /** Points the proxy at another upstream port (a restarted program). */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** An HTTP proxy that forwards to 127.0.0.1:<upstream> and records every response it relays. */
export async function startRecordingProxy(upstream: number): Promise<RecordingProxy> {
  let target = upstream;
  const served: Served[] = [];
  const server: Server = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        const body = Buffer.concat(chunks);
        served.push({ path: req.url ?? '', at: Date.now(), status: upRes.statusCode ?? 0, body });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.end(body);
      });
    });
    up.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    served,
    retarget: (p) => (target = p),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** GET returning parsed JSON; a retryable status is retried as a real client would. */
export async function getJson<T = any>(url: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url);
    if ((res.status === 503 || res.status === 429) && attempt < 20) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
}

export interface TargetView {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: string;
}

export async function activeTargets(hearthUrl: string): Promise<TargetView[]> {
  const r = await getJson<{ status: string; data: { activeTargets: TargetView[] } }>(`${hearthUrl}/api/v1/targets?state=active`);
  return r.data.activeTargets;
}

/** A single-node Hearth (embedded store in `dataDir`, API, port 0) whose only receiver is `scrape` with these scrape_configs. */
export function scrapeNodeConfig(dataDir: string, scrapeConfigs: unknown[]): string {
  return stringify({
    receivers: { scrape: { scrape_configs: scrapeConfigs } },
    exporters: { clickhouse: { path: dataDir } },
    extensions: { api: { path: dataDir } },
    service: {
      extensions: ['api'],
      http: { endpoint: '127.0.0.1:0' },
      pipelines: { profiles: { receivers: ['scrape'], exporters: ['clickhouse'] } },
    },
  });
}
