/**
 * Batched, idempotent writes.
 *
 * Batches accumulate for at most `flushIntervalMs` (or until `maxRows`), then go to
 * ClickHouse in one insert per table. A batch's promise settles only after the samples
 * insert — the commit point — has returned, so a client's 2xx means its data is durable.
 *
 * Idempotency: every batch carries a profile ID derived from its idempotency key. Before
 * inserting, the writer drops batches whose profile ID is already in the samples table —
 * the commit point itself, so a crash at any moment cannot make a stored batch look absent
 * or an absent one look stored; the samples insert
 * also carries an insert_deduplication_token over its profile IDs, so a retried insert of the
 * same block is ignored by ClickHouse itself. Functions, stacks and series are keyed by
 * content in ReplacingMergeTree tables, so writing them twice is harmless; they are written
 * before the samples so that no committed sample can point at a missing stack.
 *
 * Memory: the rows a writer holds (waiting for a flush or being inserted) are bounded in bytes,
 * not only in rows, so that thousands of concurrent pushes of sample-rich profiles cannot
 * exhaust memory. Beyond `maxPendingBytes` a write waits for earlier inserts to finish, for at
 * most `maxWaitMs`, and is then refused with a 503 and Retry-After.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Batch } from '../core/model.ts';
import { UnavailableError } from '../core/errors.ts';
import { traced } from '../core/tracing.ts';
import {
  batchToRows,
  encodeFunctions,
  encodeSeries,
  encodeStacks,
  FUNCTION_COLUMNS,
  idKey,
  newRowCaches,
  SAMPLE_COLUMNS,
  SERIES_COLUMNS,
  STACK_COLUMNS,
  startDay,
  type BatchRows,
  type PendingFunction,
  type PendingSeries,
  type PendingStack,
  type RowCaches,
} from './rows.ts';
import { idToDecimal, IdSet } from './ids.ts';
import type { Connection } from './connection.ts';
import { insertRowBinary } from './bulk-insert.ts';
import { LeastBusy } from './least-busy.ts';
import type { Schema } from './schema.ts';

export interface WriterOptions {
  flushIntervalMs: number;
  /** Flush early once this many sample rows (profiles × series) are pending. */
  maxRows: number;
  /**
   * Inserts allowed to run at once. A second starts beside a running one when a full batch is
   * waiting, or when the waiting batch is a flush interval old: under load an insert can take
   * longer than the interval, and the batches behind it should not wait for it.
   */
  maxConcurrentFlushes: number;
  /** Bytes of rows held (pending and being inserted) beyond which writes wait; 0: no limit. */
  maxPendingBytes?: number;
  /** How long a write waits for room before it is refused with a 503. */
  maxWaitMs?: number;
  /** The clock, in Unix milliseconds; replaceable so that a test can cross midnight. */
  now?: () => number;
}

const DEFAULT_MAX_WAIT_MS = 5_000;

interface Pending {
  batch: Batch;
  rows: BatchRows;
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface WriterStats {
  batches: number;
  duplicates: number;
  rows: number;
  flushes: number;
  /** Writes refused because the byte budget stayed full for maxWaitMs. */
  refused: number;
}

/** What a batch's rows cost in memory, roughly: the encoded samples and what is pending beside them. */
function rowBytes(r: BatchRows): number {
  let n = r.samples.length + 256;
  for (const f of r.functions) n += 64 + f.name.length * 2;
  for (const s of r.stacks) n += 64 + s.frames.length * 24;
  n += r.series.length * 512;
  return n;
}

export class Writer {
  private pending: Pending[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private due = false;
  /** The waiting batch has waited a whole flush interval. */
  private overdue = false;
  private draining = false;
  private flushesInFlight = 0;
  /** Profile IDs being written right now: a duplicate arriving meanwhile waits for that write. */
  private readonly writing = new Map<string, Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private readonly caches: RowCaches;
  private readonly now: () => number;
  /** Bytes of rows pending or being inserted. */
  private heldBytes = 0;
  private readonly roomWaiters: Array<{ bytes: number; grant: () => void }> = [];
  readonly stats: WriterStats = { batches: 0, duplicates: 0, rows: 0, flushes: 0, refused: 0 };

  /** Bytes of rows held now, for metrics. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** The connections flushes run on: each runs its statements in turn, so a flush takes the least busy. */
  private readonly lanes: LeastBusy<Connection>;

  /**
   * `lanes`: more connections to the same store, one per insert allowed beside the first; with
   * fewer, flushes beyond them share one.
   */
  constructor(
    conn: Connection,
    private readonly schema: Schema,
    private readonly opts: WriterOptions,
    private readonly logger: Logger,
    lanes: Connection[] = [],
  ) {
    this.now = opts.now ?? Date.now;
    this.caches = newRowCaches(this.now());
    this.lanes = new LeastBusy([conn, ...lanes]);
  }

  /** `now`: flush as soon as the batch is pending, without waiting for others to join it. */
  write(batch: Batch, now = false): Promise<void> {
    const rows = batchToRows(batch, this.caches, this.now());
    const key = idKey(rows.profileId);
    const same = this.writing.get(key);
    if (same) return same;
    const bytes = rowBytes(rows);
    const enqueue = () =>
      new Promise<void>((resolve, reject) => {
        this.pending.push({ batch, rows, bytes, resolve, reject });
        this.pendingRows += rows.rowCount;
        if (now || this.draining || this.pendingRows >= this.opts.maxRows) this.due = true;
        else this.startTimer();
        this.pump();
      });
    // Pending at once when there is room, so that a flush() right after sees it.
    const room = this.reserve(bytes);
    const done = room === true ? enqueue() : room.then(enqueue);
    this.writing.set(key, done);
    const forget = () => this.writing.delete(key);
    done.then(forget, forget);
    return done;
  }

  /** Waits until `bytes` more fit in the budget (first come, first served), or refuses. */
  private reserve(bytes: number): true | Promise<void> {
    const max = this.opts.maxPendingBytes ?? 0;
    // A batch larger than the whole budget still goes through when nothing else is held.
    if (max <= 0 || (!this.roomWaiters.length && (this.heldBytes + bytes <= max || this.heldBytes === 0))) {
      this.heldBytes += bytes;
      return true;
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          clearTimeout(timer);
          this.heldBytes += bytes;
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const i = this.roomWaiters.indexOf(waiter);
        if (i >= 0) this.roomWaiters.splice(i, 1);
        this.stats.refused++;
        reject(
          new UnavailableError(
            `the store is behind: ${Math.round(this.heldBytes / 1048576)} MiB of profiles are waiting to be written (limit ${Math.round(max / 1048576)} MiB); retry later`,
            Math.max(1, Math.ceil((this.opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS) / 1000)),
          ),
        );
        this.grantRoom();
      }, this.opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
      this.roomWaiters.push(waiter);
    });
  }

