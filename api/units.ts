/**
 * The `metadata` block of Pyroscope's flamebearer JSON tells the UI how to print values.
 */
import type { ParsedProfileType } from '../core/model.ts';

export interface FlamebearerMetadata {
  format: 'single' | 'double';
  spyName: string;
  sampleRate: number;
  units: string;
  name: string;
}

export function metadataFor(t: ParsedProfileType, format: 'single' | 'double' = 'single'): FlamebearerMetadata {
  const unit = t.sampleUnit;
  let units = unit;
  let sampleRate = 100;
  if (unit === 'nanoseconds' || unit === 'microseconds' || unit === 'milliseconds') {
    // The UI divides sample counts by sampleRate to print seconds.
    units = 'samples';
    sampleRate = unit === 'nanoseconds' ? 1e9 : unit === 'microseconds' ? 1e6 : 1e3;
  } else if (unit === 'count') {
    units = t.name === 'goroutine' || t.name === 'goroutines' || t.sampleType.includes('objects') ? 'objects' : 'samples';
  } else if (unit === 'bytes') {
    units = 'bytes';
  }
  return { format, spyName: '', sampleRate, units, name: t.id };
}
