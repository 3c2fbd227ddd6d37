/**
 * The query engine: the only way the API reads storage.
 *
 * Every user-supplied value is bound as a ClickHouse query parameter; the SQL text is built
 * only from our own fragments and parameter names. Regex matchers run in ClickHouse's `match`,
 * which is RE2, so no pattern can make the store backtrack.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Matcher } from '../core/selector.ts';
import { parseProfileTypeId } from '../core/model.ts';
import type { Schema } from './schema.ts';

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
}

export interface MergedStacks {
  names: string[];
  /** Leaf first, indices into names. */
  stacks: Uint32Array[];
  values: number[];
  /** Sum over every sample of the selection, including stacks cut by the limit. */
  total: number;
}

export interface TimelineSeries {
  labels: Record<string, string>;
  /** [unix ms of the bucket start, value] */
  points: Array<[number, number]>;
}

export type Aggregation = 'sum' | 'avg';

class Params {
  readonly values: Record<string, unknown> = {};
  private n = 0;
  bind(type: string, value: unknown): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

/** Stacks beyond this many (by absolute value) are folded into one remainder; max_nodes cuts far lower. */
const DEFAULT_MAX_STACKS = 200_000;

export class QueryEngine {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly schema: Schema,
  ) {}

  private t(name: string): string {
    return this.schema.table(name);
  }