  private release(items: Pending[]): void {
    for (const p of items) this.heldBytes -= p.bytes;
    this.grantRoom();
  }

  private grantRoom(): void {
    const max = this.opts.maxPendingBytes ?? 0;
    while (this.roomWaiters.length) {
      const w = this.roomWaiters[0];
      if (max > 0 && this.heldBytes + w.bytes > max && this.heldBytes > 0) return;
      this.roomWaiters.shift();
      w.grant();
    }
  }

  /**
   * Several batches that were grouped already (by a batch processor): written together in
   * the next insert, without waiting another flush interval.
   */
  writeMany(batches: Batch[]): Promise<void> {
    return Promise.all(batches.map((b) => this.write(b, true))).then(() => {});
  }

  /** A batch waits at most one flush interval from when it (or the group it joined) arrived. */
  private startTimer(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.overdue = true;
      this.pump();
    }, this.opts.flushIntervalMs);
  }

  /** Writes everything pending now; resolves when all of it is committed (or failed). */
  flush(): Promise<void> {
    this.due = true;
    this.pump();
    if (!this.pending.length && this.flushesInFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** From now on every write is flushed at once: used while shutting down. */
  drain(): Promise<void> {
    this.draining = true;
    return this.flush();
  }

  /**
   * Starts a flush when one is due and there is room: one insert at a time while the next batch
   * fills, and up to `maxConcurrentFlushes` at once when full or overdue batches are waiting.
   */
  private pump(): void {
    while (this.due && this.pending.length && this.flushesInFlight < this.opts.maxConcurrentFlushes) {
      // An insert costs the store tens of milliseconds of CPU whatever its size (parsing, the
      // rollup views, a new part to merge later), so a second insert starts beside a running
      // one only for a full batch or one that has waited its flush interval. Otherwise the batch
      // keeps growing until the running insert is done.
      if (this.flushesInFlight > 0 && this.pendingRows < this.opts.maxRows && !this.overdue && !this.draining) break;
      const items = this.pending;
      this.pending = [];
      this.pendingRows = 0;
      this.due = this.draining;
      this.overdue = false;
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.flushesInFlight++;
      const rows = items.reduce((n, p) => n + p.rows.rowCount, 0);
      void traced('storage.flush', { 'hearth.batches': items.length, 'hearth.rows': rows }, () => this.lanes.use((lane) => this.commit(items, lane))).finally(() => {
        this.flushesInFlight--;
        if (this.pending.length && !this.due) this.startTimer();
        this.pump();
        if (!this.pending.length && this.flushesInFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async commit(items: Pending[], conn: Connection): Promise<void> {
    const started = performance.now();
    try {
      const fresh = await this.withoutStored(items, conn);
      const checked = performance.now();
      if (fresh.length) await this.insert(fresh, conn);
      this.stats.flushes++;
      this.stats.batches += items.length;
      this.stats.duplicates += items.length - fresh.length;
      this.release(items);
      for (const p of items) p.resolve();
      this.logger.debug(
        { batches: items.length, fresh: fresh.length, checkMs: Math.round(checked - started), ms: Math.round(performance.now() - started) },
        'flushed',
      );
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'insert failed');
      const e = new UnavailableError(`storage unavailable: ${(err as Error).message}`);
      this.release(items);
      for (const p of items) p.reject(e);
    }
  }

  /**
   * Drops batches already stored (a redelivery) and duplicates within this flush, by profile ID
   * in the flush's time range (a bloom filter index finds them). The values are written into the
   * query rather than bound: chDB runs bound queries one at a time in the whole process, so this
   * check would wait behind every other bound query (the API's included), and they behind it.
   */
  private async withoutStored(items: Pending[], conn: Connection): Promise<Pending[]> {
    const unique = new Map<string, Pending>();
    for (const p of items) {
      const k = idKey(p.rows.profileId);
      if (!unique.has(k)) unique.set(k, p);
    }
    let minMs = Infinity;
    let maxMs = -Infinity;
    const ids: string[] = [];
    for (const p of unique.values()) {
      minMs = Math.min(minMs, p.rows.timeMs);
      maxMs = Math.max(maxMs, p.rows.timeMs);
      ids.push(idToDecimal(p.rows.profileId));
    }
    const rs = await conn.client.query({
      query: `SELECT DISTINCT toString(profile_id) AS id FROM ${this.schema.table('samples')}
              WHERE time >= fromUnixTimestamp64Milli(toInt64(${Math.floor(minMs) - 1}))
                AND time <= fromUnixTimestamp64Milli(toInt64(${Math.ceil(maxMs) + 1}))
                AND profile_id IN (${ids.join(',')})`,
      format: 'JSONEachRow',
    });
    const stored = new Set((await rs.json<{ id: string }>()).map((r) => r.id));
    if (!stored.size) return [...unique.values()];
    return [...unique.values()].filter((p) => !stored.has(idToDecimal(p.rows.profileId)));
  }

  /**
   * The functions, stacks and series of these batches that the seen-caches do not know. A batch
   * whose lists were filtered by the caches of an earlier UTC day is listed again in full against
   * today's, so that whatever it uses is written (and so marked alive) today as well.
   */
  private newDimensions(items: Pending[]): { functions: PendingFunction[]; stacks: PendingStack[]; series: PendingSeries[] } {
    const functions: PendingFunction[] = [];
    const stacks: PendingStack[] = [];
    const series: PendingSeries[] = [];
    const listed = { functions: new IdSet(Infinity), stacks: new IdSet(Infinity), series: new IdSet(Infinity) };
    const c = this.caches;
    for (const p of items) {
      const r = p.rows.day === c.day ? p.rows : batchToRows(p.batch, c, this.now());
      for (const f of r.functions) if (!c.functions.has(f.id) && listed.functions.add(f.id)) functions.push(f);
      for (const s of r.stacks) if (!c.stacks.has(s.id) && listed.stacks.add(s.id)) stacks.push(s);
      for (const s of r.series) if (!c.series.has(s.key) && listed.series.add(s.key)) series.push(s);
    }
    return { functions, stacks, series };
  }

  private async insert(items: Pending[], conn: Connection): Promise<void> {
    startDay(this.caches, this.now());
    const day = this.caches.day;
    const { functions, stacks, series } = this.newDimensions(items);
    let rows = 0;
    let bytes = 0;
    for (const { rows: r } of items) {
      rows += r.rowCount;
      bytes += r.samples.length;
    }
    const t = (n: string) => this.schema.table(n);
    await Promise.all([
      insertRowBinary(conn, t('functions'), FUNCTION_COLUMNS, encodeFunctions(functions)),
      insertRowBinary(conn, t('stacks'), STACK_COLUMNS, encodeStacks(stacks)),
      insertRowBinary(conn, t('series'), SERIES_COLUMNS, encodeSeries(series)),
    ]);
    if (rows > 0) {
      const samples = new Uint8Array(bytes);
      let at = 0;
      for (const { rows: r } of items) {
        samples.set(r.samples, at);
        at += r.samples.length;
      }
      const token = createHash('sha256')
        .update(items.map((p) => idKey(p.rows.profileId)).sort().join(','))
        .digest('hex');
      await insertRowBinary(conn, t('samples'), SAMPLE_COLUMNS, samples, {
        insert_deduplication_token: token,
        insert_deduplicate: 1,
        // One block, so that the whole flush commits or fails as a unit.
        max_insert_block_size: Math.max(rows + 1, 1_048_576),
        min_insert_block_size_rows: 0,
        min_insert_block_size_bytes: 0,
      });
    }
    // Written during an earlier day: today's caches must not count them as written today.
    if (this.caches.day === day) {
      for (const f of functions) this.caches.functions.add(f.id);
      for (const s of stacks) this.caches.stacks.add(s.id);
      for (const s of series) this.caches.series.add(s.key);
    }
    this.stats.rows += rows;
  }
}
