/**
 * `querier.v1.QuerierService`: Grafana Pyroscope's query API, answered from the store.
 *
 * Each handler reads the tenant from X-Scope-OrgID, turns the request into a store Selection
 * (selector errors are InvalidArgument with the position) and shapes the result as Pyroscope
 * does, so that Grafana's Pyroscope data source can use Hearth as it is.
 */
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { toConnectError } from '../core/connect-errors.ts';
import type { TenantLimits } from '../core/limits/index.ts';
import { checkSeriesCount, limitRange } from '../core/limits/query.ts';
import { BadRequestError } from '../core/errors.ts';
import { tenantOfCall } from '../core/connect-tenant.ts';
import { diffFlameGraph, toTreeBytes, type FlameGraph as FlameGraphData, type FlameGraphDiff as FlameGraphDiffData } from '../formats/flamegraph/index.ts';
import { ProfileSchema } from '../gen/google/v1/profile_pb.ts';
import {
  FlameGraphDiffSchema,
  FlameGraphSchema,
  ProfileFormat,
  QuerierService,
  type SelectMergeStacktracesRequest,
} from '../gen/querier/v1/querier_pb.ts';
import { ExemplarType, TimeSeriesAggregationType, type LabelPair, type SeriesSchema, type ExemplarSchema } from '../gen/types/v1/types_pb.ts';
import { TYPE_LABEL_NAMES, type MergedStacks, type QueryEngine, type Selection, type TimelineSeries } from '../storage/query.ts';
import { flameGraphOf } from './flamegraph.ts';
import { mergedToPprof } from './pprof.ts';
import { labelMatchers, matcherSets, maxNodesOf, metadataRange, profileTypeOf, selectionOf, selectRange } from './selection.ts';

/** The labels Pyroscope derives from every series' profile type and service. */
export const HIDDEN_LABEL_NAMES = [...TYPE_LABEL_NAMES, '__service_name__'].sort();

/** Runs a handler body with errors mapped to Connect codes; what becomes `internal` is logged, being a bug. */
function guardWith(logger: Logger | undefined) {
  return async function guarded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = toConnectError(err);
      if (e.code === Code.Internal) logger?.error({ err }, 'query failed');
      throw e;
    }
  };
}

/** Prometheus' cap on points per series: a step that small for the range is a mistake, not a query. */
export const MAX_POINTS_PER_SERIES = 11_000;

/** The step of a SelectSeries request in seconds, refused when it cannot make a sane timeline. */
export function stepOf(step: number, start: number, end: number): number {
  if (!Number.isFinite(step) || !(step > 0)) throw new BadRequestError('step must be a positive number of seconds');
  const rangeSeconds = (end - start) / 1000;
  // One point covers the whole range; a longer step says nothing more.
  const s = Math.max(1, Math.min(step, Math.ceil(rangeSeconds)));
  if (rangeSeconds / s > MAX_POINTS_PER_SERIES) {
    throw new BadRequestError(`step ${step} s makes ${Math.ceil(rangeSeconds / s)} points per series over the range; at most ${MAX_POINTS_PER_SERIES}`);
  }
  return s;
}

const int = (v: number): bigint => BigInt(Math.round(v));

export function flameGraphMessage(fg: FlameGraphData): MessageInitShape<typeof FlameGraphSchema> {
  return {
    names: fg.names,
    levels: fg.levels.map((l) => ({ values: l.map(int) })),
    total: int(fg.total),
    maxSelf: int(fg.maxSelf),
  };
}

export function flameGraphDiffMessage(fg: FlameGraphDiffData): MessageInitShape<typeof FlameGraphDiffSchema> {
  return {
    names: fg.names,
    levels: fg.levels.map((l) => ({ values: l.map(int) })),
    total: int(fg.total),
    maxSelf: int(fg.maxSelf),
    leftTicks: int(fg.leftTicks),
    rightTicks: int(fg.rightTicks),
  };
}

