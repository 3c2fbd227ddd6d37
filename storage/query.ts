/**
 * The query engine: the only way the API reads storage.
 *
 * The SQL text is built only from our own fragments and placeholders; every user-supplied value
 * becomes a checked literal (integers in range, strings through one quoting function) at the
 * placeholder it was given. Regex matchers run in ClickHouse's `match`,
 * which is RE2, so no pattern can make the store backtrack.
 *
 * Flame graphs over long ranges read the 1-minute and 1-hour rollups (per series and bucket,
 * summed by materialized views) for the whole buckets inside the range and the raw rows only at
 * its edges; the sums are exact, so the result is the same as reading raw rows.
 *
 * Each tier has its own retention. A range that starts before raw rows are surely still kept
 * is answered by the finest rollup tier that still covers its start, at that tier's resolution
 * (whole buckets), and the part of the range that raw rows still cover is read as usual.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { Matcher } from '../core/selector.ts';
import { BadRequestError, HearthError, UnavailableError } from '../core/errors.ts';
import { currentQueryScope, queryTimeoutError, remainingSeconds, type QueryScope } from '../core/limits/query.ts';
import { parseProfileTypeId } from '../core/model.ts';
import { traced } from '../core/tracing.ts';
import { functionNames } from './function-names.ts';
import { hashString, idToDecimal } from './ids.ts';
import type { RetentionDays, Schema, Tier } from './schema.ts';
import { DEFAULT_SQL_LIMITS, quoteString, sqlLiteral, tenantSql, type SqlLimits } from './sql.ts';
import { spanTotals, type SpanTotal } from './span-totals.ts';
import { ttlDaysByTable } from './ttl.ts';
import { LeastBusy } from './least-busy.ts';
import { cutTreeQuery, cutTreeStacks, type CutRow } from './tree-cut.ts';

export interface Selection {
  tenant: string;
  /** Full profile type ID, `name:type:unit:period_type:period_unit`. */
  profileType: string;
  matchers: Matcher[];
  /** Unix milliseconds, inclusive start and exclusive end. */
  start: number;
  end: number;
  /** Only samples of these spans (16 hex chars each). */
  spanIds?: string[];
  /** Only samples of these traces (32 hex chars each). */
  traceIds?: string[];
  /** Only these stored profiles (16 hex chars each, as listProfiles names them). */
  profileIds?: string[];
  /** Only stacks that start, root first, with these function names. */
  callSite?: string[];
}

export interface MergedStacks {
  names: string[];
  /** Leaf first, indices into names. */
  stacks: Uint32Array[];
  values: number[];
  /** Sum over every sample of the selection, including stacks cut by the limit. */
  total: number;
  /**
   * The stacks are already cut to a flame graph's max_nodes (MergeOptions.maxNodes): a flame
   * graph built from them keeps every node. Only flame graphs may be built from such stacks.
   */
  precut?: boolean;
}

export interface TimelineSeries {
  labels: Record<string, string>;
  /** [unix ms of the bucket start, value] */
  points: Array<[number, number]>;
}

export type Aggregation = 'sum' | 'avg';

export interface SeriesRef {
  profileType: string;
  fingerprint: string;
  labels: Record<string, string>;
}

/** One stored profile of one series: a row of the samples table. */
export interface ProfileRef {
  /** 16 hex characters. */
  id: string;
  /** Unix milliseconds. */
  time: number;
  fingerprint: string;
  labels: Record<string, string>;
  total: number;
}

/** The answer to an ad-hoc SQL query: column names and types, and rows of JSON values. */
export interface SqlResult {
  columns: Array<{ name: string; type: string }>;
  rows: unknown[][];
}

export interface ProfileStats {
  ingested: boolean;
  /** Unix milliseconds; 0 when nothing was ingested. */
  oldest: number;
  newest: number;
}

export interface QueryAnalysis {
  series: number;
  profiles: number;
  samples: number;
  /** Uncompressed size of the sample rows the query reads. */
  profileBytes: number;
  /** Uncompressed size of the series index rows the query reads. */
  indexBytes: number;
  /** Stored width of the stacks the query's rows name (their IDs and frames). */
  symbolBytes: number;
  /** The three above: what the query reads of this tenant's data, never the store's totals. */
  bytesInRange: number;
  /** Day partitions holding the tenant's rows in the range. */
  parts: number;
}

/** A span as the spans table holds it; IDs in lowercase hex. */
export interface StoredSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  service: string;
  name: string;
  kind: number;
  /** Unix nanoseconds, as decimal text (beyond a double's precision). */
  startNanos: string;
  durationNanos: string;
  statusCode: number;
  statusMessage: string;
  attributes: Record<string, string>;
}

/** What one profile type holds for a trace. */
export interface TraceTotals {
  profileType: string;
  /** Every sample linked to the trace, by its trace ID or by the span ID of one of its spans. */
  total: number;
  /** Samples that carry the trace's ID but the ID of none of its stored spans. */
  unattributed: number;
  /** Per span ID of the trace: its own samples, and those of its whole subtree. */
  spans: Map<string, SpanTotal>;
}

/** Most spans read for one trace. */
export const MAX_TRACE_SPANS = 100_000;

export interface MergeOptions {
  maxStacks?: number;
  /**
   * The answer will be a flame graph of at most this many nodes (Pyroscope's max_nodes): the
   * store cuts the call tree itself and returns only what the flame graph shows (precut). Not
   * for anything else: a TREE or pprof answer needs every stack.
   */
  maxNodes?: number;
  aggregation?: Aggregation;
  /** false reads raw rows only; by default long ranges use the rollups. */
  rollups?: boolean;
  /**
   * Where raw rows cover the whole range, a selection of fewer stored profiles than this is read
   * raw even over a long range. Default RAW_BELOW_PROFILES; 0 always uses the rollups.
   */
  rawBelowProfiles?: number;
}

/**
 * A few thousand raw rows merge faster than the rollup path runs: it first checks its buckets
 * against the raw rows' counts, then reads and sums rollup rows that may not be merged yet.
 * Measured on a 2-hour range of one service (about 120 profiles): rollups 170 ms, raw 35 ms.
 */
export const RAW_BELOW_PROFILES = 2_000;

/**
 * A query's values, written into its text as literals (sqlLiteral) rather than bound: chDB runs
 * bound queries one at a time across the whole process, whatever connection they use, while
 * queries without parameters on different connections run side by side. The query is built with
 * placeholders (`{p0:String}`), which stay what tracing records, so no value reaches a span.
 */
class Params {
  private readonly literals: string[] = [];
  bind(type: string, value: unknown): string {
    const name = `p${this.literals.length}`;
    this.literals.push(sqlLiteral(type, value));
    return `{${name}:${type}}`;
  }

