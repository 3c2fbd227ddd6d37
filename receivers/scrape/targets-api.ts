/**
 * `GET /api/v1/targets`, in the shape of Prometheus' targets API: every scrape receiver of the
 * process adds its targets to one route on the shared HTTP server.
 */
import type { FastifyInstance } from 'fastify';
import { BadRequestError } from '../../core/errors.ts';
import type { Labels } from '../../core/model.ts';

export interface ActiveTargetView {
  discoveredLabels: Labels;
  labels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  globalUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: 'unknown' | 'up' | 'down';
  scrapeInterval: string;
  scrapeTimeout: string;
}

export interface DroppedTargetView {
  discoveredLabels: Labels;
  scrapePool: string;
  reason: string;
}

export interface TargetsProvider {
  active(): ActiveTargetView[];
  dropped(): DroppedTargetView[];
}

export const TARGETS_PATH = '/api/v1/targets';

const providers = new WeakMap<FastifyInstance, Set<TargetsProvider>>();

/** Adds a receiver's targets to the route, registering the route on first use. Returns the removal. */
export function registerTargets(http: FastifyInstance, provider: TargetsProvider): () => void {
  let set = providers.get(http);
  if (!set) {
    const registered = new Set<TargetsProvider>();
    set = registered;
    providers.set(http, registered);
    http.get(TARGETS_PATH, async (req) => {
      const q = req.query as Record<string, string | string[] | undefined>;
      const state = typeof q.state === 'string' ? q.state.toLowerCase() : 'any';
      if (state !== 'any' && state !== 'active' && state !== 'dropped') {
        throw new BadRequestError(`state must be "active", "dropped" or "any", not ${JSON.stringify(q.state)}`);
      }
      const pools = q.scrapePool === undefined ? undefined : new Set([q.scrapePool].flat());
      const inPool = (p: { scrapePool: string }) => !pools || pools.has(p.scrapePool);
      const all = [...registered];
      const active = state === 'dropped' ? [] : all.flatMap((p) => p.active()).filter(inPool);
      const dropped = state === 'active' ? [] : all.flatMap((p) => p.dropped()).filter(inPool);
      const droppedTargetCounts: Record<string, number> = {};
      for (const d of all.flatMap((p) => p.dropped())) droppedTargetCounts[d.scrapePool] = (droppedTargetCounts[d.scrapePool] ?? 0) + 1;
      return { status: 'success', data: { activeTargets: active, droppedTargets: dropped, droppedTargetCounts } };
    });
  }
  set.add(provider);
  return () => set.delete(provider);
}
