/**
 * Request bodies sent to a running Hearth over loopback: every route that takes a body, with the
 * headers its clients send. A 5xx other than a retryable 503 is a crash.
 */
import { gzipSync } from 'node:zlib';
import { SEEDS } from './seeds.ts';

export interface HttpTarget {
  path: string;
  headers: Record<string, string>;
  seeds: () => Uint8Array[];
  /** Applied to each mutated input before sending (gzip for the gzip variants). */
  wrap?: (b: Uint8Array) => Uint8Array;
}

const FROM = 'from=now-10s&until=now';
const BOUNDARY = 'fuzzboundary';

function multipart(profile: Uint8Array): Uint8Array {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="profile"; filename="profile.pprof"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    profile,
    Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="sample_type_config"\r\n\r\n{"samples":{"display-name":"cpu"}}\r\n--${BOUNDARY}--\r\n`),
  ]);
}

const querierJson = () =>
  [
    { profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds', labelSelector: '{service_name="fuzz"}', start: '0', end: '9999999999999', maxNodes: '1024' },
  ].map((o) => new TextEncoder().encode(JSON.stringify(o)));

export const HTTP_TARGETS: Record<string, HttpTarget> = {
  'http-ingest-pprof': { path: `/ingest?name=fuzz.cpu&format=pprof&${FROM}`, headers: { 'Content-Type': 'application/octet-stream' }, seeds: SEEDS.pprof },
  'http-ingest-pprof-gzip': { path: `/ingest?name=fuzz.cpu&format=pprof&${FROM}`, headers: { 'Content-Encoding': 'gzip' }, seeds: SEEDS.pprof, wrap: (b) => gzipSync(b) },
  'http-ingest-multipart': { path: `/ingest?name=fuzz.cpu&${FROM}`, headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` }, seeds: () => SEEDS.pprof().slice(0, 4).map(multipart) },
  'http-ingest-folded': { path: `/ingest?name=fuzz.cpu&${FROM}`, headers: { 'Content-Type': 'text/plain' }, seeds: SEEDS.folded },
  'http-ingest-lines': { path: `/ingest?name=fuzz.cpu&format=lines&${FROM}`, headers: {}, seeds: SEEDS.lines },
  'http-ingest-jfr': { path: `/ingest?name=fuzz&format=jfr&${FROM}`, headers: { 'Content-Type': 'application/octet-stream' }, seeds: SEEDS.jfr },
  'http-ingest-speedscope': { path: `/ingest?name=fuzz.cpu&format=speedscope&${FROM}`, headers: {}, seeds: SEEDS.speedscope },
  'http-ingest-trie': { path: `/ingest?name=fuzz.cpu&format=trie&${FROM}`, headers: { 'Content-Type': 'binary/octet-stream+trie' }, seeds: SEEDS.trie },
  'http-ingest-tree': { path: `/ingest?name=fuzz.cpu&format=tree&${FROM}`, headers: { 'Content-Type': 'binary/octet-stream+tree' }, seeds: SEEDS.tree },
  'http-push-proto': { path: '/push.v1.PusherService/Push', headers: { 'Content-Type': 'application/proto' }, seeds: SEEDS['push-proto'] },
  'http-push-json': { path: '/push.v1.PusherService/Push', headers: { 'Content-Type': 'application/json' }, seeds: SEEDS['push-json'] },
  'http-querier-json': { path: '/querier.v1.QuerierService/SelectMergeStacktraces', headers: { 'Content-Type': 'application/json' }, seeds: querierJson },
  'http-otlp-profiles-proto': { path: '/v1development/profiles', headers: { 'Content-Type': 'application/x-protobuf' }, seeds: SEEDS['otlp-profiles-proto'] },
  'http-otlp-profiles-json': { path: '/v1development/profiles', headers: { 'Content-Type': 'application/json' }, seeds: SEEDS['otlp-profiles-json'] },
  'http-otlp-traces-proto': { path: '/v1/traces', headers: { 'Content-Type': 'application/x-protobuf' }, seeds: SEEDS['otlp-traces-proto'] },
};