  /** The query with every placeholder of this instance replaced by its literal, in one pass. */
  render(query: string): string {
    return query.replace(/\{p(\d+):[A-Za-z0-9()]+\}/g, (whole, n: string) => {
      const literal = this.literals[Number(n)];
      if (literal === undefined) throw new Error(`query placeholder ${whole} has no value`);
      return literal;
    });
  }
}

/** Stacks beyond this many (by absolute value) are folded into one remainder; max_nodes cuts far lower. */
const DEFAULT_MAX_STACKS = 200_000;
/** IDs per lookup query: the inlined list stays far below ClickHouse's max_query_size (256 KiB). */
const LOOKUP_CHUNK = 5_000;

const MINUTE = 60_000;
const HOUR = 3_600_000;
/** Below this range the raw rows are read; the rollups pay off once there are whole buckets to skip. */
export const ROLLUP_MIN_RANGE_MS = HOUR;
/**
 * Rollups count only what was inserted after their views existed; profiles stamped a little
 * after that moment may have been inserted before it, so a margin is left before trusting them.
 */
const ROLLUP_TRUST_MARGIN_MS = HOUR;

export type RangeSource = 'samples' | 'samples_1m' | 'samples_1h';

export interface RangePiece {
  source: RangeSource;
  /** Unix ms, inclusive. */
  from: number;
  /** Unix ms, exclusive. */
  to: number;
}

/**
 * Splits [start, end) into whole hours, whole minutes around them and raw edges; rollups are used
 * only from `trustedFrom` on.
 */
export function planRange(start: number, end: number, trustedFrom: number): RangePiece[] {
  const pieces: RangePiece[] = [];
  const add = (source: RangeSource, from: number, to: number) => {
    if (to > from) pieces.push({ source, from, to });
  };
  const lo = Math.max(start, trustedFrom);
  if (lo >= end) return [{ source: 'samples', from: start, to: end }];
  const m0 = Math.ceil(lo / MINUTE) * MINUTE;
  const m1 = Math.floor(end / MINUTE) * MINUTE;
  if (m1 <= m0) return [{ source: 'samples', from: start, to: end }];
  const h0 = Math.ceil(m0 / HOUR) * HOUR;
  const h1 = Math.floor(m1 / HOUR) * HOUR;
  add('samples', start, m0);
  if (h1 > h0) {
    add('samples_1m', m0, h0);
    add('samples_1h', h0, h1);
    add('samples_1m', h1, m1);
  } else {
    add('samples_1m', m0, m1);
  }
  add('samples', m1, end);
  return pieces;
}

const DAY = 86_400_000;

/** From when on (Unix ms) each tier surely still holds everything; -Infinity when kept forever. */
export type TierBounds = Record<Tier, number>;

/**
 * TTLs drop whole day partitions once `date + days` has passed, so the oldest complete day of
 * a tier kept `days` days starts `days - 1` days before today; one more day is left as margin
 * for the store's time zone and for parts not dropped yet.
 */
export function tierBounds(r: RetentionDays, now: number): TierBounds {
  const from = (days: number) => (days > 0 ? Math.floor(now / DAY) * DAY - (days - 2) * DAY : -Infinity);
  return { raw: from(r.raw), '1m': from(r['1m']), '1h': from(r['1h']) };
}

/**
 * The tier that answers [start, end): raw when raw rows cover its start; otherwise the finest
 * rollup covering it, read in whole buckets up to where raw rows take over (`coarse`), and the
 * rest planned as a raw-tier range (`fine`).
 */
export function planTiers(start: number, end: number, trustedFrom: number, b: TierBounds): { tier: Tier; coarse: RangePiece[]; fine: RangePiece[] } {
  if (start >= b.raw) return { tier: 'raw', coarse: [], fine: planRange(start, end, trustedFrom) };
  const tier: Tier = start >= b['1m'] ? '1m' : '1h';
  const unit = tier === '1m' ? MINUTE : HOUR;
  const s = Math.floor(start / unit) * unit;
  const split = Math.min(Math.ceil(Math.max(b.raw, s) / unit) * unit, Math.ceil(end / unit) * unit);
  const coarse: RangePiece[] = [];
  const add = (source: RangeSource, from: number, to: number) => {
    if (to > from) coarse.push({ source, from, to });
  };
  const h0 = Math.ceil(s / HOUR) * HOUR;
  const h1 = Math.floor(split / HOUR) * HOUR;
  if (tier === '1h') add('samples_1h', s, split);
  else if (h1 > h0) {
    add('samples_1m', s, h0);
    add('samples_1h', h0, h1);
    add('samples_1m', h1, split);
  } else add('samples_1m', s, split);
  return { tier, coarse, fine: split < end ? planRange(split, end, trustedFrom) : [] };
}

const HEX16 = /^[0-9a-fA-F]{1,16}$/;
const HEX32 = /^[0-9a-fA-F]{32}$/;

function parseHexIds(ids: string[], what: string): bigint[] {
  return ids.map((id) => {
    if (!HEX16.test(id)) throw new BadRequestError(`${what} ${JSON.stringify(id.slice(0, 40))} is not 1 to 16 hex digits`);
    return BigInt('0x' + id);
  });
}

function parseTraceIds(ids: string[]): string[] {
  return ids.map((id) => {
    if (!HEX32.test(id)) throw new BadRequestError(`trace ID ${JSON.stringify(id.slice(0, 40))} is not 32 hex digits`);
    return id.toLowerCase();
  });
}

/**
 * The span and trace ID of each sample, unnested beside the stacks of rows that have span_ids
 * (rows with any span or trace ID). trace_ids is empty on rows whose samples carry span IDs only:
 * resized, it reads zeros there. Unnesting them (rather than indexing into them) keeps ClickHouse
 * from copying both arrays for every sample.
 */
const LINK_ARRAYS = 'span_ids AS link_span, arrayResize(trace_ids, length(span_ids)) AS link_trace';

/** Labels that Pyroscope derives from the profile type, and the column expression that yields each. */
const TYPE_LABELS: Record<string, string> = {
  __profile_type__: 'profile_type',
  __name__: "splitByChar(':', profile_type)[1]",
  __type__: "splitByChar(':', profile_type)[2]",
  __unit__: "splitByChar(':', profile_type)[3]",
  __period_type__: "splitByChar(':', profile_type)[4]",
  __period_unit__: "splitByChar(':', profile_type)[5]",
};
export const TYPE_LABEL_NAMES = Object.keys(TYPE_LABELS);

/**
 * mergeStacks' answer: the total; the kept stacks' values in order; for each stack found in the
 * stacks table, its 1-based place in that order and its frame count; all their frames (function
 * numbers, leaf first) end to end; and each function number found with its name.
 */
type MergedRow = [total: number, values: number[], places: number[], lengths: number[], frames: number[], fnNumbers: number[], fnNames: string[]];

