/**
 * One Hearth with service.limits and an overrides file, for the limits tests, plus helpers to
 * push profiles and call the query API as a client would.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../../core/model.ts';
import { encodePprof } from '../../formats/pprof/encode.ts';
import { startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { cpuProfile } from '../support/synthetic-profiles.ts';

export interface LimitsHearth {
  hearth: HearthProcess;
  overridesFile: string;
  /** Rewrites the overrides file (`overrides: {tenant: {...}}`). */
  setOverrides(overrides: Record<string, Record<string, unknown>>): void;
  close(): Promise<void>;
}

export async function startLimitsHearth(
  defaults: Record<string, unknown> = {},
  overrides: Record<string, Record<string, unknown>> = {},
  opts: { otlp?: boolean; /** Data and overrides directory to reuse (a restart); the caller removes it. */ dir?: string } = {},
): Promise<LimitsHearth> {
  const tmp = opts.dir ? { dir: opts.dir, remove: () => {} } : tempDir('hearth-limits-');
  const overridesFile = join(tmp.dir, 'overrides.yaml');
  const setOverrides = (o: Record<string, Record<string, unknown>>) => writeFileSync(overridesFile, JSON.stringify({ overrides: o }, null, 2));
  setOverrides(overrides);
  const config = `
receivers:
  pyroscope: {}
${opts.otlp ? '  otlp: { protocols: { http: {} } }' : ''}
exporters:
  clickhouse:
    path: ${JSON.stringify(join(tmp.dir, 'data'))}
extensions:
  api: {}
service:
  extensions: [api]
  http:
    endpoint: 127.0.0.1:0
  limits:
    defaults: ${JSON.stringify(defaults)}
    overrides_file: ${JSON.stringify(overridesFile)}
  pipelines:
    profiles:
      receivers: [pyroscope${opts.otlp ? ', otlp' : ''}]
      exporters: [clickhouse]
`;
  const hearth = await startHearth(config, tmp.dir);
  return {
    hearth,
    overridesFile,
    setOverrides,
    async close() {
      await hearth.stop();
      tmp.remove();
    },
  };
}

export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

/** Pushes one pprof profile to /ingest once (no retry: the tests look at refusals). */
export async function ingest(url: string, name: string, p: Profile, tenant = 'anonymous'): Promise<Answer> {
  const r = await fetch(`${url}/ingest?name=${encodeURIComponent(name)}&format=pprof`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/octet-stream' },
    body: new Blob([encodePprof(p) as Uint8Array<ArrayBuffer>]),
  });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

/** Pushes as a client does: a 503 (the store busy or restarting) is retried after its Retry-After. */
export async function ingestRetrying(url: string, name: string, p: Profile, tenant = 'anonymous', deadlineMs = 120_000): Promise<Answer> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await ingest(url, name, p, tenant);
    if (r.status !== 503 || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get('retry-after') ?? '1')));
  }
}

/** Calls a querier.v1 method with Connect JSON. */
export async function querier(url: string, method: string, body: unknown, tenant = 'anonymous', signal?: AbortSignal): Promise<Answer> {
  const r = await fetch(`${url}/querier.v1.QuerierService/${method}`, {
    method: 'POST',
    headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

/** A CPU profile stamped now whose samples carry the given label sets (one sample each). */
export function labelledProfile(sets: Array<Record<string, string>>, timeMs = Date.now()): Profile {
  return cpuProfile(
    timeMs,
    ['', 'main', 'work'],
    [Uint32Array.of(2, 1)],
    sets.map((_, i) => ({ stack: 0, values: [10_000_000], labelSet: i + 1 })),
    [{}, ...sets],
  );
}

/** A profile with `n` samples of a stack `depth` frames deep. */
export function deepProfile(depth: number, samples = 1, timeMs = Date.now()): Profile {
  const names = [''];
  for (let i = 1; i <= depth; i++) names.push(`f${i}`);
  const frames = Uint32Array.from({ length: depth }, (_, i) => depth - i);
  return cpuProfile(
    timeMs,
    names,
    [frames],
    Array.from({ length: samples }, () => ({ stack: 0, values: [10_000_000], labelSet: 0 })),
  );
}

/** Polls `check` until it returns true or the deadline passes. */
export async function eventually(check: () => Promise<boolean>, what: string, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
