/**
 * OTLP export responses and error bodies, in the encoding of the request. The profiles and
 * traces responses share one shape (field 1 partial_success {1 rejected count, 2 message}); only
 * the JSON name of the count differs.
 */
import { ProtoWriter } from '../protobuf/writer.ts';

export type OtlpEncoding = 'protobuf' | 'json';
export type OtlpSignalName = 'profiles' | 'spans';

export function encodeExportResponse(encoding: OtlpEncoding, signal: OtlpSignalName, rejected: number, message: string): Uint8Array | string {
  const partial = rejected > 0 || message !== '';
  if (encoding === 'json') {
    const key = signal === 'profiles' ? 'rejectedProfiles' : 'rejectedSpans';
    return JSON.stringify(partial ? { partialSuccess: { [key]: String(rejected), errorMessage: message } } : {});
  }
  const w = new ProtoWriter(64 + message.length * 3);
  if (partial) w.begin(1).varintField(1, rejected).stringField(2, message).end();
  return w.finish().slice();
}

/** A google.rpc.Status {1 code, 2 message}: OTLP/HTTP's error body. `code` is the gRPC code. */
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Uint8Array | string {
  if (encoding === 'json') return JSON.stringify({ code, message });
  return new ProtoWriter(16 + message.length * 3).varintField(1, code).stringField(2, message).finish().slice();
}