function mergedOf(row: MergedRow | undefined, divisor: number): MergedStacks {
  const [total, kept, places, lengths, flat, fnNumbers, fnNames] = row ?? [0, [], [], [], [], [], []];
  const { names, nameOf } = functionNames(fnNumbers, fnNames);
  const byPlace: Array<Uint32Array | undefined> = new Array(kept.length);
  let at = 0;
  for (let s = 0; s < places.length; s++) {
    const f = new Uint32Array(lengths[s]);
    for (let k = 0; k < f.length; k++) f[k] = nameOf(flat[at++]);
    byPlace[places[s] - 1] = f;
  }
  const stacks: Uint32Array[] = [];
  const values: number[] = [];
  let sum = 0;
  for (let k = 0; k < kept.length; k++) {
    const f = byPlace[k];
    // A stack missing from the stacks table would be a bug; its value still counts in the total.
    if (!f) continue;
    stacks.push(f);
    values.push(kept[k] / divisor);
    sum += kept[k];
  }
  const rest = total - sum;
  if (rest !== 0) {
    names.push('other');
    stacks.push(Uint32Array.of(names.length - 1));
    values.push(rest / divisor);
  }
  return { names, stacks, values, total: total / divisor };
}

/** ClickHouse's TIMEOUT_EXCEEDED (code 159): the query ran past max_execution_time. */
function isTimeoutError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  return String(err?.code) === '159' || /Timeout exceeded: elapsed/.test(String(err?.message ?? ''));
}

/** How long the tiers' retention read from the store is trusted before it is read again. */
const RETENTION_CACHE_MS = 60_000;

export class QueryEngine {
  private rollupsFrom: Promise<number> | undefined;
  private retentionRead: { at: number; value: Promise<RetentionDays> } | undefined;

  private queries = 0;

  private readonly pool: LeastBusy<ClickHouseClient>;

  constructor(
    /** One client, or several used side by side. */
    client: ClickHouseClient | LeastBusy<ClickHouseClient>,
    private readonly schema: Schema,
    private readonly logger?: Logger,
    /** Whether cancelled queries can be stopped with KILL QUERY (a ClickHouse server, not chDB). */
    private readonly killable = false,
  ) {
    this.pool = client instanceof LeastBusy ? client : new LeastBusy([client]);
  }

  private t(name: string): string {
    return this.schema.table(name);
  }

  private rows<T>(query: string, params: Params): Promise<T[]> {
    // Traced as built: placeholders, never the values written in their place.
    return traced('clickhouse.query', { 'db.system.name': 'clickhouse', 'db.query.text': query.slice(0, 4096) }, async () => {
      const scope = currentQueryScope();
      if (!scope) {
        return this.pool.use(async (c) => (await c.query({ query: params.render(query), format: 'JSONCompactEachRow' })).json<T>());
      }
      return this.scopedRows<T>(scope, query, params);
    });
  }

  /**
   * A query of an API request: it stops when the request's scope is aborted (client gone, or
   * query_timeout) and ClickHouse itself stops it at the time left (max_execution_time), which is
   * what stops it on embedded chDB, where an abort only stops the waiting.
   */
  private async scopedRows<T>(scope: QueryScope, query: string, params: Params): Promise<T[]> {
    const gone = () => (scope.signal.reason instanceof HearthError ? scope.signal.reason : new UnavailableError('the query was cancelled: the client went away'));
    if (scope.signal.aborted) throw gone();
    const queryId = `${scope.idPrefix}-${++this.queries}`;
    const kill = () => void this.kill(queryId);
    scope.signal.addEventListener('abort', kill, { once: true });
    scope.running.add(queryId);
    try {
      // The limit goes in the query's own SETTINGS clause: chDB turns per-request settings into
      // SET statements on its connection, which every later query on it (the writer's too) would keep.
      const limit = scope.timeoutMs ? `\nSETTINGS max_execution_time = ${Math.floor(remainingSeconds(scope))}, timeout_overflow_mode = 'throw'` : '';
      return await this.pool.use(async (c) =>
        (
          await c.query({
            query: params.render(query) + limit,
            format: 'JSONCompactEachRow',
            query_id: queryId,
            abort_signal: scope.signal,
          })
        ).json<T>(),
      );
    } catch (e) {
      if (scope.signal.aborted) throw gone();
      if (isTimeoutError(e)) throw queryTimeoutError(scope.timeoutMs);
      throw e;
    } finally {
      scope.signal.removeEventListener('abort', kill);
      scope.running.delete(queryId);
    }
  }

  /** Stops a running query on a ClickHouse server (chDB has no KILL: its queries end at max_execution_time). */
  private async kill(queryId: string): Promise<void> {
    this.logger?.info({ queryId }, 'query cancelled: its client went away or it ran out of time');
    if (!this.killable) return;
    try {
      await this.pool.use((c) => c.command({ query: `KILL QUERY WHERE query_id = ${quoteString(queryId)} ASYNC` }));
    } catch (e) {
      this.logger?.warn({ err: (e as Error).message, queryId }, 'could not stop a cancelled query');
    }
  }

  /** The fingerprints of the series a selection matches, as a subquery. */
  private seriesFilter(sel: Selection, p: Params): string {
    return `SELECT fingerprint FROM ${this.t('series')} WHERE ${this.seriesConditions(sel, p)}`;
  }

  private seriesConditions(sel: Selection, p: Params): string {
    const conds = [
      `tenant = ${p.bind('String', sel.tenant)}`,
      `profile_type = ${p.bind('String', sel.profileType)}`,
      `date >= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', sel.start)}))`,
      `date <= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', sel.end)}))`,
      ...labelConditions(sel.matchers, p),
    ];
    return conds.join(' AND ');
  }

  /** Row conditions shared by the samples table and its rollups (same key columns). */
  private keyConditions(sel: Selection, p: Params): string[] {
    const conds = [`tenant = ${p.bind('String', sel.tenant)}`, `profile_type = ${p.bind('String', sel.profileType)}`];
    // The service is in the sort key: pinning it prunes most of the table before the IN.
    for (const m of sel.matchers) if (m.name === 'service_name' && m.op === '=') conds.push(`service = ${p.bind('String', m.value)}`);
    if (sel.matchers.length) conds.push(`fingerprint ${this.schema.inOp} (${this.seriesFilter(sel, p)})`);
    return conds;
  }

  private samplesWhere(sel: Selection, p: Params, range: { from: number; to: number } = { from: sel.start, to: sel.end }): string {
    const conds = [
      ...this.keyConditions(sel, p),
      `time >= fromUnixTimestamp64Milli(${p.bind('Int64', range.from)})`,
      `time < fromUnixTimestamp64Milli(${p.bind('Int64', range.to)})`,
    ];
    // Span and trace arrays are empty on rows without spans; ARRAY JOIN needs them as long as the stacks.
    if (sel.spanIds?.length) conds.push('notEmpty(span_ids)');
    // A sample of a trace has a span ID or a trace ID; rows with either have span_ids filled.
    if (sel.traceIds?.length) conds.push('notEmpty(span_ids)');
    if (sel.profileIds?.length) conds.push(`profile_id IN ${p.bind('Array(UInt64)', parseHexIds(sel.profileIds, 'profile ID'))}`);
    return conds.join(' AND ');
  }

