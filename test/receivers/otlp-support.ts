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
