/**
 * Turns request parameters into a store Selection, with 400s that say what is wrong.
 */
import { BadRequestError } from '../core/errors.ts';
import { parseProfileTypeId, type ParsedProfileType } from '../core/model.ts';
import { parseSelector, type Matcher } from '../core/selector.ts';
import { parseAttime } from '../core/attime.ts';
import type { Selection } from '../storage/query.ts';

export const DEFAULT_MAX_NODES = 8192;
export const MAX_MAX_NODES = 1_048_576;

/** Pyroscope's max_nodes rules: 0 or absent → the default, above the max or negative → error. */
export function maxNodesOf(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return DEFAULT_MAX_NODES;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new BadRequestError(`max_nodes must be an integer, got ${JSON.stringify(String(raw).slice(0, 32))}`);
  if (n < 0) throw new BadRequestError('max_nodes must not be negative');
  if (n > MAX_MAX_NODES) throw new BadRequestError(`max_nodes must be at most ${MAX_MAX_NODES}`);
  return n === 0 ? DEFAULT_MAX_NODES : n;
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
  const start = parseAttime(str(from) || 'now-1h', nowMs, 'from');
  const end = parseAttime(str(until) || 'now', nowMs, 'until');
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
  const name = parseProfileTypeId(sel.metric) ? '__profile_type__' : '__name__';
  return [{ name, op: '=', value: sel.metric }, ...sel.matchers];
}

/** A list of selectors, any of which may match; no selector at all matches everything. */
export function matcherSets(selectors: readonly string[]): Matcher[][] {
  const sets = selectors.filter((s) => s.trim() !== '').map(labelMatchers);
  return sets.length ? sets : [[]];
}

export function profileTypeOf(id: string): ParsedProfileType {
  const t = parseProfileTypeId(id);
  if (!t) throw new BadRequestError(`invalid profile type ${JSON.stringify(id.slice(0, 200))}: expected name:sample_type:sample_unit:period_type:period_unit`);
  return t;
}

/** Milliseconds from a request's int64 field. */
export function msOf(v: bigint | number | undefined): number {
  return v === undefined ? 0 : Number(v);
}

/**
 * The range of a metadata request (types, label names and values, series): zero means
 * unbounded on that side.
 */
export function metadataRange(start: bigint | number | undefined, end: bigint | number | undefined, nowMs = Date.now()): { start: number; end: number } {
  const s = msOf(start);
  const e = msOf(end) || nowMs + 86_400_000;
  if (e < s) throw new BadRequestError('end must not be before start');
  return { start: s, end: e };
}

/** The range of a select request: end defaults to now, and must come after start. */
export function selectRange(start: bigint | number | undefined, end: bigint | number | undefined, nowMs = Date.now()): { start: number; end: number } {
  const s = msOf(start);
  const e = msOf(end) || nowMs;
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
export function selectionOf(tenant: string, req: SelectFields, nowMs = Date.now()): { selection: Selection; profileType: ParsedProfileType } {
  const profileType = profileTypeOf(req.profileTypeID);
  const { start, end } = selectRange(req.start, req.end, nowMs);
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
