/**
 * Runs a private `nats-server -js` for tests: its own free port and store directory, so that
 * it can be killed and started again on the same address with the same JetStream data, the
 * way an operator restarts a broker. A server already running on the machine is never used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly running: boolean;
  /** Everything the server logged, across restarts. */
  output(): string;
  /** Graceful stop (SIGTERM); resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
  /** Starts again on the same port and store directory (after stop or kill). */
  start(): Promise<void>;
  /** kill() then start(). */
  restart(): Promise<void>;
  /** Stops the server and deletes its store directory. */
  dispose(): Promise<void>;
}

/** A port that was free a moment ago; the server binds it right after. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Which servers this process started, so that a crashed test run still takes them down. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startNats(opts: { args?: string[] } = {}): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'hearth-nats-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const launch = async (): Promise<void> => {
    const c = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    live.add(c);
    exited = new Promise((resolve) =>
      c.on('exit', () => {
        live.delete(c);
        resolve();
      }),
    );
    const mark = log.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`nats-server did not become ready on port ${port}:\n${log.slice(mark)}`));
      }, 20_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        if (log.indexOf('Server is ready', mark) >= 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      c.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited before it was ready:\n${log.slice(mark)}`));
      });
    });
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    await exited;
  };

  try {
    await launch();
  } catch (e) {
    rmSync(storeDir, { recursive: true, force: true });
    throw e;
  }
  const server: NatsServer = {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    output: () => log,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async start() {
      if (server.running) throw new Error('nats-server is already running');
      // The port may still be in TIME_WAIT or held by the dying process for a moment.
      for (let attempt = 0; ; attempt++) {
        try {
          await launch();
          return;
        } catch (e) {
          if (attempt >= 10) throw e;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    },
    async restart() {
      await server.kill();
      await server.start();
    },
    async dispose() {
      await signal('SIGTERM');
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return server;
}
