/** Binary ExportTraceServiceRequest → spans. */
import { ProtoReader, WIRE_LEN, WIRE_VARINT } from '../protobuf/reader.ts';
import { readKeyValue, type KeyValue } from './anyvalue.ts';
import { asOtlpError, checkSize } from './errors.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from './profiles-proto.ts';
import { addResourceSpans, type RawSpan, type SpansConversion } from './traces.ts';

export function decodeTracesProto(bytes: Uint8Array, opts: { maxBytes?: number } = {}): SpansConversion {
  checkSize(bytes, opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES, 'the traces request');
  return asOtlpError('OTLP traces protobuf', () => {
    const r = new ProtoReader(bytes);
    const out: SpansConversion = { spans: [], rejected: 0, errors: [] };
    let ri = 0;
    while (r.pos < r.end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) resourceSpans(r, r.delimited(), out, ri++);
      else r.skipField(key);
    }
    return out;
  });
}

function resourceSpans(r: ProtoReader, end: number, out: SpansConversion, ri: number): void {
  const outer = r.end;
  r.end = end;
  let attrs: KeyValue[] = [];
  const scopes: RawSpan[][] = [];
  while (r.pos < end) {
    const key = r.tag();
    if (key === ((1 << 3) | WIRE_LEN)) {
      const e = r.delimited();
      r.end = e;
      attrs = [];
      while (r.pos < e) {
        const k = r.tag();
        if (k === ((1 << 3) | WIRE_LEN)) attrs.push(readKeyValue(r, r.delimited()));
        else r.skipField(k);
      }
      r.end = end;
    } else if (key === ((2 << 3) | WIRE_LEN)) {
      const e = r.delimited();
      r.end = e;
      const spans: RawSpan[] = [];
      while (r.pos < e) {
        const k = r.tag();
        if (k === ((2 << 3) | WIRE_LEN)) spans.push(span(r, r.delimited()));
        else r.skipField(k);
      }
      r.end = end;
      scopes.push(spans);
    } else r.skipField(key);
  }
  // The resource may come after its spans on the wire, so spans are built once it is known.
  scopes.forEach((spans, si) => addResourceSpans(out, attrs, spans, `resourceSpans[${ri}].scopeSpans[${si}]`));
  r.pos = end;
  r.end = outer;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function span(r: ProtoReader, end: number): RawSpan {
  const outer = r.end;
  r.end = end;
  const s: RawSpan = { traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, start: 0n, end: 0n, attributes: [], statusCode: 0, statusMessage: '' };
  while (r.pos < end) {
    const key = r.tag();
    switch (key) {
      case (1 << 3) | WIRE_LEN:
        s.traceId = hex(r.bytes());
        break;
      case (2 << 3) | WIRE_LEN:
        s.spanId = hex(r.bytes());
        break;
      case (4 << 3) | WIRE_LEN:
        s.parentSpanId = hex(r.bytes());
        break;
      case (5 << 3) | WIRE_LEN:
        s.name = r.string();
        break;
      case (6 << 3) | WIRE_VARINT:
        s.kind = r.int32();
        break;
      case (7 << 3) | 1:
        s.start = r.fixed64Big();
        break;
      case (8 << 3) | 1:
        s.end = r.fixed64Big();
        break;
      case (9 << 3) | WIRE_LEN:
        s.attributes.push(readKeyValue(r, r.delimited()));
        break;
      case (15 << 3) | WIRE_LEN: {
        const e = r.delimited();
        r.end = e;
        while (r.pos < e) {
          const k = r.tag();
          if (k === ((2 << 3) | WIRE_LEN)) s.statusMessage = r.string();
          else if (k === ((3 << 3) | WIRE_VARINT)) s.statusCode = r.int32();
          else r.skipField(k);
        }
        r.end = end;
        break;
      }
      default:
        r.skipField(key);
    }
  }
  r.end = outer;
  return s;
}
