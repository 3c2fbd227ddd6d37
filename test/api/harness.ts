/**
 * Shared by the API tests: real Go CPU profiles made by test/fixtures/goapp, the three ways a
 * client reaches querier.v1 (Connect JSON, Connect binary, gRPC over h2c), and pushing
 * profiles into a running Hearth.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';

const GOAPP = fileURLToPath(new URL('../fixtures/goapp/main.go', import.meta.url));

export const HAS_GO = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
export const GO_SKIP = HAS_GO ? false : 'the Go toolchain (go) is not installed';

/** Runs the Go fixture and returns the pprof files it wrote; `extraArgs` go to the program (e.g. -span-id). */
export async function goProfiles(dir: string, profiles = 3, extraArgs: string[] = []): Promise<Array<{ path: string; bytes: Buffer }>> {
  const out = await new Promise<string>((resolve, reject) => {
    // 200 ms per share of span work: enough CPU samples per span even on a busy machine.
    const child = spawn('go', ['run', GOAPP, '-out', dir, '-profiles', String(profiles), '-span', '200ms', ...extraArgs], {
      // The build cache lives under HOME; without one, a cache in the temp dir still works.
      env: process.env.GOCACHE || process.env.HOME ? process.env : { ...process.env, GOCACHE: join(dir, '.gocache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`go run exited with ${code}: ${stderr}`))));
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((path) => ({ path, bytes: readFileSync(path) }));
}

export const TRANSPORT_NAMES = ['Connect JSON', 'Connect binary', 'gRPC'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

export function transportFor(name: TransportName, baseUrl: string): Transport {
  switch (name) {
    case 'Connect JSON':
      return createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false });
    case 'Connect binary':
      return createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: true });
    case 'gRPC':
      // Always HTTP/2: prior knowledge (h2c) on the shared port.
      return createGrpcTransport({ baseUrl });
  }
}

export function tenantHeader(tenant: string): { headers: Record<string, string> } {
  return { headers: { 'X-Scope-OrgID': tenant } };
}

/** Pushes one pprof file through /ingest and fails loudly unless it was stored. */
export async function ingestPprof(baseUrl: string, tenant: string, name: string, bytes: Uint8Array): Promise<void> {
  const r = await fetch(`${baseUrl}/ingest?name=${encodeURIComponent(name)}&format=pprof`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/octet-stream' },
    body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
  });
  if (r.status !== 200) throw new Error(`ingest of ${name} failed with ${r.status}: ${await r.text()}`);
}

/** Self values per function name from querier.v1 flame graph levels (bigint quadruples). */
export function selfOfFlameGraph(names: string[], levels: Array<{ values: bigint[] }>): Map<string, number> {
  const self = new Map<string, number>();
  for (let d = 1; d < levels.length; d++) {
    const l = levels[d].values;
    for (let i = 0; i < l.length; i += 4) {
      const v = Number(l[i + 2]);
      if (v === 0) continue;
      const name = names[Number(l[i + 3])];
      self.set(name, (self.get(name) ?? 0) + v);
    }
  }
  return self;
}

/** Number of nodes in flame graph levels, the root excluded. */
export function nodeCountOf(levels: Array<{ values: bigint[] }>, stride = 4): number {
  let n = 0;
  for (let d = 1; d < levels.length; d++) n += levels[d].values.length / stride;
  return n;
}
