/**
 * Distributed-mode harness: collector and store configs for real Hearth processes around a
 * private nats-server, a load generator that retries like an SDK, and readers for what the
 * stream and the stores hold.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { parse, stringify } from 'yaml';
import { startHearth, type HearthProcess } from './hearth.ts';

export const STREAM = 'HEARTH_PROFILES';
export const CONSUMER = 'hearth-ingesters';
export const SUBJECT_PREFIX = 'hearth.profiles';
export const DEAD_LETTER_SUBJECT = 'hearth.deadletter.profiles';

/** Receivers and processors, then the nats exporter; `exporter` is YAML merged over the test defaults of exporters.nats. */
export function collectorConfig(natsUrl: string, exporter = ''): string {
  const nats = { url: natsUrl, publish_timeout_ms: 3000, reconnect_wait_ms: 200, ...fragment(exporter) };
  return stringify({
    receivers: { pyroscope: {} },
    exporters: { nats },
    service: { http: { endpoint: '127.0.0.1:0' }, pipelines: { profiles: { receivers: ['pyroscope'], exporters: ['nats'] } } },
  });
}

/** The nats receiver, the clickhouse exporter (embedded, in `dataDir`) and the API; `receiver` is YAML merged over receivers.nats. */
export function storeConfig(natsUrl: string, dataDir: string, receiver = ''): string {
  const nats = { url: natsUrl, reconnect_wait_ms: 200, fetch_expires_ms: 1000, lag_poll_interval_ms: 500, ...fragment(receiver) };
  return stringify({
    receivers: { nats },
    exporters: { clickhouse: { path: dataDir } },
    extensions: { api: { path: dataDir } },
    service: {
      extensions: ['api'],
      http: { endpoint: '127.0.0.1:0' },
      pipelines: { profiles: { receivers: ['nats'], exporters: ['clickhouse'] } },
    },
  });
}

/** A YAML mapping written inline in a test, indented however the test source is. */
function fragment(text: string): Record<string, unknown> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return {};
  const min = Math.min(...lines.map((l) => l.length - l.trimStart().length));
  return parse(lines.map((l) => l.slice(min)).join('\n')) as Record<string, unknown>;
}

/** Every process a test started, stopped by `stopAll` in an after() hook even when the test failed. */
export class Processes {
  private readonly all = new Set<{ stop(signal?: NodeJS.Signals): Promise<unknown> }>();
  async hearth(config: string, dir: string, env: Record<string, string> = {}): Promise<HearthProcess> {
    const h = await startHearth(config, dir, env);
    this.all.add(h);
    return h;
  }
  forget(p: { stop(signal?: NodeJS.Signals): Promise<unknown> }): void {
    this.all.delete(p);
  }
  async stopAll(): Promise<void> {
    await Promise.all([...this.all].map((p) => p.stop('SIGKILL').catch(() => {})));
    this.all.clear();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** A plain client connection for the test itself (publishing garbage, reading consumer state). */
export function natsClient(url: string): Promise<NatsConnection> {
  return connect({ servers: url, reconnectTimeWait: 200, maxReconnectAttempts: -1 });
}

/** Waits until every message in the stream was delivered and acknowledged, i.e. stored. */
export async function waitDrained(natsUrl: string, timeoutMs = 60_000, stream = STREAM, consumer = CONSUMER): Promise<void> {
  const nc = await natsClient(natsUrl);
  try {
    const jsm = await jetstreamManager(nc);
    await waitFor(
      `consumer ${consumer} to drain`,
      async () => {
        const ci = await jsm.consumers.info(stream, consumer);
        return ci.num_pending === 0 && ci.num_ack_pending === 0 && ci.num_redelivered === 0;
      },
      timeoutMs,
      200,
    );
  } finally {
    await nc.close();
  }
}

/** One value of a metric from a process's /metrics (summed over series matching `labels`). */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * The flame graph total of a query from a store's /pyroscope/render: over all time by default
 * (long ranges are served from the rollups), or over [from, until) in Unix ms.
 */
export async function renderTotal(url: string, query: string, tenant?: string, range?: { from: number; until: number }): Promise<number> {
  const span = range ? `from=${range.from}&until=${range.until}` : 'from=0&until=now%2B1d';
  const r = await fetch(`${url}/pyroscope/render?query=${encodeURIComponent(query)}&${span}&maxNodes=1048576`, {
    headers: tenant ? { 'X-Scope-OrgID': tenant } : {},
  });
  if (r.status !== 200) throw new Error(`render ${query}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks;
}

/**
 * The same total summed over windows shorter than an hour, which the query engine answers from
 * the raw sample rows rather than the rollups; `fromMs`/`untilMs` must not fall on a profile's time.
 */
export async function rawTotal(url: string, query: string, fromMs: number, untilMs: number): Promise<number> {
  const window = 50 * 60_000;
  let sum = 0;
  for (let t = fromMs; t < untilMs; t += window) sum += await renderTotal(url, query, undefined, { from: t, until: Math.min(t + window, untilMs) });
  return sum;
}

export const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

/** Real folded stacks: `stack count` lines from the corpus files. */
export function foldedLines(texts: string[]): string[] {
  return texts.flatMap((t) => t.split('\n').filter((l) => /\S \d+\s*$/.test(l)).map((l) => l.trimEnd()));
}

/** Sum of the counts of folded lines (what an independent reader of the text sees). */
export function foldedCount(lines: string[]): number {
  return lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

export interface Push {
  service: string;
  /** Unix seconds; distinct per push, so every profile is a distinct one. */
  from: number;
  body: string;
  tenant?: string;
}

export interface LoadResult {
  ok: number;
  retries: number;
  /** Statuses of the retried answers, e.g. {"503": 12}. */
  statuses: Record<string, number>;
}

/**
 * Pushes folded profiles through /ingest with `concurrency` clients. Like an SDK, a client
 * retries 5xx, 429 and connection errors with backoff (honouring Retry-After up to a cap);
 * any 4xx is a test failure.
 */
export async function pushAll(url: () => string, pushes: Push[], concurrency: number, onProgress?: (done: number) => void): Promise<LoadResult> {
  let next = 0;
  let done = 0;
  const result: LoadResult = { ok: 0, retries: 0, statuses: {} };
  async function one(p: Push): Promise<void> {
    let delay = 50;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 400) throw new Error(`push of ${p.service}@${p.from} kept failing`);
      let status = 0;
      let retryAfter = 0;
      try {
        const r = await fetch(`${url()}/ingest?name=${encodeURIComponent(`${p.service}.cpu`)}&format=folded&sampleRate=100&from=${p.from}&until=${p.from + 10}`, {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain', ...(p.tenant ? { 'X-Scope-OrgID': p.tenant } : {}) },
          body: p.body,
        });
        status = r.status;
        retryAfter = Number(r.headers.get('retry-after') ?? 0);
        const text = await r.text();
        if (r.ok) {
          result.ok++;
          return;
        }
        if (status < 500 && status !== 429) throw new Error(`push of ${p.service}@${p.from} got ${status}: ${text}`);
      } catch (e) {
        if (status && status < 500 && status !== 429) throw e;
      }
      result.retries++;
      result.statuses[String(status || 'error')] = (result.statuses[String(status || 'error')] ?? 0) + 1;
      await sleep(Math.min(Math.max(delay, retryAfter * 1000), 1_000) * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, 1_000);
    }
  }
  async function worker(): Promise<void> {
    while (next < pushes.length) {
      const p = pushes[next++];
      await one(p);
      onProgress?.(++done);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}