/** Every label of a series as Pyroscope lists it: its own plus those derived from its type. */
export function seriesLabelsWithHidden(profileType: string, labels: Record<string, string>): Record<string, string> {
  const [name, type, unit, periodType, periodUnit] = profileType.split(':');
  const out: Record<string, string> = {
    ...labels,
    __profile_type__: profileType,
    __name__: name,
    __type__: type,
    __unit__: unit,
    __period_type__: periodType,
    __period_unit__: periodUnit,
  };
  if (labels.service_name !== undefined) out.__service_name__ = labels.service_name;
  return out;
}

function labelPairs(labels: Record<string, string>): LabelPair[] {
  return Object.keys(labels)
    .sort()
    .map((name) => ({ name, value: labels[name] }) as LabelPair);
}

export function querierRoutes(engine: () => QueryEngine, limitsFor: (tenant: string) => TenantLimits, logger?: Logger): (router: ConnectRouter) => void {
  const guarded = guardWith(logger);
  const nodesOf = (maxNodesRaw: bigint | undefined, tenant: string) => maxNodesOf(maxNodesRaw === undefined ? undefined : Number(maxNodesRaw), limitsFor(tenant));
  const formatted = async (merged: MergedStacks, format: ProfileFormat, maxNodesRaw: bigint | undefined, selection: Selection, typeId: string) => {
    const maxNodes = nodesOf(maxNodesRaw, selection.tenant);
    switch (format) {
      case ProfileFormat.UNSPECIFIED:
      case ProfileFormat.FLAMEGRAPH:
        return { flamegraph: flameGraphMessage(await flameGraphOf(merged, maxNodes)) };
      case ProfileFormat.TREE:
        return { tree: toTreeBytes(merged, maxNodes) };
      case ProfileFormat.PPROF:
        return { pprof: { profile: fromBinary(ProfileSchema, mergedToPprof(merged, profileTypeOf(typeId), selection.start, selection.end)) } };
      case ProfileFormat.DOT:
        throw new ConnectError('the DOT format is not supported; ask for PPROF and render it with go tool pprof -dot', Code.Unimplemented);
      default:
        throw new BadRequestError(`unknown profile format ${format}`);
    }
  };

  // A flame graph answer is cut to its max_nodes by the store; every other format needs all stacks.
  const flameGraphNodes = (format: ProfileFormat, maxNodesRaw: bigint | undefined, tenant: string): number | undefined =>
    format === ProfileFormat.UNSPECIFIED || format === ProfileFormat.FLAMEGRAPH ? nodesOf(maxNodesRaw, tenant) : undefined;

  const mergeFor = async (req: SelectMergeStacktracesRequest, tenant: string, maxNodes?: number) => {
    const { selection } = selectionOf(tenant, req, Date.now(), limitsFor(tenant));
    return { selection, merged: await engine().mergeStacks(selection, { maxNodes }) };
  };

  return (router) => {
    router.service(QuerierService, {
      profileTypes: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { start, end } = metadataRange(req.start, req.end);
          const types = await engine().profileTypes(tenant, start, end);
          return {
            profileTypes: types.map((id) => {
              const t = profileTypeOf(id);
              return { ID: t.id, name: t.name, sampleType: t.sampleType, sampleUnit: t.sampleUnit, periodType: t.periodType, periodUnit: t.periodUnit };
            }),
          };
        }),

      labelNames: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { start, end } = metadataRange(req.start, req.end);
          const db = engine();
          const names = new Set<string>();
          for (const set of matcherSets(req.matchers)) for (const n of await db.labelNames(tenant, set, start, end)) names.add(n);
          if (names.size) for (const n of HIDDEN_LABEL_NAMES) names.add(n);
          return { names: [...names].sort() };
        }),

      labelValues: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          if (!req.name) throw new BadRequestError('name is required');
          const { start, end } = metadataRange(req.start, req.end);
          const db = engine();
          const values = new Set<string>();
          for (const set of matcherSets(req.matchers)) for (const v of await db.labelValues(tenant, req.name, set, start, end)) values.add(v);
          return { names: [...values].sort() };
        }),

      series: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { start, end } = metadataRange(req.start, req.end);
          const max = limitsFor(tenant).maxSeriesPerQuery;
          // One more than the limit tells a result over it from one at it, without reading them all.
          const refs = await engine().series(tenant, matcherSets(req.matchers), start, end, max ? max + 1 : 0);
          checkSeriesCount(limitsFor(tenant), refs.length);
          const wanted = req.labelNames.length ? new Set(req.labelNames) : undefined;
          const seen = new Set<string>();
          const out: Array<{ labels: LabelPair[] }> = [];
          for (const ref of refs) {
            let labels = seriesLabelsWithHidden(ref.profileType, ref.labels);
            if (wanted) labels = Object.fromEntries(Object.entries(labels).filter(([k]) => wanted.has(k)));
            const pairs = labelPairs(labels);
            const key = JSON.stringify(pairs.map((l) => [l.name, l.value]));
            // Asking for some labels only collapses series that agree on them, as in Pyroscope.
            if (seen.has(key)) continue;
            seen.add(key);
            out.push({ labels: pairs });
          }
          return { labelsSet: out };
        }),

      selectMergeStacktraces: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { selection, merged } = await mergeFor(req, tenant, flameGraphNodes(req.format, req.maxNodes, tenant));
          return formatted(merged, req.format, req.maxNodes, selection, req.profileTypeID);
        }),

      selectMergeSpanProfile: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const spans = req.spanSelector.filter((s) => s !== '');
          if (!spans.length) throw new BadRequestError('span_selector must name at least one span');
          const { selection } = selectionOf(tenant, { ...req, spanSelector: spans }, Date.now(), limitsFor(tenant));
          if (req.format === ProfileFormat.PPROF || req.format === ProfileFormat.DOT) {
            throw new BadRequestError('SelectMergeSpanProfile answers FLAMEGRAPH or TREE');
          }
          const merged = await engine().mergeStacks(selection, { maxNodes: flameGraphNodes(req.format, req.maxNodes, tenant) });
          return formatted(merged, req.format, req.maxNodes, selection, req.profileTypeID);
        }),

      selectMergeProfile: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { selection, profileType } = selectionOf(tenant, req, Date.now(), limitsFor(tenant));
          const merged = await engine().mergeStacks(selection);
          return fromBinary(ProfileSchema, mergedToPprof(merged, profileType, selection.start, selection.end));
        }),

      selectSeries: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const { selection } = selectionOf(tenant, req, Date.now(), limitsFor(tenant));
          const step = stepOf(req.step, selection.start, selection.end);
          if (req.exemplarType === ExemplarType.SPAN) throw new ConnectError('exemplar type span is not implemented', Code.Unimplemented);
          const aggregation = req.aggregation === TimeSeriesAggregationType.AVERAGE ? 'avg' : 'sum';
          const limit = req.limit === undefined ? undefined : Number(req.limit);
          if (limit !== undefined && limit < 0) throw new BadRequestError('limit must not be negative');
          const groupBy = req.groupBy.filter((g) => g !== '');
          const db = engine();
          const [series, exemplars] = await Promise.all([
            db.timeline(selection, step, { groupBy, aggregation, limit: limit || undefined }),
            req.exemplarType === ExemplarType.INDIVIDUAL ? individualExemplars(db, selection, step, groupBy) : Promise.resolve(undefined),
          ]);
          checkSeriesCount(limitsFor(tenant), series.length);
          return { series: series.map((s) => seriesMessage(s, exemplars)) };
        }),

      diff: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          if (!req.left || !req.right) throw new BadRequestError('left and right are both required');
          const left = profileTypeOf(req.left.profileTypeID);
          const right = profileTypeOf(req.right.profileTypeID);
          if (left.id !== right.id) throw new BadRequestError(`left and right must have the same profile type, got ${left.id} and ${right.id}`);
          const maxNodes = maxNodesOf(req.left.maxNodes === undefined ? undefined : Number(req.left.maxNodes), limitsFor(tenant));
          const [l, r] = await Promise.all([mergeFor(req.left, tenant), mergeFor(req.right, tenant)]);
          return { flamegraph: flameGraphDiffMessage(diffFlameGraph(l.merged, r.merged, maxNodes)) };
        }),

      getProfileStats: (_req, ctx) =>
        guarded(async () => {
          const stats = await engine().profileStats(tenantOfCall(ctx));
          return { dataIngested: stats.ingested, oldestProfileTime: BigInt(stats.oldest), newestProfileTime: BigInt(stats.newest) };
        }),

      analyzeQuery: (req, ctx) =>
        guarded(async () => {
          const tenant = tenantOfCall(ctx);
          const range = selectRange(req.start, req.end);
          const { start, end } = limitRange(limitsFor(tenant), range.start, range.end);
          const a = await engine().analyze(tenant, labelMatchers(req.query), start, end);
          return {
            queryScopes: [
              {
                componentType: 'ClickHouse',
                componentCount: 1n,
                blockCount: BigInt(a.parts),
                seriesCount: BigInt(a.series),
                profileCount: BigInt(a.profiles),
                sampleCount: BigInt(a.samples),
                indexBytes: BigInt(a.indexBytes),
                profileBytes: BigInt(a.profileBytes),
                symbolBytes: BigInt(a.symbolBytes),
              },
            ],
            queryImpact: { totalBytesInTimeRange: BigInt(a.bytesInRange), totalQueriedSeries: BigInt(a.series), deduplicationNeeded: false },
          };
        }),
    });
  };
}

