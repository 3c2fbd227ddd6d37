/**
 * Turns request parameters into a store Selection, with 400s that say what is wrong.
 */
import { BadRequestError } from '../core/errors.ts';
import { parseProfileTypeId, type ParsedProfileType } from '../core/model.ts';
import { parseSelector } from '../core/selector.ts';
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

function str(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}
