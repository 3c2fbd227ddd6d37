/**
 * Turns request parameters into a store Selection, with 400s that say what is wrong.
 */
import { BadRequestError } from '../core/errors.ts';
import { parseProfileTypeId, type ParsedProfileType } from '../core/model.ts';
import { parseSelector, type Matcher } from '../core/selector.ts';
import { parseAttime } from '../core/attime.ts';
import { checkTimeMs, limitRange, maxNodesFor } from '../core/limits/query.ts';
import type { TenantLimits } from '../core/limits/index.ts';
import type { Selection } from '../storage/query.ts';

export const DEFAULT_MAX_NODES = 8192;
export const MAX_MAX_NODES = 1_048_576;

/**
 * Pyroscope's max_nodes rules: 0 or absent → the default, negative or above the maximum → error;
 * the default and the maximum are the tenant's (max_flamegraph_nodes_default, _max).
 */
export function maxNodesOf(raw: unknown, limits?: Pick<TenantLimits, 'maxFlamegraphNodesDefault' | 'maxFlamegraphNodesMax'>): number {
  return maxNodesFor(limits ?? { maxFlamegraphNodesDefault: DEFAULT_MAX_NODES, maxFlamegraphNodesMax: MAX_MAX_NODES }, raw);
}

export interface ParsedQuery {
  selection: Selection;
  profileType: ParsedProfileType;
}

/** `query` holds the profile type in the metric slot: `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="x"}`. */
export function parseQuery(tenant: string, query: unknown, from: unknown, until: unknown, nowMs = Date.now()): ParsedQuery {
  if (typeof query !== 'string' || !query.trim()) throw new BadRequestError('missing query parameter "query"');
  const sel = parseSelector(query);
  const profileType = parseProfileTypeId(sel.metric);
  if (!profileType) {
    throw new BadRequestError(`query must start with a profile type ID name:sample_type:sample_unit:period_type:period_unit, got ${JSON.stringify(sel.metric.slice(0, 200))}`);
  }
  const start = checkTimeMs(parseAttime(str(from) || 'now-1h', nowMs, 'from'), 'from');
  const end = checkTimeMs(parseAttime(str(until) || 'now', nowMs, 'until'), 'until');
  if (end <= start) throw new BadRequestError('until must be after from');
  return { selection: { tenant, profileType: profileType.id, matchers: sel.matchers, start, end }, profileType };
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

/**
 * A label selector as Grafana sends it: `{service_name="api"}`; `""` and `{}` match everything.
 * A name before `{` is the profile name (`__name__`), or the whole profile type when it has one's shape.
 */
export function labelMatchers(selector: string): Matcher[] {
  if (!selector.trim()) return [];
  const sel = parseSelector(selector);
  if (!sel.metric) return sel.matchers;
  if (!METRIC_OR_PROFILE_TYPE.test(sel.metric)) {
    throw new BadRequestError(`invalid selector ${JSON.stringify(selector.slice(0, 200))}: ${JSON.stringify(sel.metric.slice(0, 64))} is neither a profile name nor a profile type ID`);
  }
  const name = parseProfileTypeId(sel.metric) ? '__profile_type__' : '__name__';
  return [{ name, op: '=', value: sel.metric }, ...sel.matchers];
}

/** A profile name (a metric name) or a profile type ID made of such parts (`-` and `.` occur in sample types). */
const METRIC_OR_PROFILE_TYPE = /^[A-Za-z_:][A-Za-z0-9_:.\-]*$/;

/** A list of selectors, any of which may match; no selector at all matches everything. */
export function matcherSets(selectors: readonly string[]): Matcher[][] {
  const sets = new Map<string, Matcher[]>();
  for (const selector of selectors) {
    if (selector.trim() === '') continue;
    const set = labelMatchers(selector);
    // A set that matches everything makes every other one redundant.
    if (set.length === 0) return [[]];
    // Copies of one selector (in any order of its matchers) are asked once.
    const key = JSON.stringify(set.map((m) => [m.name, m.op, m.value]).sort());
    if (!sets.has(key)) sets.set(key, set);
  }
  return sets.size ? [...sets.values()] : [[]];
}

export function profileTypeOf(id: string): ParsedProfileType {
  const t = parseProfileTypeId(id);
  if (!t) throw new BadRequestError(`invalid profile type ${JSON.stringify(id.slice(0, 200))}: expected name:sample_type:sample_unit:period_type:period_unit`);
  return t;
}

/** Milliseconds from a request's int64 field. */
export function msOf(v: bigint | number | undefined, what = 'time'): number {
  return v === undefined ? 0 : checkTimeMs(Number(v), what);
}

/**
 * The range of a metadata request (types, label names and values, series): zero means
 * unbounded on that side.
 */
export function metadataRange(start: bigint | number | undefined, end: bigint | number | undefined, nowMs = Date.now()): { start: number; end: number } {
  const s = msOf(start, 'start');
  const e = msOf(end, 'end') || nowMs + 86_400_000;
  if (e < s) throw new BadRequestError('end must not be before start');
  return { start: s, end: e };
}

/** The range of a select request: end defaults to now, and must come after start. */
export function selectRange(start: bigint | number | undefined, end: bigint | number | undefined, nowMs = Date.now()): { start: number; end: number } {
  const s = msOf(start, 'start');
  const e = msOf(end, 'end') || nowMs;
  if (e <= s) throw new BadRequestError('end must be after start');
  return { start: s, end: e };
}

export interface SelectFields {
  profileTypeID: string;
  labelSelector: string;
  start?: bigint;
  end?: bigint;
  spanSelector?: readonly string[];
  traceIdSelector?: readonly string[];
  profileIdSelector?: readonly string[];
  stackTraceSelector?: { callSite: ReadonlyArray<{ name: string }> };
}

/** The selection of a querier.v1 select request. */
export function selectionOf(tenant: string, req: SelectFields, nowMs = Date.now(), limits?: TenantLimits): { selection: Selection; profileType: ParsedProfileType } {
  const profileType = profileTypeOf(req.profileTypeID);
  const range = selectRange(req.start, req.end, nowMs);
  const { start, end } = limits ? limitRange(limits, range.start, range.end, nowMs) : range;
  const spans = req.spanSelector?.filter((s) => s !== '') ?? [];
  const traces = req.traceIdSelector?.filter((s) => s !== '') ?? [];
  if (spans.length && traces.length) throw new BadRequestError('span_selector and trace_id_selector cannot be combined');
  const selection: Selection = { tenant, profileType: profileType.id, matchers: labelMatchers(req.labelSelector), start, end };
  if (spans.length) selection.spanIds = spans.map((s) => checkHex(s, 16, 'span ID'));
  if (traces.length) selection.traceIds = traces.map((s) => checkHex(s, 32, 'trace ID'));
  const profiles = req.profileIdSelector?.filter((s) => s !== '') ?? [];
  if (profiles.length) selection.profileIds = profiles.map((s) => checkHex(s, 16, 'profile ID'));
  const site = req.stackTraceSelector?.callSite.map((l) => l.name) ?? [];
  if (site.length) selection.callSite = site;
  return { selection, profileType };
}

function checkHex(s: string, len: number, what: string): string {
  const re = len === 16 ? /^[0-9a-fA-F]{1,16}$/ : /^[0-9a-fA-F]{32}$/;
  if (!re.test(s)) throw new BadRequestError(`${what} ${JSON.stringify(s.slice(0, 48))} must be ${len === 16 ? 'up to 16' : '32'} hex digits`);
  return s.toLowerCase();
}
