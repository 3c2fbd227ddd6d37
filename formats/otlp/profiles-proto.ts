/**
 * Binary ExportProfilesServiceRequest → OtlpProfilesRequest.
 *
 * The v1.10 layout (Sample: stack 1, attributes 2, link 3, values 4, timestamps 5) is the
 * default. v1.8 and v1.9 number Sample as stack 1, values 2, attributes 3, link 4, timestamps 5;
 * field 2 is a packed varint in both, so the layouts cannot be told apart from the bytes and
 * the receiver's configuration picks one. v1.8 also numbers Profile's attribute_indices 12.
 */
import { ProtoReader, WIRE_LEN, WIRE_VARINT } from '../protobuf/reader.ts';
import { readAnyValue, readKeyValue, type KeyValue } from './anyvalue.ts';
import { asOtlpError, checkSize, OtlpDecodeError } from './errors.ts';
import {
  emptyDictionary,
  type OtlpDictionary,
  type OtlpLocation,
  type OtlpProfile,
  type OtlpProfilesRequest,
  type OtlpResourceProfiles,
  type OtlpSample,
  type OtlpScopeProfiles,
  type OtlpValueType,
  type ProfilesWire,
} from './request.ts';

export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024;

export interface DecodeProfilesOptions {
  wire?: ProfilesWire;
  /** Largest request accepted, checked before anything is decoded. Default 64 MiB. */
  maxBytes?: number;
}

interface SampleFields {
  values: number;
  attributes: number;
  link: number;
  profileAttributes: number;
}

const LAYOUTS: Record<ProfilesWire, SampleFields> = {
  'v1.10': { attributes: 2, link: 3, values: 4, profileAttributes: 11 },
  'v1.9': { values: 2, attributes: 3, link: 4, profileAttributes: 11 },
  'v1.8': { values: 2, attributes: 3, link: 4, profileAttributes: 12 },
};

export function decodeProfilesProto(bytes: Uint8Array, opts: DecodeProfilesOptions = {}): OtlpProfilesRequest {
  checkSize(bytes, opts.maxBytes ?? DEFAULT_MAX_REQUEST_BYTES, 'the profiles request');
  const layout = LAYOUTS[opts.wire ?? 'v1.10'];
  return asOtlpError('OTLP profiles protobuf', () => new ProfilesReader(bytes, layout).request());
}

class ProfilesReader {
  private readonly r: ProtoReader;

  constructor(
    bytes: Uint8Array,
    private readonly layout: SampleFields,
  ) {
    this.r = new ProtoReader(bytes);
  }

