/**
 * Batched, idempotent writes.
 *
 * Batches accumulate for at most `flushIntervalMs` (or until `maxRows`), then go to
 * ClickHouse in one insert per table. A batch's promise settles only after the samples
 * insert — the commit point — has returned, so a client's 2xx means its data is durable.
 *
 * Idempotency: every batch carries a profile ID derived from its idempotency key. Before
 * inserting, the writer drops batches whose profile ID is already stored; the samples insert
 * also carries an insert_deduplication_token over its profile IDs, so a retried insert of the
 * same block is ignored by ClickHouse itself. Functions, stacks and series are keyed by
 * content in ReplacingMergeTree tables, so writing them twice is harmless; they are written
 * before the samples so that no committed sample can point at a missing stack.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { Batch } from '../core/model.ts';
import { UnavailableError } from '../core/errors.ts';
import { batchToRows, newRowCaches, seriesKey, type BatchRows, type RowCaches } from './rows.ts';
import type { Schema } from './schema.ts';

export interface WriterOptions {
  flushIntervalMs: number;
  /** Flush early once this many sample rows are pending. */
  maxRows: number;
}

interface Pending {
  batch: Batch;
  rows: BatchRows;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface WriterStats {
  batches: number;
  duplicates: number;
  rows: number;
  flushes: number;
}

export class Writer {
  private pending: Pending[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly caches: RowCaches = newRowCaches();
  private draining = false;
  readonly stats: WriterStats = { batches: 0, duplicates: 0, rows: 0, flushes: 0 };

  constructor(
    private readonly client: ClickHouseClient,
    private readonly schema: Schema,
    private readonly opts: WriterOptions,
    private readonly logger: Logger,
  ) {}

  write(batch: Batch): Promise<void> {
    const rows = batchToRows(batch, this.caches);
    return new Promise((resolve, reject) => {
      this.pending.push({ batch, rows, resolve, reject });
      this.pendingRows += rows.sampleCount;
      if (this.draining || this.pendingRows >= this.opts.maxRows) this.scheduleFlush(0);
      else this.scheduleFlush(this.opts.flushIntervalMs);
    });
  }

  /** Writes everything pending now; resolves when it is committed. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    // Flushes run one at a time, in order; batches arriving meanwhile form the next one.
    this.flushing = this.flushing.then(() => (batch.length ? this.commit(batch) : undefined));
    return this.flushing;
  }

  /** From now on every write is flushed at once: used while shutting down. */
  drain(): Promise<void> {
    this.draining = true;
    return this.flush();
  }

  private scheduleFlush(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
  }

  private async commit(items: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      const fresh = await this.withoutStored(items);
      if (fresh.length) await this.insert(fresh);
      this.stats.flushes++;
      this.stats.batches += items.length;
      this.stats.duplicates += items.length - fresh.length;
      for (const p of items) p.resolve();
      this.logger.debug({ batches: items.length, fresh: fresh.length, ms: Math.round(performance.now() - started) }, 'flushed');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'insert failed');
      const e = new UnavailableError(`storage unavailable: ${(err as Error).message}`);
      for (const p of items) p.reject(e);
    }
  }

  /** Drops batches already stored (a redelivery) and duplicates within this flush. */
  private async withoutStored(items: Pending[]): Promise<Pending[]> {
    const unique = new Map<string, Pending>();
    for (const p of items) if (!unique.has(p.rows.profileId)) unique.set(p.rows.profileId, p);
    let minMs = Infinity;
    let maxMs = -Infinity;
    for (const p of unique.values()) {
      minMs = Math.min(minMs, p.rows.minTimeMs);
      maxMs = Math.max(maxMs, p.rows.maxTimeMs);
    }
    const rs = await this.client.query({
      query: `SELECT DISTINCT toString(profile_id) AS id FROM ${this.schema.table('profiles')}
              WHERE time >= fromUnixTimestamp64Milli({min:Int64}) AND time <= fromUnixTimestamp64Milli({max:Int64})
                AND has({ids:Array(UInt64)}, profile_id)`,
      query_params: { min: minMs - 1, max: maxMs + 1, ids: [...unique.keys()].map(BigInt) },
      format: 'JSONEachRow',
    });
    const stored = new Set((await rs.json<{ id: string }>()).map((r) => r.id));
    return [...unique.values()].filter((p) => !stored.has(p.rows.profileId));
  }

  private async insert(items: Pending[]): Promise<void> {
    const functions = new Map<string, string>();
    const stacks = new Map<string, string[]>();
    const series = new Map<string, BatchRows['series'][number]>();
    const samples: string[] = [];
    let rows = 0;
    for (const { rows: r } of items) {
      for (const f of r.functions) functions.set(f.id, f.name);
      for (const s of r.stacks) stacks.set(s.id, s.frames);
      for (const s of r.series) series.set(seriesKey(s.tenant, s.fingerprint, s.date), s);
      samples.push(r.samples);
      rows += r.sampleCount;
    }
    const t = this.schema.table.bind(this.schema);
    const inserts: Promise<unknown>[] = [];
    if (functions.size) {
      inserts.push(this.client.insert({ table: t('functions'), format: 'JSONEachRow', values: [...functions].map(([id, name]) => ({ id, name })) }));
    }
    if (stacks.size) {
      inserts.push(this.client.insert({ table: t('stacks'), format: 'JSONEachRow', values: [...stacks].map(([id, frames]) => ({ id, frames })) }));
    }
    if (series.size) {
      inserts.push(this.client.insert({ table: t('series'), format: 'JSONEachRow', values: [...series.values()] }));
    }
    await Promise.all(inserts);
    if (rows > 0) {
      const token = createHash('sha256').update(items.map((p) => p.rows.profileId).sort().join(',')).digest('hex');
      await this.client.insert({
        table: t('samples'),
        format: 'TabSeparated',
        values: Readable.from([Buffer.from(samples.join(''))], { objectMode: false }),
        clickhouse_settings: {
          insert_deduplication_token: token,
          insert_deduplicate: 1,
          // One block, so that the whole flush commits or fails as a unit.
          max_insert_block_size: String(Math.max(rows + 1, 1_048_576)),
          min_insert_block_size_rows: '0',
          min_insert_block_size_bytes: '0',
        },
      });
    }
    for (const id of functions.keys()) this.caches.functions.add(id);
    for (const id of stacks.keys()) this.caches.stacks.add(id);
    for (const k of series.keys()) this.caches.series.add(k);
    this.stats.rows += rows;
  }
}
