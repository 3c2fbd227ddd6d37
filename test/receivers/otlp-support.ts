/**
 * Test-side OTLP reference: what a profiles export request should store, computed from the
 * generated @bufbuild/protobuf types (not the receiver's decoder): per (service, profile type),
 * the total of every sample.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { ExportProfilesServiceRequest } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import type { KeyValue } from '../../gen/opentelemetry/proto/common/v1/common_pb.ts';
import { AnyValueSchema, KeyValueSchema } from '../../gen/opentelemetry/proto/common/v1/common_pb.ts';
import {
  ExportProfilesServiceRequestV19Schema,
  ProfileV19Schema,
  ResourceProfilesV19Schema,
  SampleV19Schema,
  ScopeProfilesV19Schema,
} from '../../gen/opentelemetry/proto/profiles/v1development/profiles_v1_9_pb.ts';
import {
  FunctionSchema,
  LineSchema,
  LocationSchema,
  MappingSchema,
  ProfilesDictionarySchema,
  StackSchema,
  ValueTypeSchema,
  LinkSchema,
  KeyValueAndUnitSchema,
} from '../../gen/opentelemetry/proto/profiles/v1development/profiles_pb.ts';

function stringAttr(attrs: KeyValue[], key: string): string {
  for (const a of attrs) if (a.key === key && a.value?.value.case === 'stringValue') return a.value.value.value;
  return '';
}

/** `${service}\t${profileTypeId}` → total, by the rules Hearth documents (Pyroscope's naming). */
export function expectedTotals(req: ExportProfilesServiceRequest): Map<string, number> {
  const d = req.dictionary!;
  const s = (i: number) => d.stringTable[i] ?? '';
  const out = new Map<string, number>();
  for (const rp of req.resourceProfiles) {
    const attrs = rp.resource?.attributes ?? [];
    const service = stringAttr(attrs, 'service.name') || stringAttr(attrs, 'process.executable.name') || 'unknown_service';
    for (const sp of rp.scopeProfiles) {
      for (const p of sp.profiles) {
        const st = `${s(p.sampleType!.typeStrindex)}/${s(p.sampleType!.unitStrindex)}`;
        const period = Number(p.period);
        const pt = p.periodType && period !== 0 ? `${s(p.periodType.typeStrindex)}/${s(p.periodType.unitStrindex)}` : '';
        let type: string;
        let factor = 1;
        if (st === 'samples/count' && pt === 'cpu/nanoseconds') {
          type = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
          factor = period;
        } else if (st === 'off_cpu/nanoseconds' && pt === '') {
          type = `off_cpu:off_cpu:nanoseconds:${s(p.periodType?.typeStrindex ?? 0)}:${s(p.periodType?.unitStrindex ?? 0)}`;
        } else throw new Error(`the reference knows no profile of ${st} with period ${pt}`);
        let total = 0;
        for (const smp of p.samples) {
          const v = smp.values.length ? smp.values.reduce((a, b) => a + Number(b), 0) : smp.timestampsUnixNano.length;
          total += v * factor;
        }
        const key = `${service}\t${type}`;
        out.set(key, (out.get(key) ?? 0) + total);
      }
    }
  }
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return out;
}

export interface V19Fixture {
  bytes: Uint8Array;
  service: string;
  /** Self value per leaf function name. */
  self: Map<string, number>;
  total: number;
}

/**
 * A small CPU-like profile in the v1.9 layout: three stacks with values, sample attributes and
 * values large enough that a v1.10 reading sees attribute indices far outside the table.
 */
export function v19Profile(service: string, now: bigint): V19Fixture {
  const strings = ['', 'cpu', 'nanoseconds', 'main', 'work', 'sleep', 'thread.name', 'worker-1', 'app.so'];
  const idx = (x: string) => strings.indexOf(x);
  const dictionary = create(ProfilesDictionarySchema, {
    stringTable: strings,
    mappingTable: [create(MappingSchema), create(MappingSchema, { filenameStrindex: idx('app.so') })],
    functionTable: [create(FunctionSchema), ...['main', 'work', 'sleep'].map((n) => create(FunctionSchema, { nameStrindex: idx(n) }))],
    locationTable: [
      create(LocationSchema),
      ...[1, 2, 3].map((f) => create(LocationSchema, { mappingIndex: 1, lines: [create(LineSchema, { functionIndex: f })] })),
    ],
    stackTable: [create(StackSchema), create(StackSchema, { locationIndices: [2, 1] }), create(StackSchema, { locationIndices: [3, 1] }), create(StackSchema, { locationIndices: [1] })],
    linkTable: [create(LinkSchema)],
    attributeTable: [
      create(KeyValueAndUnitSchema),
      create(KeyValueAndUnitSchema, { keyStrindex: idx('thread.name'), value: create(AnyValueSchema, { value: { case: 'stringValue', value: 'worker-1' } }) }),
    ],
  });
  const samples = [
    { stack: 1, values: [10_000_000n, 20_000_000n] },
    { stack: 2, values: [50_000_000n] },
    { stack: 3, values: [7_000_000n] },
  ];
  const req = create(ExportProfilesServiceRequestV19Schema, {
    dictionary,
    resourceProfiles: [
      create(ResourceProfilesV19Schema, {
        resource: { attributes: [create(KeyValueSchema, { key: 'service.name', value: create(AnyValueSchema, { value: { case: 'stringValue', value: service } }) })] },
        scopeProfiles: [
          create(ScopeProfilesV19Schema, {
            profiles: [
              create(ProfileV19Schema, {
                sampleType: create(ValueTypeSchema, { typeStrindex: idx('cpu'), unitStrindex: idx('nanoseconds') }),
                periodType: create(ValueTypeSchema, { typeStrindex: idx('cpu'), unitStrindex: idx('nanoseconds') }),
                period: 10_000_000n,
                timeUnixNano: now,
                durationNano: 10_000_000_000n,
                samples: samples.map((x) => create(SampleV19Schema, { stackIndex: x.stack, values: x.values, attributeIndices: [1] })),
              }),
            ],
          }),
        ],
      }),
    ],
  });
  const self = new Map<string, number>([
    ['work', 30_000_000],
    ['sleep', 50_000_000],
    ['main', 7_000_000],
  ]);
  return { bytes: toBinary(ExportProfilesServiceRequestV19Schema, req), service, self, total: 87_000_000 };
}

