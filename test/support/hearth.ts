/**
 * Runs a real Hearth process (`bin/hearth.ts start`) for end-to-end tests, with its own
 * config file and data directory, on a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Resolved here, not from the child's working directory (a temp dir outside the project).
const tsxLoader = import.meta.resolve('tsx');

export interface HearthProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the process to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix = 'hearth-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The single-node pipeline on port 0 with its data in `dataDir`. */
export function singleNodeConfig(dataDir: string, extra = ''): string {
  return `
receivers:
  pyroscope: {}
exporters:
  clickhouse:
    path: ${JSON.stringify(dataDir)}
extensions:
  api: {}
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  telemetry:
    logs:
      level: info
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [clickhouse]
${extra}`;
}

/**
 * Pyroscope ingest plus OTLP traces on the shared port, both into one store: what a test of
 * trace-to-profile linking needs.
 */
export function traceToProfileConfig(dataDir: string): string {
  return `
receivers:
  pyroscope: {}
  otlp:
    protocols:
      http: {}
exporters:
  clickhouse:
    path: ${JSON.stringify(dataDir)}
extensions:
  api: {}
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [clickhouse]
    traces:
      receivers: [otlp]
      exporters: [clickhouse]
`;
}

/** Tests run Hearth from its TypeScript sources, so they need no build step. */
const FROM_SOURCES = ['--import', tsxLoader, join(root, 'bin/hearth.ts')];

/** `entry`: the node arguments that run the CLI (a benchmark passes the compiled one). */
export async function startHearth(configText: string, dir: string, env: Record<string, string> = {}, nodeArgs: string[] = [], entry: string[] = FROM_SOURCES): Promise<HearthProcess> {
  const configFile = join(dir, `pipelines-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(configFile, configText);
  const child = spawn(process.execPath, [...nodeArgs, ...entry, 'start', '--config', configFile], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hearth did not start in time:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"address":"([^"]+):(\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[2]}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hearth exited with ${code} before it started:\n${out}`));
    });
  });
  return {
    url,
    dir,
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
