/**
 * The `api` extension: the query server on the shared HTTP port. It reads the store only
 * through the query engine.
 */
import { z } from 'zod';
import type { ExtensionFactory } from '../core/component.ts';
import { UnavailableError } from '../core/errors.ts';
import { Limits } from '../core/limits/index.ts';
import { acquireStore, type Store } from '../storage/store.ts';
import {
  effectiveStoreConfig,
  optionalStoreClaims,
  optionalStoreSchema,
  STORE_RESOURCE,
  storeLocation,
  storeOptions,
  type OptionalStoreConfig,
} from '../storage/options.ts';
import { registerConnectRoutes } from './connect.ts';
import { registerDiffRoute } from './diff.ts';
import { registerDownloadRoutes } from './download.ts';
import { registerProfileRoutes } from './profiles.ts';
import { querierRoutes } from './querier.ts';
import { scopeQueries } from './query-scope.ts';
import { registerRenderRoutes } from './render.ts';
import { settingsRoutes } from './settings.ts';
import { registerTraceRoutes } from './traces.ts';
import { registerSqlRoute } from './sql.ts';
import { registerUiRoutes } from './ui.ts';

/** Store settings, all optional: left out, the API reads the store the process declares (the clickhouse exporter's). */
export type ApiConfig = OptionalStoreConfig;

export const factory: ExtensionFactory<ApiConfig> = {
  type: 'api',
  kind: 'extension',
  stability: 'beta',
  schema: z.strictObject(optionalStoreSchema),
  defaultConfig: () => ({}),
  claims: (config) => optionalStoreClaims(config),
  create(settings, config) {
    const storeConfig = effectiveStoreConfig(config, settings.resources?.get(STORE_RESOURCE));
    let store: Store | undefined;
    const engine = () => {
      if (!store) throw new UnavailableError('the query engine is not started');
      return store.query;
    };
    return {
      async start(host) {
        store = await acquireStore(storeOptions(storeConfig), settings.logger);
        const limits = host.limits ?? new Limits();
        const limitsFor = (tenant: string) => limits.limitsFor(tenant);
        // In their own scope, so that only the API's routes run their queries in a query scope.
        await host.http.register(async (api) => {
          scopeQueries(api, limitsFor);
          registerRenderRoutes(api, engine, limitsFor);
          registerDiffRoute(api, engine);
          registerDownloadRoutes(api, engine);
          registerProfileRoutes(api, engine);
          registerTraceRoutes(api, engine);
          registerSqlRoute(api, engine);
          registerUiRoutes(api);
          await registerConnectRoutes(api, [querierRoutes(engine, limitsFor, settings.logger), settingsRoutes()]);
        });
      },
      async shutdown() {
        const s = store;
        store = undefined;
        await s?.release();
      },
      endpoints: () => [
        { role: 'ui', path: '/', what: 'web UI' },
        { role: 'query', path: '/pyroscope/render', what: 'flame graphs, Pyroscope HTTP API' },
        { role: 'query', path: '/querier.v1.QuerierService/', what: 'Grafana Pyroscope data source (Connect, gRPC)' },
        storeLocation(storeConfig),
      ],
    };
  },
};

export default factory;
