/**
 * OtlpProfilesRequest → one normalized Profile (core/model.ts) with its series labels per
 * (resource, scope, Profile), split further by a sample-level `service.name` when samples carry
 * one (as Pyroscope does).
 *
 * Indices are checked here, per profile: a profile that refers outside the dictionary is
 * rejected with a message naming it, and the other profiles of the request still convert
 * (OTLP partial success).
 */
import type { Labels, Profile } from '../../core/model.ts';
import { ProfileTables, SampleAccumulator } from '../decoded-profile.ts';
import { keyOf, labelValueOf, stringAt, type KeyValue } from './anyvalue.ts';
import { OtlpDecodeError } from './errors.ts';
import { DEFAULT_EXCLUDED_ATTRIBUTES, labelNameOf, SERVICE_NAME_KEY, UNKNOWN_SERVICE } from './labels.ts';
import { profileKind } from './profile-type.ts';
import type { OtlpDictionary, OtlpProfile, OtlpProfilesRequest, OtlpSample } from './request.ts';

/** Deeper stacks are refused: no profiler produces them, and each frame costs memory. */
export const MAX_STACK_DEPTH = 16384;

export interface ConvertProfilesOptions {
  /** OTel attribute keys kept out of series and sample labels. Default process.pid, thread.id, cpu.logical_number. */
  excludeAttributes?: readonly string[];
  /** Used as the profile's time when it has none. Unix ns. */
  nowNanos: bigint;
  /** Size of the decoded request: bounds the frames all profiles together may expand to. */
  inputBytes: number;
  /** Most series labels a profile may have (including __name__ and service_name). Default 30. */
  maxLabelNames?: number;
  /** Longest label value. Default 2048. */
  maxLabelValueLength?: number;
}

export interface ConvertedProfile {
  /** Where the profile was in the request, for messages and idempotency keys. */
  resource: number;
  scope: number;
  index: number;
  labels: Labels;
  profile: Profile;
}

export interface ProfilesConversion {
  profiles: ConvertedProfile[];
  /** Profiles refused; the others are still good. */
  rejected: number;
  /** One line per refused profile (the first few). */
  errors: string[];
}

const MAX_ERROR_LINES = 10;

export function convertProfiles(req: OtlpProfilesRequest, opts: ConvertProfilesOptions): ProfilesConversion {
  const ctx = new Converter(req.dictionary, opts);
  const out: ProfilesConversion = { profiles: [], rejected: 0, errors: [] };
  req.resources.forEach((rp, ri) => {
    rp.scopes.forEach((sp, si) => {
      sp.profiles.forEach((p, pi) => {
        const where = `resourceProfiles[${ri}].scopeProfiles[${si}].profiles[${pi}]`;
        try {
          for (const c of ctx.profile(rp.attributes, sp.attributes, p)) {
            out.profiles.push({ resource: ri, scope: si, index: pi, labels: c.labels, profile: c.profile });
          }
        } catch (err) {
          if (!(err instanceof OtlpDecodeError) || err.status !== 400) throw err;
          out.rejected++;
          if (out.errors.length < MAX_ERROR_LINES) out.errors.push(`${where}: ${err.message}`);
        }
      });
    });
  });
  return out;
}

class Converter {
  private readonly strings: string[];
  private readonly excluded: Set<string>;
  /** Frame names of each location, leaf first, once resolved. */
  private readonly locationFrames = new Map<number, string[]>();
  private readonly stackCache = new Map<number, string[]>();
  private frameBudget: number;
  private readonly maxLabelNames: number;
  private readonly maxLabelValueLength: number;

  constructor(
    private readonly dict: OtlpDictionary,
    private readonly opts: ConvertProfilesOptions,
  ) {
    this.strings = dict.strings;
    this.excluded = new Set(opts.excludeAttributes ?? DEFAULT_EXCLUDED_ATTRIBUTES);
    this.frameBudget = Math.max(1 << 20, 16 * opts.inputBytes);
    this.maxLabelNames = opts.maxLabelNames ?? 30;
    this.maxLabelValueLength = opts.maxLabelValueLength ?? 2048;
  }

