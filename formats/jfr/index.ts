export { decodeJfr, gunzipJfr, DEFAULT_MAX_JFR_BYTES } from './decode.ts';
export type { DecodeJfrOptions, JfrDecodeResult } from './decode.ts';
export { JfrError } from './errors.ts';
export { decodeLabelsSnapshot, emptyLabelsSnapshot } from './labels-snapshot.ts';
export type { LabelsSnapshot } from './labels-snapshot.ts';
export { EVENT_TYPES, SAMPLE_KINDS } from './profiles.ts';
export type { JfrNamedProfile } from './profiles.ts';
export { readChunkHeader, readRecording } from './chunks.ts';
