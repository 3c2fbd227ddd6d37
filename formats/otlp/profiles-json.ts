/**
 * OTLP/JSON ExportProfilesServiceRequest → OtlpProfilesRequest.
 *
 * JSON names fields, so the v1.10 renumbering of Sample does not matter here: v1.9 and v1.10
 * JSON are the same, and v1.8's older names (`sample`, `line`) are read as well. Layouts before
 * v1.8 (per-profile tables, `locationsStartIndex`) are told apart by their keys and refused.
 */
import { jsonAnyValue, jsonKeyValues } from './anyvalue.ts';
import { checkSize, OtlpDecodeError } from './errors.ts';
import { DEFAULT_MAX_REQUEST_BYTES } from './profiles-proto.ts';
import { field, hexIdOf, int32Of, int64Of, isObject, listOf, objectOf, parseJson, safeIntOf, stringOf, type JsonObject } from './json.ts';
import { emptyDictionary, type OtlpDictionary, type OtlpProfile, type OtlpProfilesRequest, type OtlpSample, type OtlpValueType } from './request.ts';

export function decodeProfilesJson(bytes: Uint8Array, opts: { maxBytes?: number } = {}): OtlpProfilesRequest {
  checkSize(bytes, opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES, 'the profiles request');
  const root = parseJson(bytes, 'OTLP profiles');
  const resources = listOf(field(root, 'resourceProfiles', 'resource_profiles'), 'resourceProfiles').map((rpv, ri) => {
    const rpath = `resourceProfiles[${ri}]`;
    const rp = objectOf(rpv, rpath);
    const resource = objectOf(field(rp, 'resource'), `${rpath}.resource`);
    return {
      attributes: jsonKeyValues(field(resource, 'attributes'), `${rpath}.resource.attributes`),
      scopes: listOf(field(rp, 'scopeProfiles', 'scope_profiles'), `${rpath}.scopeProfiles`).map((spv, si) => {
        const spath = `${rpath}.scopeProfiles[${si}]`;
        const sp = objectOf(spv, spath);
        const scope = objectOf(field(sp, 'scope'), `${spath}.scope`);
        return {
          name: stringOf(field(scope, 'name'), `${spath}.scope.name`),
          version: stringOf(field(scope, 'version'), `${spath}.scope.version`),
          attributes: jsonKeyValues(field(scope, 'attributes'), `${spath}.scope.attributes`),
          profiles: listOf(field(sp, 'profiles'), `${spath}.profiles`).map((pv, pi) => profile(pv, `${spath}.profiles[${pi}]`)),
        };
      }),
    };
  });
  return { resources, dictionary: dictionary(field(root, 'dictionary'), 'dictionary') };
}

function valueType(v: unknown, path: string): OtlpValueType | undefined {
  if (v === undefined) return undefined;
  const o = objectOf(v, path);
  return {
    type: int32Of(field(o, 'typeStrindex', 'type_strindex'), `${path}.typeStrindex`),
    unit: int32Of(field(o, 'unitStrindex', 'unit_strindex'), `${path}.unitStrindex`),
  };
}

function profile(v: unknown, path: string): OtlpProfile {
  const p = objectOf(v, path);
  if (field(p, 'locationIndices', 'location_indices') !== undefined || field(p, 'stringTable', 'string_table') !== undefined) {
    throw new OtlpDecodeError(`${path}: this is the OTLP profiles layout of v1.7 or older (tables or location indices in the profile), which is not supported; send v1.8 or newer`);
  }
  let sampleType = field(p, 'sampleType', 'sample_type');
  // Before v1.8 sample_type was repeated; a one-element list is still unambiguous.
  if (Array.isArray(sampleType)) {
    if (sampleType.length > 1) throw new OtlpDecodeError(`${path}.sampleType: a profile has one sample type since OTLP v1.8, got ${sampleType.length}`);
    sampleType = sampleType[0];
  }
  const samples = field(p, 'samples') ?? field(p, 'sample');
  return {
    sampleType: valueType(sampleType, `${path}.sampleType`),
    periodType: valueType(field(p, 'periodType', 'period_type'), `${path}.periodType`),
    period: safeIntOf(field(p, 'period'), `${path}.period`),
    timeNanos: int64Of(field(p, 'timeUnixNano', 'time_unix_nano'), `${path}.timeUnixNano`),
    durationNanos: int64Of(field(p, 'durationNano', 'duration_nano'), `${path}.durationNano`),
    samples: listOf(samples, `${path}.samples`).map((sv, i) => sample(sv, `${path}.samples[${i}]`)),
    attributes: int32List(field(p, 'attributeIndices', 'attribute_indices'), `${path}.attributeIndices`),
  };
}