// ---- a v1.10 request exercising strindex refs, links, sample attributes and partial success ----

import { ExportProfilesServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { ProfileSchema, ResourceProfilesSchema, SampleSchema, ScopeProfilesSchema } from '../../gen/opentelemetry/proto/profiles/v1development/profiles_pb.ts';
import { ExportTraceServiceRequestSchema, type ExportTraceServiceRequest } from '../../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import { ResourceSpansSchema, ScopeSpansSchema, SpanSchema, Span_SpanKind, Status_StatusCode } from '../../gen/opentelemetry/proto/trace/v1/trace_pb.ts';

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const SPAN_ID = '00f067aa0ba902b7';

function sv(value: string) {
  return create(AnyValueSchema, { value: { case: 'stringValue', value } });
}
function iv(value: bigint) {
  return create(AnyValueSchema, { value: { case: 'intValue', value } });
}

/**
 * Two profiles: the first good (CPU samples with timestamps only, a link, thread and custom
 * labels, resource keys given by key_strindex and values by string_value_strindex), the second
 * with a stack index outside the table, which must be refused alone.
 */
export function richProfilesRequest(now: bigint): ExportProfilesServiceRequest {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main', 'handle', 'thread.name', 'thread.id', 'process.context.label.route', 'service.name', 'checkout', 'process.pid', 'libc.so.6', 'cpu.logical_number'];
  const idx = (x: string) => strings.indexOf(x);
  const dictionary = create(ProfilesDictionarySchema, {
    stringTable: strings,
    mappingTable: [create(MappingSchema), create(MappingSchema, { filenameStrindex: idx('libc.so.6') })],
    functionTable: [create(FunctionSchema), create(FunctionSchema, { nameStrindex: idx('main') }), create(FunctionSchema, { nameStrindex: idx('handle') })],
    locationTable: [
      create(LocationSchema),
      create(LocationSchema, { lines: [create(LineSchema, { functionIndex: 1 })] }),
      create(LocationSchema, { lines: [create(LineSchema, { functionIndex: 2 })] }),
      create(LocationSchema, { mappingIndex: 1, address: 0x1f00n }),
    ],
    stackTable: [create(StackSchema), create(StackSchema, { locationIndices: [2, 1] }), create(StackSchema, { locationIndices: [3, 1] })],
    linkTable: [create(LinkSchema), create(LinkSchema, { traceId: Buffer.from(TRACE_ID, 'hex'), spanId: Buffer.from(SPAN_ID, 'hex') })],
    attributeTable: [
      create(KeyValueAndUnitSchema),
      create(KeyValueAndUnitSchema, { keyStrindex: idx('thread.name'), value: sv('worker') }),
      create(KeyValueAndUnitSchema, { keyStrindex: idx('thread.id'), value: iv(4242n) }),
      create(KeyValueAndUnitSchema, { keyStrindex: idx('process.context.label.route'), value: sv('/pay') }),
      create(KeyValueAndUnitSchema, { keyStrindex: idx('cpu.logical_number'), value: iv(3n) }),
    ],
  });
  const cpu = (samples: ReturnType<typeof create<typeof SampleSchema>>[]) =>
    create(ProfileSchema, {
      sampleType: create(ValueTypeSchema, { typeStrindex: idx('samples'), unitStrindex: idx('count') }),
      periodType: create(ValueTypeSchema, { typeStrindex: idx('cpu'), unitStrindex: idx('nanoseconds') }),
      period: 50_000_000n,
      timeUnixNano: now,
      durationNano: 5_000_000_000n,
      samples,
    });
  return create(ExportProfilesServiceRequestSchema, {
    dictionary,
    resourceProfiles: [
      create(ResourceProfilesSchema, {
        resource: {
          attributes: [
            create(KeyValueSchema, { keyStrindex: idx('service.name'), value: create(AnyValueSchema, { value: { case: 'stringValueStrindex', value: idx('checkout') } }) }),
            create(KeyValueSchema, { key: 'process.pid', value: iv(77n) }),
            create(KeyValueSchema, { key: 'deployment.environment', value: sv('prod') }),
          ],
        },
        scopeProfiles: [
          create(ScopeProfilesSchema, {
            scope: { name: 'ebpf-profiler', attributes: [create(KeyValueSchema, { key: 'scope.kind', value: sv('native') })] },
            profiles: [
              cpu([
                create(SampleSchema, { stackIndex: 1, attributeIndices: [1, 2, 3, 4], linkIndex: 1, timestampsUnixNano: [now, now + 1n, now + 2n] }),
                create(SampleSchema, { stackIndex: 2, attributeIndices: [1, 2], timestampsUnixNano: [now + 3n] }),
                create(SampleSchema, { stackIndex: 1, values: [2n], timestampsUnixNano: [now + 4n] }),
              ]),
              cpu([create(SampleSchema, { stackIndex: 99, timestampsUnixNano: [now] })]),
            ],
          }),
        ],
      }),
    ],
  });
}

export interface ExpectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  serviceName: string;
  name: string;
  kind: number;
  startNanos: bigint;
  durationNanos: bigint;
  statusCode: number;
  statusMessage: string;
  attributes: Record<string, string>;
}

