/**
 * Per-tenant limits, declared once per process in `service.limits` (defaults and an overrides
 * file). The service checks ingest limits on every receiver's batches; the API applies the query
 * limits; a store offers its series index for counting series. See docs/limits.md.
 */
import type { Logger } from 'pino';
import type { Consumer } from '../component.ts';
import { SeriesCardinality, type SeriesIndex } from './cardinality.ts';
import { limitedConsumer } from './ingest.ts';
import { TenantOverrides } from './overrides.ts';
import { IngestionRate } from './rate.ts';
import type { LimitsConfig, TenantLimits } from './schema.ts';

export { LimitExceededError } from './errors.ts';
export { checkLabelLimits, formatLabels, type LabelLimits } from './series-labels.ts';
export { defaultLimits, limitsSchema, type LimitsConfig, type TenantLimits } from './schema.ts';
export type { SeriesIndex, StoredSeries } from './cardinality.ts';

export interface LimitsSettings {
  defaults: LimitsConfig;
  /** Empty: no overrides. */
  overridesFile: string;
  reloadIntervalMs?: number;
}

export class Limits {
  private readonly overrides: TenantOverrides;
  private readonly rate = new IngestionRate();
  private readonly series = new SeriesCardinality();

  constructor(settings: Partial<LimitsSettings> = {}, logger?: Logger) {
    this.overrides = new TenantOverrides({
      defaults: settings.defaults,
      overridesFile: settings.overridesFile,
      reloadIntervalMs: settings.reloadIntervalMs,
      logger,
    });
  }

  limitsFor(tenant: string): TenantLimits {
    return this.overrides.limitsFor(tenant);
  }

  /** Wraps a receiver's consumer so that each batch is checked against its tenant's limits first. */
  guard(next: Consumer<'profiles'>): Consumer<'profiles'> {
    return limitedConsumer(next, { limitsFor: (t) => this.limitsFor(t), rate: this.rate, series: this.series });
  }

  /** A store offers its series index, so series are counted from what is stored. */
  useSeriesIndex(index: SeriesIndex): void {
    this.series.useIndex(index);
  }

  start(): void {
    this.overrides.start();
  }

  stop(): void {
    this.overrides.stop();
  }
}