  /** The stack IDs under a call site, as a subquery; undefined when there is no call-site filter. */
  private callSiteStacks(sel: Selection, p: Params): string | undefined {
    const site = sel.callSite?.filter((n) => n !== '');
    if (!site?.length) return undefined;
    const ids = site.map((name) => BigInt(idToDecimal(hashString(name))));
    return `SELECT id FROM ${this.t('stacks')} WHERE arraySlice(arrayReverse(frames), 1, ${p.bind('UInt32', ids.length)}) = ${p.bind('Array(UInt64)', ids)}`;
  }

  private hasSampleFilters(sel: Selection): boolean {
    return Boolean(sel.spanIds?.length || sel.traceIds?.length || sel.callSite?.some((n) => n !== ''));
  }

  /**
   * Whether an unnested sample (LINK_ARRAYS) belongs to one of the traces: by its own trace ID,
   * or, when that is unknown, by a span ID that the spans table places in the trace. A join at
   * query time: the trace's span IDs are read first, by the spans table's key, into a set.
   */
  private traceLink(tenant: string, traceIds: string[], p: Params): string {
    const traces = `(SELECT toFixedString(unhex(arrayJoin(${p.bind('Array(String)', parseTraceIds(traceIds))})), 16))`;
    const spans = `(SELECT span_id FROM ${this.t('spans')} WHERE tenant = ${p.bind('String', tenant)} AND trace_id IN ${traces} AND span_id != 0)`;
    return `(link_trace IN ${traces} OR link_span ${this.schema.inOp} ${spans})`;
  }

  /** The spans of a trace, each once, by start time. */
  async traceSpans(tenant: string, traceId: string): Promise<StoredSpan[]> {
    const p = new Params();
    const [trace] = parseTraceIds([traceId]);
    const rows = await this.rows<[string, string, string, string, string, number, string, string, number, string, Record<string, string>]>(
      `SELECT lower(hex(trace_id)), leftPad(lower(hex(span_id)), 16, '0'),
              if(parent_span_id = 0, '', leftPad(lower(hex(parent_span_id)), 16, '0')),
              service, name, kind, toString(toUnixTimestamp64Nano(start)), toString(duration), status_code, status_message, attributes
       FROM ${this.t('spans')}
       WHERE tenant = ${p.bind('String', tenant)} AND trace_id = toFixedString(unhex(${p.bind('String', trace)}), 16)
       ORDER BY start, span_id LIMIT 1 BY span_id LIMIT ${p.bind('UInt32', MAX_TRACE_SPANS)}`,
      p,
    );
    return rows.map(([traceId, spanId, parentSpanId, service, name, kind, startNanos, durationNanos, statusCode, statusMessage, attributes]) => ({
      traceId,
      spanId,
      parentSpanId,
      service,
      name,
      kind: Number(kind),
      startNanos,
      durationNanos,
      statusCode: Number(statusCode),
      statusMessage,
      attributes,
    }));
  }

  /**
   * Per profile type with data linked to the trace in [start, end): the total, and each span's
   * self and subtree totals over the given spans of the trace.
   */
  async traceTotals(tenant: string, traceId: string, spans: readonly StoredSpan[], start: number, end: number): Promise<TraceTotals[]> {
    const p = new Params();
    const rows = await this.rows<[string, string, string]>(
      `SELECT profile_type, leftPad(lower(hex(link_span)), 16, '0'), toString(sum(value)) FROM ${this.t('samples')}
       ARRAY JOIN stack_values AS value, ${LINK_ARRAYS}
       WHERE tenant = ${p.bind('String', tenant)} AND notEmpty(span_ids)
         AND time >= fromUnixTimestamp64Milli(${p.bind('Int64', start)}) AND time < fromUnixTimestamp64Milli(${p.bind('Int64', end)})
         AND ${this.traceLink(tenant, [traceId], p)}
       GROUP BY profile_type, link_span ORDER BY profile_type, link_span`,
      p,
    );
    const byType = new Map<string, Map<string, number>>();
    for (const [type, span, v] of rows) {
      let m = byType.get(type);
      if (!m) byType.set(type, (m = new Map()));
      m.set(span, Number(v));
    }
    const ids = new Set(spans.map((s) => s.spanId));
    return [...byType].map(([profileType, self]) => {
      let total = 0;
      let unattributed = 0;
      for (const [span, v] of self) {
        total += v;
        if (!ids.has(span)) unattributed += v;
      }
      return { profileType, total, unattributed, spans: spanTotals(spans, self) };
    });
  }

  /** Raw (stack_id, value) rows of one time range, per-sample filters applied. */
  private rawStackRows(sel: Selection, p: Params, range: { start: number; end: number }, columns = 'stack_id, value'): string {
    const arrays = ['stack_ids AS stack_id', 'stack_values AS value'];
    const conds = [this.samplesWhere(sel, p, { from: range.start, to: range.end })];
    if (sel.spanIds?.length) {
      arrays.push('span_ids AS span_id');
      conds.push(`has(${p.bind('Array(UInt64)', parseHexIds(sel.spanIds, 'span ID'))}, span_id)`);
    }
    if (sel.traceIds?.length) {
      arrays.push(LINK_ARRAYS);
      conds.push(this.traceLink(sel.tenant, sel.traceIds, p));
    }
    const site = this.callSiteStacks(sel, p);
    if (site) conds.push(`stack_id ${this.schema.inOp} (${site})`);
    return `SELECT ${columns} FROM ${this.t('samples')} ARRAY JOIN ${arrays.join(', ')} WHERE ${conds.join(' AND ')}`;
  }

  /** (stack_id, value) rows from a rollup's whole buckets in [from, to). */
  private rollupStackRows(sel: Selection, p: Params, table: 'samples_1m' | 'samples_1h', range: { from: number; to: number }): string {
    const conds = [
      ...this.keyConditions(sel, p),
      `bucket >= toDateTime(${p.bind('UInt32', dateTimeSeconds(range.from))})`,
      `bucket < toDateTime(${p.bind('UInt32', dateTimeSeconds(range.to))})`,
    ];
    const site = this.callSiteStacks(sel, p);
    if (site) conds.push(`stack_id ${this.schema.inOp} (${site})`);
    // Rows not merged yet hold partial sums of the same bucket; the GROUP BY above adds them up.
    return `SELECT stack_id, value FROM ${this.t(table)}
            ARRAY JOIN tupleElement(stacks, 1) AS stack_id, tupleElement(stacks, 2) AS value
            WHERE ${conds.join(' AND ')}`;
  }

