/**
 * An ExportProfilesServiceRequest as both encodings decode it, before anything is resolved:
 * indices stay indices into the request's one dictionary, which the converter checks.
 */
import type { KeyValue, AnyValue } from './anyvalue.ts';

/** Which numbering of Sample (and Profile) fields a binary request uses. */
export type ProfilesWire = 'v1.10' | 'v1.9' | 'v1.8';

export interface OtlpValueType {
  type: number;
  unit: number;
}

export interface OtlpSample {
  stack: number;
  attributes: number[];
  link: number;
  values: number[];
  /** How many timestamps the sample carries; each counts one when there are no values. */
  timestamps: number;
}

export interface OtlpProfile {
  sampleType: OtlpValueType | undefined;
  periodType: OtlpValueType | undefined;
  period: number;
  timeNanos: bigint;
  durationNanos: bigint;
  samples: OtlpSample[];
  attributes: number[];
}

export interface OtlpScopeProfiles {
  name: string;
  version: string;
  attributes: KeyValue[];
  profiles: OtlpProfile[];
}

export interface OtlpResourceProfiles {
  attributes: KeyValue[];
  scopes: OtlpScopeProfiles[];
}

export interface OtlpLocation {
  mapping: number;
  address: bigint;
  /** Function index of each line, innermost inlined call first. */
  functions: number[];
}

export interface OtlpDictionary {
  mappings: { filename: number }[];
  locations: OtlpLocation[];
  functions: { name: number; systemName: number }[];
  /** Hex IDs; "" where the link carries none. */
  links: { traceId: string; spanId: string }[];
  strings: string[];
  attributes: { key: number; value: AnyValue }[];
  /** Location indices, leaf first. */
  stacks: number[][];
}

export interface OtlpProfilesRequest {
  resources: OtlpResourceProfiles[];
  dictionary: OtlpDictionary;
}

export function emptyDictionary(): OtlpDictionary {
  return { mappings: [], locations: [], functions: [], links: [], strings: [], attributes: [], stacks: [] };
}