type ExemplarInit = MessageInitShape<typeof ExemplarSchema>;

/** The largest profile of each group and step, keyed by group then bucket time. */
async function individualExemplars(db: QueryEngine, selection: Selection, step: number, groupBy: string[]): Promise<Map<string, Map<number, ExemplarInit>>> {
  const found = await db.exemplars(selection, step);
  const labels = await db.seriesLabels(selection.tenant, selection.profileType, [...new Set(found.map((e) => e.fingerprint))]);
  const out = new Map<string, Map<number, { value: number; init: ExemplarInit }>>();
  for (const e of found) {
    const l = labels.get(e.fingerprint) ?? {};
    const key = groupKey(groupBy.map((g) => l[g] ?? ''));
    let byTs = out.get(key);
    if (!byTs) out.set(key, (byTs = new Map()));
    const prev = byTs.get(e.ts);
    if (prev && prev.value >= e.value) continue;
    byTs.set(e.ts, { value: e.value, init: { timestamp: BigInt(e.time), profileId: e.id, spanId: '', value: int(e.value), labels: labelPairs(l) } });
  }
  return new Map([...out].map(([k, m]) => [k, new Map([...m].map(([ts, v]) => [ts, v.init]))]));
}

function groupKey(values: string[]): string {
  return JSON.stringify(values);
}

function seriesMessage(s: TimelineSeries, exemplars: Map<string, Map<number, ExemplarInit>> | undefined): MessageInitShape<typeof SeriesSchema> {
  const names = Object.keys(s.labels);
  const ex = exemplars?.get(groupKey(names.map((n) => s.labels[n])));
  // A series without the group-by label has no pair for it, as in Pyroscope.
  const present = Object.fromEntries(Object.entries(s.labels).filter(([, v]) => v !== ''));
  return {
    labels: labelPairs(present),
    points: s.points.map(([ts, value]) => {
      const e = ex?.get(ts);
      return { value, timestamp: BigInt(ts), exemplars: e ? [e] : [] };
    }),
  };
}
