/** OTLP codecs: profiles and traces export requests, binary protobuf and OTLP/JSON. */
export { OtlpDecodeError } from './errors.ts';
export { decodeProfilesProto, DEFAULT_MAX_REQUEST_BYTES, type DecodeProfilesOptions } from './profiles-proto.ts';
export { decodeProfilesJson } from './profiles-json.ts';
export { convertProfiles, sampleTotal, MAX_STACK_DEPTH, type ConvertedProfile, type ConvertProfilesOptions, type ProfilesConversion } from './profiles-convert.ts';
export { profileKind, type OtlpProfileKind } from './profile-type.ts';
export { DEFAULT_EXCLUDED_ATTRIBUTES, labelNameOf, UNKNOWN_SERVICE } from './labels.ts';
export type { OtlpProfilesRequest, ProfilesWire } from './request.ts';
export { decodeTracesProto } from './traces-proto.ts';
export { decodeTracesJson } from './traces-json.ts';
export { MAX_SPAN_ATTRIBUTES, MAX_SPAN_ATTRIBUTE_LENGTH, type SpansConversion } from './traces.ts';
export { encodeExportResponse, encodeStatus } from './responses.ts';
