/**
 * The `clickhouse` exporter: writes batches into the ClickHouse-backed store, embedded chDB
 * by default or a server/cluster through `url`. A batch's consume() settles once its insert
 * has committed, which is what lets the receiver answer 2xx.
 */
import { z } from 'zod';
import type { ExporterFactory } from '../../core/component.ts';
import { counter, gauge, histogram } from '../../core/metrics.ts';
import { acquireStore, type Store } from '../../storage/store.ts';
import type { Writer } from '../../storage/writer.ts';
import { SpanWriter } from '../../storage/span-writer.ts';
import { defaultStoreConfig, retentionIssues, storeClaims, storeLocation, storeOptions, storeSchema, type StoreConfig } from '../../storage/options.ts';
import { UnavailableError } from '../../core/errors.ts';

export interface ClickHouseExporterConfig extends StoreConfig {
  /** Longest a batch waits to be grouped with others before the insert. */
  flush_interval_ms: number;
  /** Sample rows that trigger an early insert. */
  max_rows: number;
  /** Inserts allowed to run at once; a second starts only when max_rows are waiting. */
  max_concurrent_flushes: number;
  /** MiB of rows held (waiting for or in an insert) beyond which writes wait; 0: no limit. */
  max_pending_mib: number;
  /** How long a write waits for room before a 503 with Retry-After. */
  pending_wait_ms: number;
}

const schema = z
  .strictObject({
    ...storeSchema,
    flush_interval_ms: z.number().int().min(0).max(10_000),
    max_rows: z.number().int().positive(),
    max_concurrent_flushes: z.number().int().min(1).max(16),
    max_pending_mib: z.number().int().nonnegative(),
    pending_wait_ms: z.number().int().min(0).max(120_000),
  })
  .superRefine((c, ctx) => {
    for (const issue of retentionIssues(c)) ctx.addIssue({ code: 'custom', ...issue });
  });

export const factory: ExporterFactory<ClickHouseExporterConfig> = {
  type: 'clickhouse',
  kind: 'exporter',
  stability: 'beta',
  signals: ['profiles', 'traces'],
  schema,
  defaultConfig: () => ({ ...defaultStoreConfig(), flush_interval_ms: 200, max_rows: 2_000, max_concurrent_flushes: 2, max_pending_mib: 256, pending_wait_ms: 5_000 }),
  // The store it writes is the process's store, which the api extension reads by default.
  claims: (config) => storeClaims(config),
  create(settings, config) {
    let store: Store | undefined;
    let writer: Writer | undefined;
    let spanWriter: SpanWriter | undefined;
    const batches = counter(settings.metrics, 'hearth_exporter_clickhouse_batches_total', 'Batches written by the clickhouse exporter, by outcome.', ['exporter', 'outcome']);
    const pendingBytes = gauge(settings.metrics, 'hearth_exporter_clickhouse_pending_bytes', 'Bytes of rows the writer holds, waiting for or in an insert (bounded by max_pending_mib).', ['exporter']);
    const latency = histogram(settings.metrics, 'hearth_exporter_clickhouse_write_seconds', 'Time from consume to committed insert.', ['exporter'], [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5]);
    return {
      endpoints: () => [storeLocation(config)],
      async start(host) {
        store = await acquireStore(storeOptions(config), settings.logger);
        // Series are counted for max_global_series_per_tenant from what this store holds.
        const query = store.query;
        host.limits?.useSeriesIndex({ seriesOf: (tenant, max) => query.tenantSeries(tenant, max) });
        writer = store.createWriter(
          {
            flushIntervalMs: config.flush_interval_ms,
            maxRows: config.max_rows,
            maxConcurrentFlushes: config.max_concurrent_flushes,
            maxPendingBytes: config.max_pending_mib * 1024 * 1024,
            maxWaitMs: config.pending_wait_ms,
          },
          settings.logger,
        );
        spanWriter = new SpanWriter(store.connection, store.schema, { flushIntervalMs: config.flush_interval_ms, maxRows: config.max_rows }, settings.logger);
      },
      async consume(batch) {
        if (!writer) throw new UnavailableError('clickhouse exporter is not started');
        const end = latency.startTimer({ exporter: settings.id });
        try {
          const done = writer.write(batch);
          pendingBytes.set({ exporter: settings.id }, writer.pendingBytes);
          await done;
          batches.inc({ exporter: settings.id, outcome: 'ok' });
        } catch (e) {
          batches.inc({ exporter: settings.id, outcome: 'error' });
          throw e;
        } finally {
          end();
          if (writer) pendingBytes.set({ exporter: settings.id }, writer.pendingBytes);
        }
      },
      async consumeMany(group) {
        if (!writer) throw new UnavailableError('clickhouse exporter is not started');
        const end = latency.startTimer({ exporter: settings.id });
        try {
          await writer.writeMany(group);
          batches.inc({ exporter: settings.id, outcome: 'ok' }, group.length);
        } catch (e) {
          batches.inc({ exporter: settings.id, outcome: 'error' }, group.length);
          throw e;
        } finally {
          end();
        }
      },
      async consumeTraces(batch) {
        if (!spanWriter) throw new UnavailableError('clickhouse exporter is not started');
        await spanWriter.write(batch);
      },
      async flush() {
        await Promise.all([writer?.drain(), spanWriter?.drain()]);
      },
      async shutdown() {
        const s = store;
        const w = writer;
        const sw = spanWriter;
        store = undefined;
        writer = undefined;
        spanWriter = undefined;
        await Promise.all([w?.flush(), sw?.flush()]);
        await s?.release();
      },
    };
  },
};

export default factory;