  profile(resourceAttrs: KeyValue[], scopeAttrs: KeyValue[], p: OtlpProfile): { labels: Labels; profile: Profile }[] {
    if (!p.sampleType) throw new OtlpDecodeError('the profile has no sample_type');
    const st = { type: this.str(p.sampleType.type, 'sample_type'), unit: this.str(p.sampleType.unit, 'sample_type') };
    if (st.type === '') throw new OtlpDecodeError('the profile has an empty sample_type');
    const pt = p.periodType ? { type: this.str(p.periodType.type, 'period_type'), unit: this.str(p.periodType.unit, 'period_type') } : { type: '', unit: '' };
    const kind = profileKind(st, pt, p.period);

    // Series labels: resource attributes first, then scope, then profile; the first of a name wins.
    const base: Labels = {};
    let resourceService = '';
    let exe = '';
    const add = (key: string, value: string): void => {
      if (key === SERVICE_NAME_KEY) {
        if (!resourceService) resourceService = value;
        return;
      }
      if (key === 'process.executable.name' && value && !exe) exe = value;
      if (key === 'process.executable.path' && value && !exe) exe = value.slice(Math.max(value.lastIndexOf('/'), value.lastIndexOf('\\')) + 1);
      if (this.excluded.has(key) || value === '') return;
      const name = labelNameOf(key);
      if (name === '' || name.startsWith('__') || Object.hasOwn(base, name)) return;
      base[name] = value;
    };
    for (const kv of resourceAttrs) add(keyOf(kv, this.strings), labelValueOf(kv.value, this.strings));
    for (const kv of scopeAttrs) add(keyOf(kv, this.strings), labelValueOf(kv.value, this.strings));
    for (const ai of p.attributes) {
      const a = this.attribute(ai);
      add(a.key, labelValueOf(a.value, this.strings));
    }
    const defaultService = resourceService || exe || UNKNOWN_SERVICE;

    const builders = new Map<string, ProfileBuilder>();
    const timeNanos = p.timeNanos > 0n ? p.timeNanos : this.opts.nowNanos;
    for (const s of p.samples) {
      const total = sampleTotal(s) * kind.multiplier;
      const { service, labels } = this.sampleLabels(s.attributes);
      const link = this.link(s.link);
      if (total === 0) continue;
      let b = builders.get(service);
      if (!b) builders.set(service, (b = new ProfileBuilder((n) => this.charge(n))));
      b.add(s.stack, () => this.stackFrames(s.stack), total, labels, link);
    }

    const out: { labels: Labels; profile: Profile }[] = [];
    for (const [service, b] of builders) {
      const labels: Labels = { __name__: kind.name, ...base, service_name: service || defaultService };
      this.checkLabels(labels);
      out.push({
        labels,
        profile: b.build({ sampleTypes: [kind.sampleType], periodType: kind.periodType, period: p.period, timeNanos, durationNanos: p.durationNanos }),
      });
    }
    return out;
  }

  private checkLabels(labels: Labels): void {
    const names = Object.keys(labels);
    if (names.length > this.maxLabelNames) {
      throw new OtlpDecodeError(`the profile would have ${names.length} series labels, over the limit of ${this.maxLabelNames} (${names.slice(0, 40).join(', ')})`);
    }
    for (const n of names) {
      if (labels[n].length > this.maxLabelValueLength) {
        throw new OtlpDecodeError(`the value of label ${n} is ${labels[n].length} characters long, over the limit of ${this.maxLabelValueLength}`);
      }
    }
  }

  private str(i: number, what: string): string {
    return stringAt(this.strings, i, what);
  }

  private attribute(i: number): { key: string; value: KeyValue['value'] } {
    const a = this.dict.attributes[i];
    if (a === undefined || i < 0) throw new OtlpDecodeError(`attribute index ${i} is outside the attribute table (${this.dict.attributes.length} entries)`);
    return { key: this.str(a.key, 'an attribute key'), value: a.value };
  }

  private sampleLabels(indices: number[]): { service: string; labels: Labels | undefined } {
    let service = '';
    let labels: Labels | undefined;
    for (const ai of indices) {
      const a = this.attribute(ai);
      const value = labelValueOf(a.value, this.strings);
      if (value === '') continue;
      if (a.key === SERVICE_NAME_KEY) {
        service = value;
        continue;
      }
      if (this.excluded.has(a.key)) continue;
      const name = labelNameOf(a.key);
      if (name === '' || name.startsWith('__')) continue;
      if (value.length > this.maxLabelValueLength) {
        throw new OtlpDecodeError(`sample attribute ${a.key} is ${value.length} characters long, over the limit of ${this.maxLabelValueLength}`);
      }
      (labels ??= {})[name] = value;
    }
    return { service, labels };
  }

