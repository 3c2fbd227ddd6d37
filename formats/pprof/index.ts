export { decodePprof, DEFAULT_MAX_PPROF_BYTES, MAX_SAMPLE_LABELS, MAX_STACK_DEPTH } from './decode.ts';
export type { DecodePprofOptions } from './decode.ts';
export { encodePprof } from './encode.ts';
export { cumulativeDelta } from './delta.ts';
export type { CumulativeBaseline, DeltaResult } from './delta.ts';