  /** From when on the rollups hold everything: recorded once when their views were created. */
  private trustedRollupsFrom(): Promise<number> {
    this.rollupsFrom ??= this.rows<[string, string]>(
      `SELECT toString(count()), toString(toUnixTimestamp64Milli(max(since))) FROM ${this.t('rollup_state')}`,
      new Params(),
    ).then(
      ([[count, since] = ['0', '0']]) => {
        if (Number(count) > 0) return Number(since) > 0 ? Number(since) + ROLLUP_TRUST_MARGIN_MS : 0;
        // Not recorded (yet): trust nothing, and ask again next time.
        this.rollupsFrom = undefined;
        return Infinity;
      },
      (err) => {
        this.rollupsFrom = undefined;
        throw err;
      },
    );
    return this.rollupsFrom;
  }

  /** The retention of each tier as the store's tables have it now (set by whichever process declares it). */
  private retention(): Promise<RetentionDays> {
    const now = Date.now();
    if (this.retentionRead && now - this.retentionRead.at < RETENTION_CACHE_MS) return this.retentionRead.value;
    const days = (name: string, ttls: Map<string, number>) => ttls.get(name) ?? ttls.get(`${name}_local`) ?? 0;
    const value = this.pool.use((c) => ttlDaysByTable(c, this.schema.database)).then((ttls) => ({ raw: days('samples', ttls), '1m': days('samples_1m', ttls), '1h': days('samples_1h', ttls) }));
    this.retentionRead = { at: now, value };
    value.catch(() => (this.retentionRead = undefined));
    return value;
  }

  /** Reads the retention again at the next query: it was just changed. */
  forgetRetention(): void {
    this.retentionRead = undefined;
  }

  /** How a merge would read [start, end): the pieces and their sources. */
  async plan(sel: Selection, opts: MergeOptions = {}): Promise<RangePiece[]> {
    const raw: RangePiece[] = [{ source: 'samples', from: sel.start, to: sel.end }];
    if (opts.rollups === false || sel.spanIds?.length || sel.traceIds?.length || sel.profileIds?.length) return this.logged('raw', raw);
    const bounds = tierBounds(await this.retention(), Date.now());
    if (sel.start >= bounds.raw && sel.end - sel.start < ROLLUP_MIN_RANGE_MS) return this.logged('raw', raw);
    const { tier, coarse, fine } = planTiers(sel.start, sel.end, await this.trustedRollupsFrom(), bounds);
    const below = opts.rawBelowProfiles ?? RAW_BELOW_PROFILES;
    // Only where raw rows are still kept can a rollup bucket be checked against them.
    if (tier !== 'raw' || below <= 0 || !fine.some((piece) => piece.source !== 'samples')) return this.logged(tier, [...coarse, ...(await this.verified(sel, fine))]);
    // Counted before the checks, which a small selection then skips: run beside them, the count
    // waited for a connection behind them, and under ingest load a render of a few profiles
    // spent 60-150 ms planning. A large selection waits for the count first (3-4 ms).
    if (await this.fewerProfilesThan(sel, below)) return this.logged(tier, raw);
    return this.logged(tier, [...coarse, ...(await this.verified(sel, fine))]);
  }