  request(): OtlpProfilesRequest {
    const r = this.r;
    const resources: OtlpResourceProfiles[] = [];
    let dictionary: OtlpDictionary | undefined;
    const end = r.end;
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) resources.push(this.within(r.delimited(), end, () => this.resource()));
      else if (key === ((2 << 3) | WIRE_LEN)) dictionary = this.within(r.delimited(), end, () => this.dictionary(dictionary));
      else r.skipField(key);
    }
    return { resources, dictionary: dictionary ?? emptyDictionary() };
  }

  /** Runs `fn` with the reader narrowed to [pos, end), then widens it back to `outer`. */
  private within<T>(end: number, outer: number, fn: () => T): T {
    this.r.end = end;
    const v = fn();
    this.r.pos = end;
    this.r.end = outer;
    return v;
  }

  private resource(): OtlpResourceProfiles {
    const r = this.r;
    const end = r.end;
    const out: OtlpResourceProfiles = { attributes: [], scopes: [] };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) out.attributes = this.within(r.delimited(), end, () => this.resourceAttributes());
      else if (key === ((2 << 3) | WIRE_LEN)) out.scopes.push(this.within(r.delimited(), end, () => this.scope()));
      else r.skipField(key);
    }
    return out;
  }

  private resourceAttributes(): KeyValue[] {
    const r = this.r;
    const end = r.end;
    const out: KeyValue[] = [];
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) out.push(readKeyValue(r, r.delimited()));
      else r.skipField(key);
    }
    return out;
  }

  private scope(): OtlpScopeProfiles {
    const r = this.r;
    const end = r.end;
    const out: OtlpScopeProfiles = { name: '', version: '', attributes: [], profiles: [] };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) {
        const e = r.delimited();
        r.end = e;
        while (r.pos < e) {
          const k = r.tag();
          if (k === ((1 << 3) | WIRE_LEN)) out.name = r.string();
          else if (k === ((2 << 3) | WIRE_LEN)) out.version = r.string();
          else if (k === ((3 << 3) | WIRE_LEN)) out.attributes.push(readKeyValue(r, r.delimited()));
          else r.skipField(k);
        }
        r.end = end;
      } else if (key === ((2 << 3) | WIRE_LEN)) out.profiles.push(this.within(r.delimited(), end, () => this.profile()));
      else r.skipField(key);
    }
    return out;
  }

  private profile(): OtlpProfile {
    const r = this.r;
    const end = r.end;
    const out: OtlpProfile = {
      sampleType: undefined,
      periodType: undefined,
      period: 0,
      timeNanos: 0n,
      durationNanos: 0n,
      samples: [],
      attributes: [],
    };
    const attrField = this.layout.profileAttributes;
    while (r.pos < end) {
      const key = r.tag();
      const f = key >>> 3;
      if (key === ((1 << 3) | WIRE_LEN)) out.sampleType = this.within(r.delimited(), end, () => this.valueType());
      else if (key === ((2 << 3) | WIRE_LEN)) out.samples.push(this.within(r.delimited(), end, () => this.sample()));
      else if (key === ((3 << 3) | 1)) out.timeNanos = r.fixed64Big();
      else if (key === ((4 << 3) | WIRE_VARINT)) out.durationNanos = r.uint64Big();
      else if (key === ((5 << 3) | WIRE_LEN)) out.periodType = this.within(r.delimited(), end, () => this.valueType());
      else if (key === ((6 << 3) | WIRE_VARINT)) out.period = r.int64();
      else if (f === attrField && ((key & 7) === WIRE_LEN || (key & 7) === WIRE_VARINT)) this.int32s(key, out.attributes);
      else r.skipField(key);
    }
    return out;
  }

  private valueType(): OtlpValueType {
    const r = this.r;
    const end = r.end;
    const out: OtlpValueType = { type: 0, unit: 0 };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_VARINT)) out.type = r.int32();
      else if (key === ((2 << 3) | WIRE_VARINT)) out.unit = r.int32();
      else r.skipField(key);
    }
    return out;
  }

  private sample(): OtlpSample {
    const r = this.r;
    const end = r.end;
    const L = this.layout;
    const out: OtlpSample = { stack: 0, attributes: [], link: 0, values: [], timestamps: 0 };
    while (r.pos < end) {
      const key = r.tag();
      const f = key >>> 3;
      const wt = key & 7;
      if (key === ((1 << 3) | WIRE_VARINT)) out.stack = r.int32();
      else if (f === L.attributes && (wt === WIRE_LEN || wt === WIRE_VARINT)) this.int32s(key, out.attributes);
      else if (f === L.link && wt === WIRE_VARINT) out.link = r.int32();
      else if (f === L.values && (wt === WIRE_LEN || wt === WIRE_VARINT)) this.int64s(key, out.values);
      else if (f === 5 && wt === WIRE_LEN) {
        // Timestamps only count: each is 8 bytes, so the count needs no decoding.
        const e = r.delimited();
        if ((e - r.pos) % 8 !== 0) throw new OtlpDecodeError(`invalid OTLP profiles protobuf: packed timestamps of ${e - r.pos} bytes at byte ${r.pos}`);
        out.timestamps += (e - r.pos) / 8;
        r.pos = e;
      } else if (f === 5 && wt === 1) {
        r.advance(8);
        out.timestamps++;
      } else r.skipField(key);
    }
    return out;
  }

  /** A repeated int32, packed or not. */
  private int32s(key: number, out: number[]): void {
    const r = this.r;
    if ((key & 7) === WIRE_VARINT) {
      out.push(r.int32());
      return;
    }
    const e = r.delimited();
    const outer = r.end;
    r.end = e;
    while (r.pos < e) out.push(r.int32());
    r.end = outer;
  }

  /** A repeated int64, packed or not, as Numbers (exact within ±2^53). */
  private int64s(key: number, out: number[]): void {
    const r = this.r;
    if ((key & 7) === WIRE_VARINT) {
      out.push(r.int64());
      return;
    }
    const e = r.delimited();
    const outer = r.end;
    r.end = e;
    while (r.pos < e) out.push(r.int64());
    r.end = outer;
  }

  /** Reads the dictionary; a second dictionary field merges into the first, as protobuf merges messages. */
  private dictionary(prev: OtlpDictionary | undefined): OtlpDictionary {
    const r = this.r;
    const end = r.end;
    const d = prev ?? emptyDictionary();
    while (r.pos < end) {
      const key = r.tag();
      switch (key) {
        case (1 << 3) | WIRE_LEN:
          d.mappings.push(this.within(r.delimited(), end, () => this.mapping()));
          break;
        case (2 << 3) | WIRE_LEN:
          d.locations.push(this.within(r.delimited(), end, () => this.location()));
          break;
        case (3 << 3) | WIRE_LEN:
          d.functions.push(this.within(r.delimited(), end, () => this.func()));
          break;
        case (4 << 3) | WIRE_LEN:
          d.links.push(this.within(r.delimited(), end, () => this.link()));
          break;
        case (5 << 3) | WIRE_LEN:
          d.strings.push(r.string());
          break;
        case (6 << 3) | WIRE_LEN:
          d.attributes.push(this.within(r.delimited(), end, () => this.attribute()));
          break;
        case (7 << 3) | WIRE_LEN:
          d.stacks.push(this.within(r.delimited(), end, () => this.stack()));
          break;
        default:
          r.skipField(key);
      }
    }
    return d;
  }

  private mapping(): { filename: number } {
    const r = this.r;
    const end = r.end;
    let filename = 0;
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((4 << 3) | WIRE_VARINT)) filename = r.int32();
      else r.skipField(key);
    }
    return { filename };
  }

  private location(): OtlpLocation {
    const r = this.r;
    const end = r.end;
    const out: OtlpLocation = { mapping: 0, address: 0n, functions: [] };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_VARINT)) out.mapping = r.int32();
      else if (key === ((2 << 3) | WIRE_VARINT)) out.address = r.uint64Big();
      else if (key === ((3 << 3) | WIRE_LEN)) {
        const e = r.delimited();
        r.end = e;
        let fn = 0;
        while (r.pos < e) {
          const k = r.tag();
          if (k === ((1 << 3) | WIRE_VARINT)) fn = r.int32();
          else r.skipField(k);
        }
        r.end = end;
        out.functions.push(fn);
      } else r.skipField(key);
    }
    return out;
  }

  private func(): { name: number; systemName: number } {
    const r = this.r;
    const end = r.end;
    const out = { name: 0, systemName: 0 };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_VARINT)) out.name = r.int32();
      else if (key === ((2 << 3) | WIRE_VARINT)) out.systemName = r.int32();
      else r.skipField(key);
    }
    return out;
  }

  private link(): { traceId: string; spanId: string } {
    const r = this.r;
    const end = r.end;
    const out = { traceId: '', spanId: '' };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) out.traceId = idHex(r.bytes(), 16, 'trace_id');
      else if (key === ((2 << 3) | WIRE_LEN)) out.spanId = idHex(r.bytes(), 8, 'span_id');
      else r.skipField(key);
    }
    return out;
  }

  private attribute(): { key: number; value: KeyValue['value'] } {
    const r = this.r;
    const end = r.end;
    // KeyValueAndUnit: key_strindex 1, value 2, unit_strindex 3.
    const kv = { key: 0, value: null as KeyValue['value'] };
    while (r.pos < end) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_VARINT)) kv.key = r.int32();
      else if (key === ((2 << 3) | WIRE_LEN)) {
        const e = r.delimited();
        kv.value = readAnyValue(r, e, 0);
        r.pos = e;
      } else r.skipField(key);
    }
    return kv;
  }

  private stack(): number[] {
    const r = this.r;
    const end = r.end;
    const out: number[] = [];
    while (r.pos < end) {
      const key = r.tag();
      if ((key >>> 3) === 1 && ((key & 7) === WIRE_LEN || (key & 7) === WIRE_VARINT)) this.int32s(key, out);
      else r.skipField(key);
    }
    return out;
  }
}

/** Bytes of a trace or span ID as lowercase hex; "" for an empty or all-zero ID. */
export function idHex(b: Uint8Array, size: number, what: string): string {
  if (b.length === 0) return '';
  if (b.length !== size) throw new OtlpDecodeError(`a link's ${what} has ${b.length} bytes, not ${size}`);
  let zero = true;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) zero = false;
  return zero ? '' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
