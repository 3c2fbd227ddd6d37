/**
 * Names an OTLP profile the way Pyroscope's OTLP ingest names the same data, so queries and
 * dashboards written for Pyroscope find it:
 *  - `samples/count` with a `cpu/nanoseconds` period (the eBPF profiler's CPU profile) is
 *    `process_cpu`, with sample type `cpu/nanoseconds` and each count multiplied by the period;
 *  - `off_cpu/nanoseconds` without a period is `off_cpu`;
 *  - anything else is named after its period type (Pyroscope's rule), or after its sample type
 *    when there is no period, where Pyroscope would leave the name empty.
 * Pyroscope only looks at the period type when the period is not zero; so does this.
 */
import type { ValueType } from '../../core/model.ts';

export interface OtlpProfileKind {
  name: string;
  sampleType: ValueType;
  periodType: ValueType;
  /** Each sample's value is multiplied by this (the period, for counts of CPU samples). */
  multiplier: number;
}

export function profileKind(sampleType: ValueType, periodType: ValueType, period: number): OtlpProfileKind {
  const hasPeriod = period !== 0;
  const pt = hasPeriod ? periodType.type : '';
  const pu = hasPeriod ? periodType.unit : '';
  if (sampleType.type === 'samples' && sampleType.unit === 'count' && pt === 'cpu' && pu === 'nanoseconds') {
    return { name: 'process_cpu', sampleType: { type: 'cpu', unit: 'nanoseconds' }, periodType, multiplier: period };
  }
  if (sampleType.type === 'off_cpu' && sampleType.unit === 'nanoseconds' && pt === '' && pu === '') {
    return { name: 'off_cpu', sampleType, periodType, multiplier: 1 };
  }
  return { name: metricName(pt || sampleType.type), sampleType, periodType, multiplier: 1 };
}

/** A profile name must be a valid Prometheus metric name, since it becomes `__name__`. */
function metricName(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9_:]/g, '_');
  return /^[A-Za-z_:]/.test(cleaned) ? cleaned : `_${cleaned}`;
}
