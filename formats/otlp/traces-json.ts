/** OTLP/JSON ExportTraceServiceRequest → spans. IDs are hex, times decimal strings, enums numbers (or names). */
import { jsonKeyValues } from './anyvalue.ts';
import { checkSize } from './errors.ts';
import { enumOf, field, hexIdOf, int64Of, listOf, objectOf, parseJson, stringOf } from './json.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from './profiles-proto.ts';
import { addResourceSpans, type RawSpan, type SpansConversion } from './traces.ts';

const KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

export function decodeTracesJson(bytes: Uint8Array, opts: { maxBytes?: number } = {}): SpansConversion {
  checkSize(bytes, opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES, 'the traces request');
  const root = parseJson(bytes, 'OTLP traces');
  const out: SpansConversion = { spans: [], rejected: 0, errors: [] };
  listOf(field(root, 'resourceSpans', 'resource_spans'), 'resourceSpans').forEach((rsv, ri) => {
    const rpath = `resourceSpans[${ri}]`;
    const rs = objectOf(rsv, rpath);
    const attrs = jsonKeyValues(field(objectOf(field(rs, 'resource'), `${rpath}.resource`), 'attributes'), `${rpath}.resource.attributes`);
    listOf(field(rs, 'scopeSpans', 'scope_spans'), `${rpath}.scopeSpans`).forEach((ssv, si) => {
      const spath = `${rpath}.scopeSpans[${si}]`;
      const ss = objectOf(ssv, spath);
      const spans = listOf(field(ss, 'spans'), `${spath}.spans`).map((v, i) => span(v, `${spath}.spans[${i}]`));
      addResourceSpans(out, attrs, spans, spath);
    });
  });
  return out;
}

function span(v: unknown, path: string): RawSpan {
  const s = objectOf(v, path);
  const status = objectOf(field(s, 'status'), `${path}.status`);
  return {
    traceId: hexIdOf(field(s, 'traceId', 'trace_id'), 16, `${path}.traceId`),
    spanId: hexIdOf(field(s, 'spanId', 'span_id'), 8, `${path}.spanId`),
    parentSpanId: hexIdOf(field(s, 'parentSpanId', 'parent_span_id'), 8, `${path}.parentSpanId`),
    name: stringOf(field(s, 'name'), `${path}.name`),
    kind: enumOf(field(s, 'kind'), `${path}.kind`, KINDS),
    start: BigInt.asUintN(64, int64Of(field(s, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`)),
    end: BigInt.asUintN(64, int64Of(field(s, 'endTimeUnixNano', 'end_time_unix_nano'), `${path}.endTimeUnixNano`)),
    attributes: jsonKeyValues(field(s, 'attributes'), `${path}.attributes`),
    statusCode: enumOf(field(status, 'code'), `${path}.status.code`, STATUS),
    statusMessage: stringOf(field(status, 'message'), `${path}.status.message`),
  };
}