function sample(v: unknown, path: string): OtlpSample {
  const s = objectOf(v, path);
  if (field(s, 'locationsStartIndex', 'locations_start_index') !== undefined) {
    throw new OtlpDecodeError(`${path}: locationsStartIndex belongs to the OTLP profiles layout of v1.7 or older, which is not supported; send v1.8 or newer`);
  }
  const values = listOf(field(s, 'values') ?? field(s, 'value'), `${path}.values`).map((x, i) => safeIntOf(x, `${path}.values[${i}]`));
  const ts = listOf(field(s, 'timestampsUnixNano', 'timestamps_unix_nano'), `${path}.timestampsUnixNano`);
  ts.forEach((x, i) => int64Of(x, `${path}.timestampsUnixNano[${i}]`));
  return {
    stack: int32Of(field(s, 'stackIndex', 'stack_index'), `${path}.stackIndex`),
    attributes: int32List(field(s, 'attributeIndices', 'attribute_indices'), `${path}.attributeIndices`),
    link: int32Of(field(s, 'linkIndex', 'link_index'), `${path}.linkIndex`),
    values,
    timestamps: ts.length,
  };
}

function int32List(v: unknown, path: string): number[] {
  return listOf(v, path).map((x, i) => int32Of(x, `${path}[${i}]`));
}

function dictionary(v: unknown, path: string): OtlpDictionary {
  if (v === undefined) return emptyDictionary();
  const d = objectOf(v, path);
  const table = (camel: string, snake: string): unknown[] => listOf(field(d, camel, snake), `${path}.${camel}`);
  const obj = (x: unknown, p: string): JsonObject => objectOf(x, p);
  return {
    mappings: table('mappingTable', 'mapping_table').map((m, i) => ({
      filename: int32Of(field(obj(m, `${path}.mappingTable[${i}]`), 'filenameStrindex', 'filename_strindex'), `${path}.mappingTable[${i}].filenameStrindex`),
    })),
    locations: table('locationTable', 'location_table').map((lv, i) => {
      const lp = `${path}.locationTable[${i}]`;
      const l = obj(lv, lp);
      const lines = field(l, 'lines') ?? field(l, 'line');
      return {
        mapping: int32Of(field(l, 'mappingIndex', 'mapping_index'), `${lp}.mappingIndex`),
        address: BigInt.asUintN(64, int64Of(field(l, 'address'), `${lp}.address`)),
        functions: listOf(lines, `${lp}.lines`).map((x, j) => int32Of(field(obj(x, `${lp}.lines[${j}]`), 'functionIndex', 'function_index'), `${lp}.lines[${j}].functionIndex`)),
      };
    }),
    functions: table('functionTable', 'function_table').map((fv, i) => {
      const fp = `${path}.functionTable[${i}]`;
      const f = obj(fv, fp);
      return {
        name: int32Of(field(f, 'nameStrindex', 'name_strindex'), `${fp}.nameStrindex`),
        systemName: int32Of(field(f, 'systemNameStrindex', 'system_name_strindex'), `${fp}.systemNameStrindex`),
      };
    }),
    links: table('linkTable', 'link_table').map((lv, i) => {
      const lp = `${path}.linkTable[${i}]`;
      const l = obj(lv, lp);
      return {
        traceId: zeroIdToEmpty(hexIdOf(field(l, 'traceId', 'trace_id'), 16, `${lp}.traceId`)),
        spanId: zeroIdToEmpty(hexIdOf(field(l, 'spanId', 'span_id'), 8, `${lp}.spanId`)),
      };
    }),
    strings: table('stringTable', 'string_table').map((s, i) => stringOf(s, `${path}.stringTable[${i}]`)),
    attributes: table('attributeTable', 'attribute_table').map((av, i) => {
      const ap = `${path}.attributeTable[${i}]`;
      const a = obj(av, ap);
      if (!isObject(a)) throw new OtlpDecodeError(`${ap}: expected an object`);
      return {
        key: int32Of(field(a, 'keyStrindex', 'key_strindex'), `${ap}.keyStrindex`),
        value: jsonAnyValue(field(a, 'value'), `${ap}.value`),
      };
    }),
    stacks: table('stackTable', 'stack_table').map((sv, i) =>
      int32List(field(obj(sv, `${path}.stackTable[${i}]`), 'locationIndices', 'location_indices'), `${path}.stackTable[${i}].locationIndices`),
    ),
  };
}

function zeroIdToEmpty(hex: string): string {
  return /^0*$/.test(hex) ? '' : hex;
}
