/**
 * Batched, idempotent writes of spans.
 *
 * Span batches wait at most `flushIntervalMs` (or until `maxRows` spans are pending) and go to
 * ClickHouse in one insert. A batch's promise settles only after that insert has committed,
 * so a client's 2xx means its spans are durable.
 *
 * Idempotency follows the profile writer: every batch carries a batch ID derived from its
 * idempotency key, stored on each of its rows. Before inserting, the writer drops batches
 * whose ID is already in the spans table (the commit point itself, so a crash at any moment
 * cannot hide or double a batch); the insert carries an insert_deduplication_token over its
 * batch IDs, so a retried insert of the same block is ignored by ClickHouse. Inserts run one
 * at a time, which keeps two deliveries of one batch from passing each other's check.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SpanBatch } from '../core/model.ts';
import { UnavailableError } from '../core/errors.ts';
import type { Connection } from './connection.ts';
import { insertRowBinary } from './bulk-insert.ts';
import { idToDecimal } from './ids.ts';
import { idKey } from './rows.ts';
import type { Schema } from './schema.ts';
import { SPAN_COLUMNS, spanBatchToRows, type SpanRows } from './span-rows.ts';

export interface SpanWriterOptions {
  flushIntervalMs: number;
  /** Flush early once this many spans are pending. */
  maxRows: number;
}

interface Pending {
  rows: SpanRows;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface SpanWriterStats {
  batches: number;
  duplicates: number;
  spans: number;
  flushes: number;
}

export class SpanWriter {
  private pending: Pending[] = [];
  private pendingSpans = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  /** The last insert started; the next one waits for it. */
  private inFlight: Promise<void> = Promise.resolve();
  /** Batch IDs queued or being written: a duplicate arriving meanwhile shares that write. */
  private readonly writing = new Map<string, Promise<void>>();
  readonly stats: SpanWriterStats = { batches: 0, duplicates: 0, spans: 0, flushes: 0 };

  constructor(
    private readonly conn: Connection,
    private readonly schema: Schema,
    private readonly opts: SpanWriterOptions,
    private readonly logger: Logger,
  ) {}

  write(batch: SpanBatch): Promise<void> {
    const rows = spanBatchToRows(batch);
    if (rows.count === 0) return Promise.resolve();
    const key = idKey(rows.batchId);
    const same = this.writing.get(key);
    if (same) return same;
    const done = new Promise<void>((resolve, reject) => this.pending.push({ rows, resolve, reject }));
    this.pendingSpans += rows.count;
    this.writing.set(key, done);
    const forget = () => this.writing.delete(key);
    done.then(forget, forget);
    if (this.draining || this.pendingSpans >= this.opts.maxRows) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.flushIntervalMs);
    return done;
  }

  /** Writes everything pending now; resolves when all of it is committed (or failed). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.pending;
    this.pending = [];
    this.pendingSpans = 0;
    if (items.length) this.inFlight = this.inFlight.then(() => this.commit(items));
    return this.inFlight;
  }

  /** From now on every write is flushed at once: used while shutting down. */
  drain(): Promise<void> {
    this.draining = true;
    return this.flush();
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
      this.logger.debug({ batches: items.length, fresh: fresh.length, ms: Math.round(performance.now() - started) }, 'spans flushed');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'span insert failed');
      const e = new UnavailableError(`storage unavailable: ${(err as Error).message}`);
      for (const p of items) p.reject(e);
    }
  }

  /** Drops batches already stored (a redelivery) and duplicates within this flush. */
  private async withoutStored(items: Pending[]): Promise<Pending[]> {
    const unique = new Map<string, Pending>();
    for (const p of items) {
      const k = idKey(p.rows.batchId);
      if (!unique.has(k)) unique.set(k, p);
    }
    let min = unique.values().next().value!.rows.minStartNanos;
    let max = min;
    for (const { rows } of unique.values()) {
      if (rows.minStartNanos < min) min = rows.minStartNanos;
      if (rows.maxStartNanos > max) max = rows.maxStartNanos;
    }
    const rs = await this.conn.client.query({
      query: `SELECT DISTINCT toString(batch_id) AS id FROM ${this.schema.table('spans')}
              WHERE start >= fromUnixTimestamp64Nano({min:Int64}) AND start <= fromUnixTimestamp64Nano({max:Int64})
                AND batch_id IN {ids:Array(UInt64)}`,
      query_params: { min, max, ids: [...unique.values()].map((p) => BigInt(idToDecimal(p.rows.batchId))) },
      format: 'JSONEachRow',
    });
    const stored = new Set((await rs.json<{ id: string }>()).map((r) => r.id));
    return [...unique.values()].filter((p) => !stored.has(idToDecimal(p.rows.batchId)));
  }

  private async insert(items: Pending[]): Promise<void> {
    let bytes = 0;
    let spans = 0;
    for (const { rows } of items) {
      bytes += rows.bytes.length;
      spans += rows.count;
    }
    const data = new Uint8Array(bytes);
    let at = 0;
    for (const { rows } of items) {
      data.set(rows.bytes, at);
      at += rows.bytes.length;
    }
    const token = createHash('sha256')
      .update(items.map((p) => idKey(p.rows.batchId)).sort().join(','))
      .digest('hex');
    await insertRowBinary(this.conn, this.schema.table('spans'), SPAN_COLUMNS, data, {
      insert_deduplication_token: token,
      insert_deduplicate: 1,
      // One block, so that the whole flush commits or fails as a unit.
      max_insert_block_size: Math.max(spans + 1, 1_048_576),
      min_insert_block_size_rows: 0,
      min_insert_block_size_bytes: 0,
    });
    this.stats.spans += spans;
  }
}