  private link(i: number): { traceId: string; spanId: string } | undefined {
    if (i === 0) return undefined;
    const l = this.dict.links[i];
    if (l === undefined || i < 0) throw new OtlpDecodeError(`link index ${i} is outside the link table (${this.dict.links.length} entries)`);
    return l.spanId || l.traceId ? l : undefined;
  }

  /** Every profile holds its own copy of the stacks it uses; all of them together stay within a budget set by the input size. */
  private charge(frames: number): void {
    this.frameBudget -= frames;
    if (this.frameBudget < 0) throw new OtlpDecodeError('the stacks of this request expand to too many frames for its size', 413);
  }

  private stackFrames(i: number): string[] {
    const known = this.stackCache.get(i);
    if (known) return known;
    const stack = this.dict.stacks[i];
    if (stack === undefined || i < 0) {
      // An empty stack table with stack_index 0 is a frameless sample, as index 0 is the empty stack.
      if (i === 0) return [];
      throw new OtlpDecodeError(`stack index ${i} is outside the stack table (${this.dict.stacks.length} entries)`);
    }
    const frames: string[] = [];
    for (const li of stack) {
      const f = this.location(li);
      for (const name of f) frames.push(name);
      if (frames.length > MAX_STACK_DEPTH) throw new OtlpDecodeError(`stack ${i} is deeper than ${MAX_STACK_DEPTH} frames`);
    }
    this.stackCache.set(i, frames);
    return frames;
  }

  private location(i: number): string[] {
    const cached = this.locationFrames.get(i);
    if (cached) return cached;
    const loc = this.dict.locations[i];
    if (loc === undefined || i < 0) throw new OtlpDecodeError(`location index ${i} is outside the location table (${this.dict.locations.length} entries)`);
    const names: string[] = [];
    for (const fi of loc.functions) {
      const fn = this.dict.functions[fi];
      if (fn === undefined || fi < 0) throw new OtlpDecodeError(`function index ${fi} is outside the function table (${this.dict.functions.length} entries)`);
      const name = this.str(fn.name, 'a function name') || this.str(fn.systemName, 'a function system name');
      names.push(name || this.addressName(loc.mapping, loc.address));
    }
    if (names.length === 0) names.push(this.addressName(loc.mapping, loc.address));
    this.locationFrames.set(i, names);
    return names;
  }

  /** An unsymbolized frame: `<mapping file basename>+0x<address>`, or `0x<address>`, as for pprof. */
  private addressName(mapping: number, address: bigint): string {
    const m = this.dict.mappings[mapping];
    if (m === undefined || mapping < 0) {
      throw new OtlpDecodeError(`mapping index ${mapping} is outside the mapping table (${this.dict.mappings.length} entries)`);
    }
    const hex = `0x${address.toString(16)}`;
    const file = this.str(m.filename, 'a mapping file name');
    if (!file) return hex;
    return `${file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1)}+${hex}`;
  }
}

/** Values when the sample has them; otherwise one per timestamp. */
export function sampleTotal(s: OtlpSample): number {
  if (s.values.length === 0) return s.timestamps;
  let t = 0;
  for (const v of s.values) t += v;
  return t;
}

/** One profile's tables and samples; samples of the same identity (stack, labels, link) are summed. */
class ProfileBuilder {
  private readonly tables = new ProfileTables();
  private readonly samples = new SampleAccumulator();
  /** Dictionary stack index → stack of this profile. */
  private readonly stackIndex = new Map<number, number>();

  constructor(private readonly charge: (frames: number) => void) {}

  add(stackKey: number, framesOf: () => string[], value: number, labels: Labels | undefined, link: { traceId: string; spanId: string } | undefined): void {
    let stack = this.stackIndex.get(stackKey);
    if (stack === undefined) {
      const frames = framesOf();
      this.charge(frames.length);
      stack = this.tables.stackId(frames.map((f) => this.tables.nameId(f)));
      this.stackIndex.set(stackKey, stack);
    }
    this.samples.add(stack, [value], labels ? this.tables.labelSetId(labels) : 0, link?.spanId || undefined, link?.traceId || undefined);
  }

  build(head: Pick<Profile, 'sampleTypes' | 'periodType' | 'period' | 'timeNanos' | 'durationNanos'>): Profile {
    return { ...head, names: this.tables.names, stacks: this.tables.stacks, samples: this.samples.samples, sampleLabelSets: this.tables.labelSets };
  }
}
