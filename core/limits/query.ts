/**
 * Query limits: the range and lookback of a query, flame graph nodes, series per query, and the
 * time a query may run. Each store query of an API request runs inside a QueryScope (carried by
 * AsyncLocalStorage, so the query engine needs no extra parameters): it says when the client
 * has gone away and how long the query may take.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { BadRequestError } from '../errors.ts';
import { LimitExceededError } from './errors.ts';
import type { TenantLimits } from './schema.ts';

/** Year 9999 in Unix milliseconds: anything later (or before 1970) is no time a profile can have. */
export const MAX_TIME_MS = 253_402_300_799_999;

/** Refuses a time that is not a millisecond count a profile can have (NaN, negative, beyond year 9999). */
export function checkTimeMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME_MS) {
    throw new BadRequestError(`${what} must be a Unix time in milliseconds between 0 and ${MAX_TIME_MS} (year 9999)`);
  }
  return Math.trunc(ms);
}

/**
 * Applies `max_query_lookback` (the start moves up to it, as in Pyroscope, and a range entirely
 * before it is refused) and `max_query_length` (refused) to a query's range.
 */
export function limitRange(l: TenantLimits, start: number, end: number, nowMs = Date.now()): { start: number; end: number } {
  checkTimeMs(start, 'start');
  checkTimeMs(end, 'end');
  if (l.maxQueryLookbackMs) {
    const earliest = nowMs - l.maxQueryLookbackMs;
    if (end < earliest) throw new LimitExceededError(400, 'max_query_lookback', `the range ends before ${new Date(earliest).toISOString()}, further back than ${l.maxQueryLookbackMs / 1000} s`);
    if (start < earliest) start = earliest;
  }
  if (l.maxQueryLengthMs && end - start > l.maxQueryLengthMs) {
    throw new LimitExceededError(400, 'max_query_length', `the range is ${Math.round((end - start) / 1000)} s long; the limit is ${l.maxQueryLengthMs / 1000} s`);
  }
  return { start, end };
}

/** A query's `max_nodes`: 0 or absent means the tenant's default, above the tenant's maximum is refused. */
export function maxNodesFor(l: Pick<TenantLimits, 'maxFlamegraphNodesDefault' | 'maxFlamegraphNodesMax'>, raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return l.maxFlamegraphNodesDefault;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new BadRequestError(`max_nodes must be an integer, got ${JSON.stringify(String(raw).slice(0, 32))}`);
  if (n < 0) throw new BadRequestError('max_nodes must not be negative');
  if (l.maxFlamegraphNodesMax && n > l.maxFlamegraphNodesMax) {
    throw new LimitExceededError(400, 'max_flamegraph_nodes_max', `max_nodes is ${n}; the limit is ${l.maxFlamegraphNodesMax}`);
  }
  return n === 0 ? l.maxFlamegraphNodesDefault : n;
}

/** Refuses a result of more series than `max_series_per_query`. */
export function checkSeriesCount(l: Pick<TenantLimits, 'maxSeriesPerQuery'>, count: number): void {
  if (l.maxSeriesPerQuery && count > l.maxSeriesPerQuery) {
    throw new LimitExceededError(422, 'max_series_per_query', `the query matches more than ${l.maxSeriesPerQuery} series; narrow the selector or the range`);
  }
}

export interface QueryScope {
  /** Aborted when the client goes away or the timeout passes. */
  signal: AbortSignal;
  /** `query_timeout` in milliseconds; 0 = none. */
  timeoutMs: number;
  /** Prefix of the store query IDs of this request, so they can be found and killed. */
  idPrefix: string;
  /** The store queries of this request that have not finished. */
  running: Set<string>;
  /** When the scope was opened (performance.now()). */
  startedAt: number;
}

const scopes = new AsyncLocalStorage<QueryScope>();

export function currentQueryScope(): QueryScope | undefined {
  return scopes.getStore();
}

/** Opens a scope for one API request; `close()` when the request is answered or gone. */
export function openQueryScope(timeoutMs: number): { scope: QueryScope; abort: (why: string) => void; close: () => void } {
  const controller = new AbortController();
  const timer = timeoutMs > 0 ? setTimeout(() => controller.abort(queryTimeoutError(timeoutMs)), timeoutMs) : undefined;
  timer?.unref();
  const scope: QueryScope = { signal: controller.signal, timeoutMs, idPrefix: `hearth-${randomUUID()}`, running: new Set(), startedAt: performance.now() };
  return {
    scope,
    abort: (why) => controller.abort(new Error(why)),
    close: () => clearTimeout(timer),
  };
}

/** The refusal of a query that ran out of time: 422, as retrying the same query would fail the same way. */
export function queryTimeoutError(timeoutMs: number): LimitExceededError {
  return new LimitExceededError(422, 'query_timeout', `the query ran longer than ${timeoutMs / 1000} s; narrow the selector or the range`);
}

export function runInQueryScope<T>(scope: QueryScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}

/** The time a store query of this scope may still take, in whole seconds (ClickHouse's max_execution_time); 0 = unbounded. */
export function remainingSeconds(scope: QueryScope): number {
  if (!scope.timeoutMs) return 0;
  const left = scope.timeoutMs - (performance.now() - scope.startedAt);
  return Math.max(1, Math.ceil(left / 1000));
}