/** Spans of two services, and one span without a valid ID that must be refused alone. */
export function tracesFixture(now: bigint): { request: ExportTraceServiceRequest; json: string; expected: ExpectedSpan[] } {
  type Def = { svc: string; traceId: string; spanId: string; parent: string; name: string; kind: number; start: bigint; end: bigint; code: number; msg: string; attrs: Record<string, string> };
  const spans: Def[] = [
    { svc: 'frontend', traceId: TRACE_ID, spanId: SPAN_ID, parent: '', name: 'GET /pay', kind: Span_SpanKind.SERVER, start: now, end: now + 9_000_000n, code: Status_StatusCode.OK, msg: '', attrs: { 'http.route': '/pay' } },
    { svc: 'frontend', traceId: TRACE_ID, spanId: '1111111111111111', parent: SPAN_ID, name: 'db', kind: Span_SpanKind.CLIENT, start: now + 1_000_000n, end: now + 4_000_000n, code: Status_StatusCode.ERROR, msg: 'timeout', attrs: { 'db.system': 'postgresql' } },
    { svc: 'payments', traceId: TRACE_ID, spanId: '2222222222222222', parent: SPAN_ID, name: 'charge', kind: Span_SpanKind.INTERNAL, start: now + 2_000_000n, end: now + 3_000_000n, code: Status_StatusCode.UNSET, msg: '', attrs: {} },
  ];
  const bad: Def = { svc: 'payments', traceId: '', spanId: '3333333333333333', parent: '', name: 'no trace id', kind: 1, start: now, end: now, code: 0, msg: '', attrs: {} };
  const bySvc = (svc: string) => [...spans, bad].filter((s) => s.svc === svc);
  const request = create(ExportTraceServiceRequestSchema, {
    resourceSpans: ['frontend', 'payments'].map((svc) =>
      create(ResourceSpansSchema, {
        resource: { attributes: [create(KeyValueSchema, { key: 'service.name', value: sv(svc) }), create(KeyValueSchema, { key: 'host.name', value: sv('h1') })] },
        scopeSpans: [
          create(ScopeSpansSchema, {
            spans: bySvc(svc).map((s) =>
              create(SpanSchema, {
                traceId: Buffer.from(s.traceId, 'hex'),
                spanId: Buffer.from(s.spanId, 'hex'),
                parentSpanId: Buffer.from(s.parent, 'hex'),
                name: s.name,
                kind: s.kind,
                startTimeUnixNano: s.start,
                endTimeUnixNano: s.end,
                attributes: Object.entries(s.attrs).map(([key, v]) => create(KeyValueSchema, { key, value: sv(v) })),
                status: { code: s.code, message: s.msg },
              }),
            ),
          }),
        ],
      }),
    ),
  });
  // OTLP/JSON by hand: hex IDs, which protobuf's generic JSON mapping (base64) would not give.
  const json = JSON.stringify({
    resourceSpans: ['frontend', 'payments'].map((svc) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }, { key: 'host.name', value: { stringValue: 'h1' } }] },
      scopeSpans: [
        {
          scope: { name: 'test' },
          spans: bySvc(svc).map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parent,
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: String(s.start),
            endTimeUnixNano: String(s.end),
            attributes: Object.entries(s.attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
            status: { code: s.code, message: s.msg },
          })),
        },
      ],
    })),
  });
  const expected: ExpectedSpan[] = spans.map((s) => ({
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parent,
    serviceName: s.svc,
    name: s.name,
    kind: s.kind,
    startNanos: s.start,
    durationNanos: s.end - s.start,
    statusCode: s.code,
    statusMessage: s.msg,
    attributes: { ...s.attrs, 'host.name': 'h1' },
  }));
  return { request, json, expected };
}
