export { encodeBatch } from './encode.ts';
export type { EncodeBatchOptions } from './encode.ts';
export { decodeBatch, decodeBatchHeader } from './decode.ts';
export type { BatchHeader, DecodeBatchOptions } from './decode.ts';
export { DEFAULT_MAX_BODY_BYTES, VERSION as BATCH_FORMAT_VERSION } from './layout.ts';
export { decodeBatches, encodeBatchGroup, GROUP_MEMBER_OVERHEAD_BYTES, GROUP_OVERHEAD_BYTES } from './group.ts';