  /** Whether the selection holds fewer than `n` stored profiles; reads key columns, and stops at `n`. */
  private async fewerProfilesThan(sel: Selection, n: number): Promise<boolean> {
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT toString(count()) FROM (SELECT 1 FROM ${this.t('samples')} WHERE ${this.samplesWhere(sel, p)} LIMIT ${p.bind('UInt32', n)})`,
      p,
    );
    return Number(rows[0]?.[0] ?? 0) < n;
  }

  private logged(tier: Tier, pieces: RangePiece[]): RangePiece[] {
    if (this.logger?.isLevelEnabled('debug')) {
      const at = (ms: number) => new Date(ms).toISOString();
      this.logger.debug({ tier, pieces: pieces.map((p) => `${p.source} ${at(p.from)}..${at(p.to)}`) }, `query plan: the ${tier} tier answered`);
    }
    return pieces;
  }

  /**
   * Rollups are filled by materialized views, which commit after the samples insert: a process
   * killed in between leaves a bucket short. A bucket whose rollup profile count differs from
   * the raw rows' count is read raw instead, so answers stay exact. Only key columns are read.
   */
  private async verified(sel: Selection, pieces: RangePiece[]): Promise<RangePiece[]> {
    // Pieces are checked concurrently; each yields its own replacement pieces, in order.
    const parts = await Promise.all(pieces.map((piece) => this.verifiedPiece(sel, piece)));
    return parts.flat();
  }

  private async verifiedPiece(sel: Selection, piece: RangePiece): Promise<RangePiece[]> {
    if (piece.source === 'samples') return [piece];
    const seconds = piece.source === 'samples_1h' ? 3600 : 60;
    const p = new Params();
    const step = p.bind('UInt32', seconds);
    const from = dateTimeSeconds(piece.from);
    const to = dateTimeSeconds(piece.to);
    const rows = await this.rows<[string]>(
      `SELECT toString(b) FROM (
         SELECT intDiv(toUnixTimestamp(time), ${step}) * ${step} AS b, count() AS c FROM ${this.t('samples')}
         WHERE ${this.keyConditions(sel, p).join(' AND ')}
           -- DateTime64 bounds, as every read of raw rows has. With a DateTime constant, ClickHouse
           -- 26.7's WHERE left out a row stamped 0.626 s before the upper bound (the same comparison
           -- in a SELECT was true), so the bucket was counted short and read raw for nothing.
           AND time >= fromUnixTimestamp64Milli(${p.bind('Int64', piece.from)}) AND time < fromUnixTimestamp64Milli(${p.bind('Int64', piece.to)})
         GROUP BY b
       ) AS r FULL OUTER JOIN (
         SELECT toUnixTimestamp(bucket) AS b, sum(profiles) AS c FROM ${this.t(piece.source)}
         WHERE ${this.keyConditions(sel, p).join(' AND ')}
           AND bucket >= toDateTime(${p.bind('UInt32', from)}) AND bucket < toDateTime(${p.bind('UInt32', to)})
         GROUP BY b
       ) AS u USING (b) WHERE r.c != u.c ORDER BY b`,
      p,
    );
    const out: RangePiece[] = [];
    let at = piece.from;
    for (const [b] of rows) {
      const start = Number(b) * 1000;
      if (start > at) out.push({ source: piece.source, from: at, to: start });
      out.push({ source: 'samples', from: start, to: start + seconds * 1000 });
      at = start + seconds * 1000;
    }
    if (at < piece.to) out.push({ source: piece.source, from: at, to: piece.to });
    return out;
  }

  /**
   * Sums values per unique stack. The remainder beyond `maxStacks` is kept in `total`.
   *
   * One query does it all: the merge, the cut to `maxStacks`, the frames of the stacks kept and
   * the names of their functions, each step a scalar subquery that the next one reads as a
   * constant (so the stacks and functions tables are read by their keys). What comes back is one
   * row of small numbers: functions are numbered 1..n within the answer and frames are those
   * numbers, so no 64-bit ID travels as text. With `maxNodes`, the store cuts the call tree to a
   * flame graph's size instead (tree-cut.ts).
   */
  async mergeStacks(sel: Selection, opts: MergeOptions = {}): Promise<MergedStacks> {
    const p = new Params();
    const pieces = await this.plan(sel, opts);
    const parts = pieces.map((piece) => (piece.source === 'samples' ? this.rawStackRows(sel, p, { start: piece.from, end: piece.to }) : this.rollupStackRows(sel, p, piece.source, piece)));
    const source = parts.length === 1 ? parts[0] : parts.join('\nUNION ALL\n');
    const divisor = opts.aggregation === 'avg' ? this.profileCount(sel) : Promise.resolve(1);
    if (opts.maxNodes !== undefined && opts.maxNodes >= 1) {
      const maxNodes = p.bind('UInt32', Math.min(Math.floor(opts.maxNodes), 0xffffffff));
      const [rows, d] = await Promise.all([this.rows<CutRow>(cutTreeQuery(source, this.t('stacks'), this.t('functions'), maxNodes), p), divisor]);
      const cut = cutTreeStacks(rows[0], d);
      if (cut) return cut;
      // A negative value: the whole stacks, cut by the flame graph as before.
    }
    const [rows, d] = await Promise.all([this.rows<MergedRow>(this.wholeStacksQuery(source, p, opts.maxStacks ?? DEFAULT_MAX_STACKS), p), divisor]);
    return mergedOf(rows[0], d);
  }

  private wholeStacksQuery(source: string, p: Params, maxStacks: number): string {
    const limit = p.bind('UInt32', maxStacks);
    return `WITH
           -- The kept stacks in order (largest first), their values, and the sum over every stack.
           (SELECT tuple(groupArrayIf(stack_id, v != 0), groupArrayIf(toFloat64(v), v != 0), toFloat64(any(t)))
            FROM (SELECT stack_id, v, sum(v) OVER () AS t FROM (SELECT stack_id, sum(value) AS v FROM (${source}) GROUP BY stack_id)
                  ORDER BY v != 0 DESC, abs(v) DESC, stack_id LIMIT ${limit})) AS ranked,
           -- Functions and stacks are ReplacingMergeTree: an ID not merged yet is read once. The IDs
           -- go through a subquery: \`IN\` an array constant tests every row against the whole array,
           -- which took 22 s for 100,000 rows against 100,000 IDs, where a subquery's set took 11 ms.
           (SELECT tuple(groupArray(id), groupArray(f)) FROM (SELECT id, any(frames) AS f FROM ${this.t('stacks')} WHERE id IN (SELECT arrayJoin(ranked.1)) GROUP BY id)) AS found,
           -- A subquery, so that it is computed once: an expression would be recomputed at each use.
           (SELECT arraySort(arrayDistinct(arrayFlatten(found.2)))) AS fn,
           (SELECT tuple(groupArray(toUInt32(transform(id, fn, arrayEnumerate(fn), 0))), groupArray(name))
            FROM (SELECT id, any(name) AS name FROM ${this.t('functions')} WHERE id IN (SELECT arrayJoin(fn)) GROUP BY id)) AS fnames
         SELECT ranked.3, ranked.2,
                arrayMap(id -> toUInt32(transform(id, ranked.1, arrayEnumerate(ranked.1), 0)), found.1),
                arrayMap(f -> toUInt32(length(f)), found.2),
                arrayMap(x -> toUInt32(transform(x, fn, arrayEnumerate(fn), 0)), arrayFlatten(found.2)),
                fnames.1, fnames.2`;
  }

  /** Number of stored profiles (rows) in the selection; the divisor of an average. */
  private async profileCount(sel: Selection): Promise<number> {
    const p = new Params();
    const rows = await this.rows<[string]>(`SELECT toString(count()) FROM ${this.t('samples')} WHERE ${this.samplesWhere(sel, p)}`, p);
    return Math.max(1, Number(rows[0]?.[0] ?? 1));
  }

  /** Per stored profile row: fingerprint, time, profile_id and its value in the selection. */
  private profileValues(sel: Selection, p: Params): string {
    if (!this.hasSampleFilters(sel)) {
      return `SELECT fingerprint, time, profile_id, total AS v FROM ${this.t('samples')} WHERE ${this.samplesWhere(sel, p)}`;
    }
    // Filtered samples: unnest, filter, and sum back per row.
    return `SELECT fingerprint, time, profile_id, sum(value) AS v FROM (${this.rawStackRows(sel, p, sel, 'fingerprint, time, profile_id, stack_id, value')}) GROUP BY fingerprint, time, profile_id`;
  }

  /** Values per time bucket, optionally one series per distinct value of the group-by labels. */
  async timeline(sel: Selection, stepSeconds: number, opts: { groupBy?: string[]; aggregation?: Aggregation; limit?: number } = {}): Promise<TimelineSeries[]> {
    const p = new Params();
    const step = p.bind('UInt32', Math.max(1, Math.round(stepSeconds)));
    const groupBy = opts.groupBy ?? [];
    const agg = opts.aggregation === 'avg' ? 'sum(v) / count()' : 'sum(v)';
    // Buckets are aligned to the epoch, like the rollups, whatever the server's time zone.
    const bucket = `intDiv(toUnixTimestamp(time), ${step}) * ${step} * 1000`;
    const inner = `SELECT fingerprint, ${bucket} AS ts, v FROM (${this.profileValues(sel, p)})`;
    let query: string;
    if (groupBy.length) {
      const keys = groupBy.map((g) => `l.series_labels[${p.bind('String', g)}]`);
      query = `SELECT [${keys.join(', ')}] AS g, ts, toString(${agg}) FROM (${inner}) AS s
               INNER JOIN (SELECT fingerprint, any(labels) AS series_labels FROM ${this.t('series')}
                           WHERE ${this.seriesConditions(sel, p)} GROUP BY fingerprint) AS l
               USING fingerprint GROUP BY g, ts ORDER BY g, ts`;
    } else {
      query = `SELECT [] AS g, ts, toString(${agg}) FROM (${inner}) GROUP BY ts ORDER BY ts`;
    }
    const rows = await this.rows<[string[], string, string]>(query, p);
    const out = new Map<string, TimelineSeries>();
    for (const [g, ts, v] of rows) {
      const key = JSON.stringify(g);
      let s = out.get(key);
      if (!s) {
        const labels: Record<string, string> = {};
        groupBy.forEach((name, i) => (labels[name] = g[i]));
        s = { labels, points: [] };
        out.set(key, s);
      }
      s.points.push([Number(ts), Number(v)]);
    }
    let series = [...out.values()];
    if (opts.limit && series.length > opts.limit) {
      const sum = (s: TimelineSeries) => s.points.reduce((a, [, v]) => a + v, 0);
      series = series.sort((a, b) => sum(b) - sum(a)).slice(0, opts.limit);
    }
    return series;
  }

  /** The largest stored profile per series and bucket: Pyroscope's individual exemplars. */
  async exemplars(sel: Selection, stepSeconds: number): Promise<Array<{ fingerprint: string; ts: number; id: string; time: number; value: number }>> {
    const p = new Params();
    const step = p.bind('UInt32', Math.max(1, Math.round(stepSeconds)));
    const rows = await this.rows<[string, string, string, string, string]>(
      `SELECT toString(fingerprint), toString(ts), leftPad(lower(hex(argMax(profile_id, v))), 16, '0'),
              toString(toUnixTimestamp64Milli(argMax(time, v))), toString(max(v))
       FROM (SELECT fingerprint, intDiv(toUnixTimestamp(time), ${step}) * ${step} * 1000 AS ts, profile_id, time, v FROM (${this.profileValues(sel, p)}))
       GROUP BY fingerprint, ts`,
      p,
    );
    return rows.map(([fingerprint, ts, id, time, value]) => ({ fingerprint, ts: Number(ts), id, time: Number(time), value: Number(value) }));
  }

  /** Profile type IDs with data in the range, optionally only of series that match. */
  async profileTypes(tenant: string, start: number, end: number, matchers: Matcher[] = []): Promise<string[]> {
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT DISTINCT profile_type FROM ${this.t('series')}
       WHERE ${[...this.indexRange(tenant, start, end, p), ...labelConditions(matchers, p)].join(' AND ')}
       ORDER BY profile_type`,
      p,
    );
    return rows.map((r) => r[0]).filter((id) => parseProfileTypeId(id));
  }

  async labelNames(tenant: string, matchers: Matcher[], start: number, end: number, profileType?: string): Promise<string[]> {
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT DISTINCT name FROM ${this.t('series_labels')}
       WHERE ${this.labelIndexWhere(tenant, matchers, start, end, profileType, p)} ORDER BY name`,
      p,
    );
    return rows.map((r) => r[0]);
  }

  async labelValues(tenant: string, name: string, matchers: Matcher[], start: number, end: number, profileType?: string): Promise<string[]> {
    if (name in TYPE_LABELS) {
      const all = profileType ? [{ name: '__profile_type__', op: '=' as const, value: profileType }] : [];
      const types = await this.profileTypes(tenant, start, end, [...matchers, ...all]);
      const part = TYPE_LABEL_NAMES.indexOf(name) - 1;
      const values = types.map((t) => (part < 0 ? t : t.split(':')[part]));
      return [...new Set(values)].filter((v) => v !== '').sort();
    }
    if (name === '__service_name__') name = 'service_name';
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT DISTINCT value FROM ${this.t('series_labels')}
       WHERE name = ${p.bind('String', name)} AND ${this.labelIndexWhere(tenant, matchers, start, end, profileType, p)}
       ORDER BY value`,
      p,
    );
    return rows.map((r) => r[0]);
  }

  /** The series whose labels match any of the matcher sets (an empty set matches all). */
  async series(tenant: string, matcherSets: Matcher[][], start: number, end: number, limit = 0): Promise<SeriesRef[]> {
    const p = new Params();
    const conds = this.indexRange(tenant, start, end, p);
    const alternatives = (matcherSets.length ? matcherSets : [[]]).map((set) => {
      const c = labelConditions(set, p);
      return c.length ? `(${c.join(' AND ')})` : '1';
    });
    conds.push(`(${alternatives.join(' OR ')})`);
    const rows = await this.rows<[string, string, Record<string, string>]>(
      `SELECT profile_type, toString(fingerprint), any(labels) FROM ${this.t('series')}
       WHERE ${conds.join(' AND ')} GROUP BY profile_type, fingerprint ORDER BY profile_type, fingerprint
       ${limit > 0 ? `LIMIT ${p.bind('UInt64', limit)}` : ''}`,
      p,
    );
    return rows.map(([profileType, fingerprint, labels]) => ({ profileType, fingerprint, labels }));
  }

  /** Up to `max` distinct series of a tenant, for counting them against its series limit. */
  async tenantSeries(tenant: string, max: number): Promise<Array<{ profileType: string; labels: Record<string, string> }>> {
    const p = new Params();
    const rows = await this.rows<[string, Record<string, string>]>(
      `SELECT profile_type, any(labels) FROM ${this.t('series')} WHERE tenant = ${p.bind('String', tenant)}
       GROUP BY profile_type, fingerprint LIMIT ${p.bind('UInt32', max)}`,
      p,
    );
    return rows.map(([profileType, labels]) => ({ profileType, labels }));
  }

  /** Labels of the given series (fingerprints as decimal strings). */
  async seriesLabels(tenant: string, profileType: string, fingerprints: string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    for (let i = 0; i < fingerprints.length; i += LOOKUP_CHUNK) {
      const p = new Params();
      const rows = await this.rows<[string, Record<string, string>]>(
        `SELECT toString(fingerprint), any(labels) FROM ${this.t('series')}
         WHERE tenant = ${p.bind('String', tenant)} AND profile_type = ${p.bind('String', profileType)}
           AND fingerprint IN ${p.bind('Array(UInt64)', fingerprints.slice(i, i + LOOKUP_CHUNK).map(BigInt))}
         GROUP BY fingerprint`,
        p,
      );
      for (const [fp, labels] of rows) out.set(fp, labels);
    }
    return out;
  }

  /** The stored profiles of a selection, newest first. */
  async listProfiles(sel: Selection, limit: number): Promise<ProfileRef[]> {
    const p = new Params();
    const rows = await this.rows<[string, string, string, string]>(
      `SELECT leftPad(lower(hex(profile_id)), 16, '0'), toString(toUnixTimestamp64Milli(time)), toString(fingerprint), toString(v)
       FROM (${this.profileValues(sel, p)})
       ORDER BY time DESC, profile_id, fingerprint LIMIT ${p.bind('UInt32', limit)}`,
      p,
    );
    const labels = await this.seriesLabels(sel.tenant, sel.profileType, [...new Set(rows.map((r) => r[2]))]);
    return rows.map(([id, time, fingerprint, total]) => ({ id, time: Number(time), fingerprint, labels: labels.get(fingerprint) ?? {}, total: Number(total) }));
  }

  async profileStats(tenant: string): Promise<ProfileStats> {
    const p = new Params();
    const rows = await this.rows<[string, string, string]>(
      `SELECT toString(count()), toString(toUnixTimestamp64Milli(min(time))), toString(toUnixTimestamp64Milli(max(time)))
       FROM ${this.t('samples')} WHERE tenant = ${p.bind('String', tenant)}`,
      p,
    );
    const [count, oldest, newest] = rows[0] ?? ['0', '0', '0'];
    if (Number(count) === 0) return { ingested: false, oldest: 0, newest: 0 };
    return { ingested: true, oldest: Number(oldest), newest: Number(newest) };
  }

  /** What a query reads: series, profiles and samples in the range, and the bytes behind them. */
  async analyze(tenant: string, matchers: Matcher[], start: number, end: number): Promise<QueryAnalysis> {
    const p = new Params();
    const seriesConds = () => [...this.indexRange(tenant, start, end, p), ...labelConditions(matchers, p)].join(' AND ');
    const where = [
      `tenant = ${p.bind('String', tenant)}`,
      `time >= fromUnixTimestamp64Milli(${p.bind('Int64', start)})`,
      `time < fromUnixTimestamp64Milli(${p.bind('Int64', end)})`,
    ];
    const service = matchers.find((m) => m.name === 'service_name' && m.op === '=');
    if (service) where.push(`service = ${p.bind('String', service.value)}`);
    where.push(`(profile_type, fingerprint) ${this.schema.inOp} (SELECT profile_type, fingerprint FROM ${this.t('series')} WHERE ${seriesConds()})`);
    // Every figure comes from the tenant's own rows: the store's parts hold every tenant's data,
    // and their sizes would tell one tenant how much the others keep.
    const [index, samples, symbols] = await Promise.all([
      this.rows<[string, string]>(`SELECT toString(uniqExact(fingerprint)), toString(sum(byteSize(labels))) FROM ${this.t('series')} WHERE ${seriesConds()}`, p),
      this.rows<[string, string, string, string]>(
        `SELECT toString(count()), toString(sum(length(stack_ids))),
                toString(sum(byteSize(stack_ids) + byteSize(stack_values) + byteSize(span_ids) + byteSize(trace_ids))),
                toString(uniqExact(toDate(time)))
         FROM ${this.t('samples')} WHERE ${where.join(' AND ')}`,
        p,
      ),
      // The stacks those rows name, at their stored width (an ID and one ID per frame).
      this.rows<[string]>(
        `SELECT toString(sum(8 + 8 * length(frames))) FROM ${this.t('stacks')}
         WHERE id ${this.schema.inOp} (SELECT DISTINCT arrayJoin(stack_ids) FROM ${this.t('samples')} WHERE ${where.join(' AND ')})`,
        p,
      ),
    ]);
    const indexBytes = Number(index[0]?.[1] ?? 0);
    const profileBytes = Number(samples[0]?.[2] ?? 0);
    const symbolBytes = Number(symbols[0]?.[0] ?? 0);
    return {
      series: Number(index[0]?.[0] ?? 0),
      indexBytes,
      profiles: Number(samples[0]?.[0] ?? 0),
      samples: Number(samples[0]?.[1] ?? 0),
      profileBytes,
      symbolBytes,
      bytesInRange: indexBytes + profileBytes + symbolBytes,
      // Day partitions holding the tenant's rows in the range.
      parts: Number(samples[0]?.[3] ?? 0),
    };
  }

  /**
   * Read-only SQL over the tenant's views (storage/sql.ts): refused with a 400 before it runs
   * unless it passes the allow-list; ClickHouse's own errors about the query are 400s too.
   */
  async sql(tenant: string, text: string, limits: SqlLimits = DEFAULT_SQL_LIMITS): Promise<SqlResult> {
    const scope = currentQueryScope();
    // The request's query_timeout bounds the statement too, whichever is shorter.
    const seconds = scope?.timeoutMs ? Math.min(limits.maxExecutionSeconds, remainingSeconds(scope)) : limits.maxExecutionSeconds;
    const { inlined } = tenantSql(this.schema, tenant, text, { ...limits, maxExecutionSeconds: seconds });
    let answer: { meta: Array<{ name: string; type: string }>; data: unknown[][] };
    const queryId = scope ? `${scope.idPrefix}-${++this.queries}` : undefined;
    const kill = () => void (queryId && this.kill(queryId));
    scope?.signal.addEventListener('abort', kill, { once: true });
    try {
      answer = (await this.pool.use(async (c) => (await c.query({ query: inlined, format: 'JSONCompact', query_id: queryId, abort_signal: scope?.signal })).json())) as unknown as typeof answer;
    } catch (err) {
      if (scope?.signal.aborted) throw scope.signal.reason instanceof HearthError ? scope.signal.reason : new UnavailableError('the query was cancelled: the client went away');
      if (scope?.timeoutMs && seconds < limits.maxExecutionSeconds && isTimeoutError(err)) throw queryTimeoutError(scope.timeoutMs);
      const code = (err as { code?: unknown }).code;
      // A numeric code is ClickHouse's verdict on the query itself; anything else (a lost
      // connection) is the store's problem and stays a 5xx.
      if (code !== undefined && code !== null && /^\d+$/.test(String(code))) {
        throw new BadRequestError(`sql: ${(err as Error).message.split('\n')[0].slice(0, 500)}`);
      }
      throw err;
    } finally {
      scope?.signal.removeEventListener('abort', kill);
    }
    return { columns: answer.meta.map(({ name, type }) => ({ name, type })), rows: answer.data };
  }

  private indexRange(tenant: string, start: number, end: number, p: Params): string[] {
    return [
      `tenant = ${p.bind('String', tenant)}`,
      `date >= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', start)}))`,
      `date <= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', end)}))`,
    ];
  }

  private labelIndexWhere(tenant: string, matchers: Matcher[], start: number, end: number, profileType: string | undefined, p: Params): string {
    const conds = this.indexRange(tenant, start, end, p);
    if (profileType) conds.push(`profile_type = ${p.bind('String', profileType)}`);
    if (matchers.length) {
      const inner = [...this.indexRange(tenant, start, end, p), ...labelConditions(matchers, p)];
      conds.push(`fingerprint ${this.schema.inOp} (SELECT fingerprint FROM ${this.t('series')} WHERE ${inner.join(' AND ')})`);
    }
    return conds.join(' AND ');
  }
}

/**
 * Conditions over the series table's `labels` map; a missing label reads as "", as in Prometheus.
 * The labels Pyroscope derives from the profile type (`__name__`, `__profile_type__`, ...) match
 * against the profile type column.
 */
function labelConditions(matchers: Matcher[], p: Params): string[] {
  return matchers.map((m) => {
    const name = m.name === '__service_name__' ? 'service_name' : m.name;
    const v = TYPE_LABELS[name] ?? `labels[${p.bind('String', name)}]`;
    switch (m.op) {
      case '=':
        return `${v} = ${p.bind('String', m.value)}`;
      case '!=':
        return `${v} != ${p.bind('String', m.value)}`;
      case '=~':
        return `match(${v}, ${p.bind('String', `^(?:${m.value})$`)})`;
      case '!~':
        return `NOT match(${v}, ${p.bind('String', `^(?:${m.value})$`)})`;
    }
  });
}

/**
 * Milliseconds as the seconds of a ClickHouse DateTime, which ends in 2106: a range reaching
 * beyond it (a query up to the year 2286 is valid) is cut there, where no bucket can lie.
 */
function dateTimeSeconds(ms: number): number {
  return Math.min(4_294_967_295, Math.max(0, Math.floor(ms / 1000)));
}