  private async rows<T>(query: string, params: Params): Promise<T[]> {
    const rs = await this.client.query({ query, query_params: params.values, format: 'JSONCompactEachRow' });
    return rs.json<T>();
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

  private samplesWhere(sel: Selection, p: Params): string {
    const conds = [
      `tenant = ${p.bind('String', sel.tenant)}`,
      `profile_type = ${p.bind('String', sel.profileType)}`,
      `time >= fromUnixTimestamp64Milli(${p.bind('Int64', sel.start)})`,
      `time < fromUnixTimestamp64Milli(${p.bind('Int64', sel.end)})`,
    ];
    // The service is in the sort key: pinning it prunes most of the table before the IN.
    for (const m of sel.matchers) if (m.name === 'service_name' && m.op === '=') conds.push(`service = ${p.bind('String', m.value)}`);
    if (sel.spanIds?.length) conds.push('notEmpty(span_ids)');
    if (sel.matchers.length) conds.push(`fingerprint ${this.schema.inOp} (${this.seriesFilter(sel, p)})`);
    return conds.join(' AND ');
  }

  /** Binds the span filter, if any, as an Array(UInt64) parameter. */
  private spanSet(sel: Selection, p: Params): string | undefined {
    return sel.spanIds?.length ? p.bind('Array(UInt64)', sel.spanIds.map((s) => BigInt('0x' + s))) : undefined;
  }

  /** One profile row's value in the selection: the stored total, or the part of it in the spans. */
  private rowValue(sel: Selection, p: Params): string {
    const spans = this.spanSet(sel, p);
    return spans ? `arraySum(arrayFilter((v, s) -> has(${spans}, s), stack_values, span_ids))` : 'total';
  }

  /** Sums values per unique stack. The remainder beyond `maxStacks` is kept in `total`. */
  async mergeStacks(sel: Selection, opts: { maxStacks?: number; aggregation?: Aggregation } = {}): Promise<MergedStacks> {
    const p = new Params();
    const where = this.samplesWhere(sel, p);
    const spans = this.spanSet(sel, p);
    const unnest = spans
      ? `ARRAY JOIN stack_ids AS stack_id, stack_values AS value, span_ids AS span_id WHERE ${where} AND has(${spans}, span_id)`
      : `ARRAY JOIN stack_ids AS stack_id, stack_values AS value WHERE ${where}`;
    const limit = p.bind('UInt32', opts.maxStacks ?? DEFAULT_MAX_STACKS);
    const divisor = opts.aggregation === 'avg' ? await this.profileCount(sel) : 1;
    const samples = this.t('samples');
    // A stack missing from the stacks table would be a bug; LEFT JOIN keeps its value in the total anyway.
    const rows = await this.rows<[string, string, string[], string]>(
      `WITH top AS (
              SELECT stack_id, sum(value) AS v FROM ${samples} ${unnest}
              GROUP BY stack_id HAVING v != 0 ORDER BY abs(v) DESC, stack_id LIMIT ${limit}
            ),
            total AS (SELECT sum(value) FROM ${samples} ${unnest})
       SELECT toString(top.stack_id), toString(top.v), arrayMap(x -> toString(x), s.frames), toString((SELECT * FROM total))
       FROM top LEFT JOIN (
         SELECT id, any(frames) AS frames FROM ${this.t('stacks')}
         WHERE id ${this.schema.inOp} (SELECT stack_id FROM top) GROUP BY id
       ) AS s ON s.id = top.stack_id`,
      p,
    );
    const fnIndex = new Map<string, number>();
    const fnIds: string[] = [];
    const stacks: Uint32Array[] = [];
    const values: number[] = [];
    let total = 0;
    let kept = 0;
    for (const [, v, frames, tot] of rows) {
      total = Number(tot);
      const value = Number(v) / divisor;
      kept += Number(v);
      const arr = new Uint32Array(frames.length);
      for (let i = 0; i < frames.length; i++) {
        let idx = fnIndex.get(frames[i]);
        if (idx === undefined) {
          idx = fnIds.length;
          fnIndex.set(frames[i], idx);
          fnIds.push(frames[i]);
        }
        arr[i] = idx;
      }
      stacks.push(arr);
      values.push(value);
    }
    const names = await this.functionNames(fnIds);
    const rest = total - kept;
    if (rows.length && rest !== 0) {
      names.push('other');
      stacks.push(Uint32Array.of(names.length - 1));
      values.push(rest / divisor);
    }
    return { names, stacks, values, total: total / divisor };
  }

  private async functionNames(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const p = new Params();
    const rows = await this.rows<[string, string]>(
      `SELECT toString(id), any(name) FROM ${this.t('functions')} WHERE id IN ${p.bind('Array(UInt64)', ids.map(BigInt))} GROUP BY id`,
      p,
    );
    const byId = new Map(rows);
    return ids.map((id) => byId.get(id) ?? `unknown function ${id}`);
  }

  /** Number of distinct profiles in the selection; the divisor of an average. */
  private async profileCount(sel: Selection): Promise<number> {
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT toString(count()) FROM ${this.t('samples')} WHERE ${this.samplesWhere(sel, p)}`,
      p,
    );
    return Math.max(1, Number(rows[0]?.[0] ?? 1));
  }

  /** Values per time bucket, optionally one series per distinct value of the group-by labels. */
  async timeline(sel: Selection, stepSeconds: number, opts: { groupBy?: string[]; aggregation?: Aggregation; limit?: number } = {}): Promise<TimelineSeries[]> {
    const p = new Params();
    const step = p.bind('UInt32', Math.max(1, Math.round(stepSeconds)));
    const where = this.samplesWhere(sel, p);
    const groupBy = opts.groupBy ?? [];
    const agg = opts.aggregation === 'avg' ? 'sum(v) / count()' : 'sum(v)';
    const bucket = `toUnixTimestamp(toStartOfInterval(time, toIntervalSecond(${step}))) * 1000`;
    const inner = `SELECT fingerprint, ${bucket} AS ts, ${this.rowValue(sel, p)} AS v FROM ${this.t('samples')} WHERE ${where}`;
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

  async profileTypes(tenant: string, start: number, end: number): Promise<string[]> {
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT DISTINCT profile_type FROM ${this.t('series')}
       WHERE tenant = ${p.bind('String', tenant)}
         AND date >= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', start)}))
         AND date <= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', end)}))
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
    if (name === '__name__' || name === '__profile_type__') {
      const types = await this.profileTypes(tenant, start, end);
      return name === '__name__' ? [...new Set(types.map((t) => t.split(':')[0]))] : types;
    }
    const p = new Params();
    const rows = await this.rows<[string]>(
      `SELECT DISTINCT value FROM ${this.t('series_labels')}
       WHERE name = ${p.bind('String', name)} AND ${this.labelIndexWhere(tenant, matchers, start, end, profileType, p)}
       ORDER BY value`,
      p,
    );
    return rows.map((r) => r[0]);
  }

  private labelIndexWhere(tenant: string, matchers: Matcher[], start: number, end: number, profileType: string | undefined, p: Params): string {
    const conds = [
      `tenant = ${p.bind('String', tenant)}`,
      `date >= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', start)}))`,
      `date <= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', end)}))`,
    ];
    if (profileType) conds.push(`profile_type = ${p.bind('String', profileType)}`);
    const own = matchers.filter((m) => m.name !== '__profile_type__' && m.name !== '__name__');
    if (own.length) {
      const inner = [
        `tenant = ${p.bind('String', tenant)}`,
        `date >= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', start)}))`,
        `date <= toDate(fromUnixTimestamp64Milli(${p.bind('Int64', end)}))`,
        ...labelConditions(own, p),
      ];
      conds.push(`fingerprint ${this.schema.inOp} (SELECT fingerprint FROM ${this.t('series')} WHERE ${inner.join(' AND ')})`);
    }
    return conds.join(' AND ');
  }
}

/** Conditions over the series table's `labels` map; a missing label reads as "", as in Prometheus. */
function labelConditions(matchers: Matcher[], p: Params): string[] {
  return matchers
    .filter((m) => m.name !== '__profile_type__' && m.name !== '__name__')
    .map((m) => {
      const v = `labels[${p.bind('String', m.name)}]`;
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
