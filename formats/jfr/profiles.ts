/**
 * Turns the events of a JFR recording into profiles, one per kind of sample, the way
 * Pyroscope's JFR converter does: the same event types, profile names (`__name__`), sample
 * and period types, values, frame names, and labels from the LabelsSnapshot.
 */
import { ProfileTables, SampleAccumulator, type DecodedProfile, type DecodedValueType, type LabelMap } from '../decoded-profile.ts';
import type { ChunkContext, EventSink } from './chunks.ts';
import { stableSymbol } from './frame-names.ts';
import type { ClassDef } from './metadata.ts';
import type { LabelsSnapshot } from './labels-snapshot.ts';
import type { JfrValue } from './values.ts';

interface SampleKind {
  /** `__name__` of the series. */
  name: string;
  sampleTypes: DecodedValueType[];
  periodType: DecodedValueType;
  /** CPU and wall samples count ticks of the sampling period. */
  timed: boolean;
}

const vt = (type: string, unit: string): DecodedValueType => ({ type, unit });

export const SAMPLE_KINDS = {
  cpu: { name: 'process_cpu', sampleTypes: [vt('cpu', 'nanoseconds')], periodType: vt('cpu', 'nanoseconds'), timed: true },
  wall: { name: 'wall', sampleTypes: [vt('wall', 'nanoseconds')], periodType: vt('wall', 'nanoseconds'), timed: true },
  allocInNewTlab: {
    name: 'memory',
    sampleTypes: [vt('alloc_in_new_tlab_objects', 'count'), vt('alloc_in_new_tlab_bytes', 'bytes')],
    periodType: vt('space', 'bytes'),
    timed: false,
  },
  allocOutsideTlab: {
    name: 'memory',
    sampleTypes: [vt('alloc_outside_tlab_objects', 'count'), vt('alloc_outside_tlab_bytes', 'bytes')],
    periodType: vt('space', 'bytes'),
    timed: false,
  },
  lock: { name: 'mutex', sampleTypes: [vt('contentions', 'count'), vt('delay', 'nanoseconds')], periodType: vt('mutex', 'count'), timed: false },
  threadPark: { name: 'block', sampleTypes: [vt('contentions', 'count'), vt('delay', 'nanoseconds')], periodType: vt('block', 'count'), timed: false },
  live: { name: 'memory', sampleTypes: [vt('live', 'count')], periodType: vt('objects', 'count'), timed: false },
  allocSample: {
    name: 'memory',
    sampleTypes: [vt('alloc_sample_objects', 'count'), vt('alloc_sample_bytes', 'bytes')],
    periodType: vt('space', 'bytes'),
    timed: false,
  },
  malloc: { name: 'memory', sampleTypes: [vt('malloc_objects', 'count'), vt('malloc_bytes', 'bytes')], periodType: vt('', ''), timed: false },
} satisfies Record<string, SampleKind>;

type KindKey = keyof typeof SAMPLE_KINDS;

export const EVENT_TYPES = {
  executionSample: 'jdk.ExecutionSample',
  wallClockSample: 'profiler.WallClockSample',
  allocInNewTlab: 'jdk.ObjectAllocationInNewTLAB',
  allocOutsideTlab: 'jdk.ObjectAllocationOutsideTLAB',
  allocSample: 'jdk.ObjectAllocationSample',
  monitorEnter: 'jdk.JavaMonitorEnter',
  threadPark: 'jdk.ThreadPark',
  liveObject: 'profiler.LiveObject',
  malloc: 'profiler.Malloc',
  activeSetting: 'jdk.ActiveSetting',
} as const;

export interface JfrProfilesOptions {
  /** Sampling rate of CPU and wall events, Hz; 0 keeps raw sample counts. */
  sampleRate: number;
  timeNanos: bigint;
  durationNanos: bigint;
  labels?: LabelsSnapshot;
}

export interface JfrNamedProfile {
  /** `__name__` of the series (process_cpu, wall, memory, mutex, block). */
  name: string;
  profile: DecodedProfile;
}

/** Span and trace IDs travel per sample, never as labels: these context labels carry them. */
const SPAN_ID_LABELS = new Set(['span_id', 'profile_id']);
const TRACE_ID_LABELS = new Set(['trace_id']);

interface Correlation {
  contextId: number;
  spanId: JfrValue;
  spanName: number;
}
/** Lookups that hold within one chunk: its pools and the field positions its metadata declares. */
interface ChunkCache {
  chunk: ChunkContext;
  stacks: Map<number, number>;
  methodNames: Map<number, number>;
  symbols: Map<number, string>;
  traces: Map<number, JfrValue> | undefined;
  methods: Map<number, JfrValue> | undefined;
  classes: Map<number, JfrValue> | undefined;
  symbolPool: Map<number, JfrValue> | undefined;
  framesField: number;
  methodTypeField: number;
  methodNameField: number;
  classNameField: number;
  symbolStringField: number;
}

const NO_CORRELATION: Correlation = { contextId: 0, spanId: 0, spanName: 0 };

/** Positions of the fields this converter reads in one event class (-1: absent). */
interface EventFields {
  stackTrace: number;
  state: number;
  contextId: number;
  spanId: number;
  spanName: number;
  samples: number;
  tlabSize: number;
  allocationSize: number;
  weight: number;
  duration: number;
  size: number;
  name: number;
  value: number;
}

function correlationOf(v: JfrValue[], at: EventFields): Correlation {
  return { contextId: toNumber(v[at.contextId]), spanId: v[at.spanId] ?? 0, spanName: toNumber(v[at.spanName]) };
}

/** An EventSink that accumulates one profile per sample kind. */
export class ProfileCollector implements EventSink {
  readonly wanted: ReadonlySet<string> = new Set(Object.values(EVENT_TYPES));
  readonly pools: ReadonlySet<string> = new Set(['jdk.types.StackTrace', 'jdk.types.Method', 'java.lang.Class', 'jdk.types.Symbol', 'jdk.types.ThreadState', 'java.lang.String']);
  /** The profiler's `event` setting (cpu, itimer, wall, …), as last seen. */
  event = '';
  private readonly tables = new ProfileTables();
  private readonly kinds = new Map<KindKey, SampleAccumulator>();
  private readonly period: number;
  /**
   * Pyroscope keeps one value buffer across events and sets only the slots an event defines,
   * so a wall-clock sample's count carries over to later single-value events. Reproduced so
   * that totals match what Pyroscope stores.
   */
  private readonly values = [1, 0];
  private cache: ChunkCache | undefined;
  private readonly fieldsByClass = new Map<ClassDef, EventFields>();
  private readonly labelSetCache = new Map<string, { set: number; spanId?: string; traceId?: string }>();

  constructor(private readonly opts: JfrProfilesOptions) {
    this.period = opts.sampleRate > 0 ? Math.trunc(1e9 / opts.sampleRate) : 0;
  }

  onEvent(cls: ClassDef, v: JfrValue[], chunk: ChunkContext): void {
    let at = this.fieldsByClass.get(cls);
    if (at === undefined) {
      const i = (name: string): number => cls.fieldIndex.get(name) ?? -1;
      at = {
        stackTrace: i('stackTrace'), state: i('state'), contextId: i('contextId'), spanId: i('spanId'), spanName: i('spanName'),
        samples: i('samples'), tlabSize: i('tlabSize'), allocationSize: i('allocationSize'), weight: i('weight'), duration: i('duration'),
        size: i('size'), name: i('name'), value: i('value'),
      };
      this.fieldsByClass.set(cls, at);
    }
    const stack = toNumber(v[at.stackTrace]);
    const vals = this.values;
    switch (cls.name) {
      case EVENT_TYPES.executionSample: {
        const state = this.threadState(chunk, toNumber(v[at.state]));
        const c = correlationOf(v, at);
        if (state !== undefined && state !== 'STATE_SLEEPING') this.add('cpu', chunk, stack, c, vals.slice(0, 1));
        if (this.event === 'wall') this.add('wall', chunk, stack, c, vals.slice(0, 1));
        break;
      }
      case EVENT_TYPES.wallClockSample: {
        vals[0] = toNumber(v[at.samples]);
        const c = correlationOf(v, at);
        const state = this.threadState(chunk, toNumber(v[at.state]));
        if (state === 'STATE_RUNNABLE' && this.event === 'wall') this.add('cpu', chunk, stack, c, vals.slice(0, 1));
        this.add('wall', chunk, stack, c, vals.slice(0, 1));
        break;
      }
      case EVENT_TYPES.allocInNewTlab:
        vals[1] = toNumber(v[at.tlabSize]);
        this.add('allocInNewTlab', chunk, stack, correlationOf(v, at), vals.slice(0, 2));
        break;
      case EVENT_TYPES.allocOutsideTlab:
        vals[1] = toNumber(v[at.allocationSize]);
        this.add('allocOutsideTlab', chunk, stack, correlationOf(v, at), vals.slice(0, 2));
        break;
      case EVENT_TYPES.allocSample:
        vals[1] = toNumber(v[at.weight]);
        this.add('allocSample', chunk, stack, NO_CORRELATION, vals.slice(0, 2));
        break;
      case EVENT_TYPES.monitorEnter:
        vals[1] = toNumber(v[at.duration]);
        this.add('lock', chunk, stack, correlationOf(v, at), vals.slice(0, 2));
        break;
      case EVENT_TYPES.threadPark:
        vals[1] = toNumber(v[at.duration]);
        this.add('threadPark', chunk, stack, NO_CORRELATION, vals.slice(0, 2));
        break;
      case EVENT_TYPES.liveObject:
        this.add('live', chunk, stack, NO_CORRELATION, vals.slice(0, 1));
        break;
      case EVENT_TYPES.malloc:
        vals[1] = toNumber(v[at.size]);
        this.add('malloc', chunk, stack, NO_CORRELATION, vals.slice(0, 2));
        break;
      case EVENT_TYPES.activeSetting:
        if (this.resolveString(chunk, v[at.name]) === 'event') this.event = this.resolveString(chunk, v[at.value]) ?? '';
        break;
    }
  }

  /** The profiles with at least one sample, in the order their kinds first appeared. */
  profiles(): JfrNamedProfile[] {
    const out: JfrNamedProfile[] = [];
    for (const [key, acc] of this.kinds) {
      if (acc.samples.length === 0) continue;
      const kind: SampleKind = SAMPLE_KINDS[key];
      out.push({
        name: kind.name,
        profile: {
          sampleTypes: kind.sampleTypes.map((t) => ({ ...t })),
          periodType: { ...kind.periodType },
          period: kind.timed ? this.period : 0,
          timeNanos: this.opts.timeNanos,
          durationNanos: this.opts.durationNanos,
          names: this.tables.names,
          stacks: this.tables.stacks,
          samples: acc.samples,
          sampleLabelSets: this.tables.labelSets,
        },
      });
    }
    return out;
  }

  private add(key: KindKey, chunk: ChunkContext, stackRef: number, c: Correlation, values: number[]): void {
    let acc = this.kinds.get(key);
    if (acc === undefined) this.kinds.set(key, (acc = new SampleAccumulator()));
    const stack = this.stackOf(chunk, stackRef);
    // Pyroscope drops a sample whose stack trace is missing from the constant pool.
    if (stack === undefined) return;
    if (SAMPLE_KINDS[key].timed) for (let i = 0; i < values.length; i++) values[i] *= this.period;
    const { set, spanId, traceId } = this.labelsOf(c);
    acc.add(stack, values, set, spanId, traceId);
  }

  private pool(chunk: ChunkContext, type: string): Map<number, JfrValue> | undefined {
    return chunk.pools.get(type);
  }

  private field(chunk: ChunkContext, type: string, value: JfrValue | undefined, name: string): JfrValue | undefined {
    const cls = chunk.types.byName.get(type);
    const i = cls?.fieldIndex.get(name);
    return i === undefined || !Array.isArray(value) ? undefined : value[i];
  }

  private threadState(chunk: ChunkContext, ref: number): string | undefined {
    const v = this.pool(chunk, 'jdk.types.ThreadState')?.get(ref);
    if (v === undefined) return undefined;
    return this.resolveString(chunk, this.field(chunk, 'jdk.types.ThreadState', v, 'name')) ?? '';
  }

  private resolveString(chunk: ChunkContext, v: JfrValue | undefined): string | undefined {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') {
      const s = this.pool(chunk, 'java.lang.String')?.get(v);
      return typeof s === 'string' ? s : undefined;
    }
    return undefined;
  }

  /** The interned stack (leaf first) of a stack-trace pool entry; undefined when it is missing. */
  private stackOf(chunk: ChunkContext, ref: number): number | undefined {
    const c = this.chunkCache(chunk);
    const cached = c.stacks.get(ref);
    if (cached !== undefined) return cached;
    const trace = c.traces?.get(ref);
    if (trace === undefined || !Array.isArray(trace)) return undefined;
    const frames = trace[c.framesField];
    const ids: number[] = [];
    if (Array.isArray(frames)) {
      for (const frame of frames) {
        // The reader keeps only the method reference of each nested frame.
        const methodRef = toNumber(frame);
        let nameId = c.methodNames.get(methodRef);
        if (nameId === undefined) {
          nameId = this.methodNameId(chunk, c, methodRef);
          c.methodNames.set(methodRef, nameId);
        }
        // As in Pyroscope, a frame whose method or class is unknown is left out of the stack.
        if (nameId >= 0) ids.push(nameId);
      }
    }
    const id = this.tables.stackId(ids);
    c.stacks.set(ref, id);
    return id;
  }

  /** `package/Class.method` as a name id, or -1 when the method or its class is missing. */
  private methodNameId(chunk: ChunkContext, c: ChunkCache, methodRef: number): number {
    const method = c.methods?.get(methodRef);
    if (!Array.isArray(method)) return -1;
    const cls = c.classes?.get(toNumber(method[c.methodTypeField]));
    if (!Array.isArray(cls)) return -1;
    const className = this.symbol(chunk, c, cls[c.classNameField]);
    const methodName = this.symbol(chunk, c, method[c.methodNameField]);
    return this.tables.nameId(`${className}.${methodName}`);
  }

  private symbol(chunk: ChunkContext, c: ChunkCache, ref: JfrValue | undefined): string {
    const key = toNumber(ref);
    let s = c.symbols.get(key);
    if (s === undefined) {
      const v = c.symbolPool?.get(key);
      s = Array.isArray(v) ? stableSymbol(this.resolveString(chunk, v[c.symbolStringField]) ?? '') : '';
      c.symbols.set(key, s);
    }
    return s;
  }

  private chunkCache(chunk: ChunkContext): ChunkCache {
    if (this.cache?.chunk === chunk) return this.cache;
    const idx = (type: string, field: string): number => chunk.types.byName.get(type)?.fieldIndex.get(field) ?? -1;
    this.cache = {
      chunk,
      stacks: new Map(),
      methodNames: new Map(),
      symbols: new Map(),
      traces: chunk.pools.get('jdk.types.StackTrace'),
      methods: chunk.pools.get('jdk.types.Method'),
      classes: chunk.pools.get('java.lang.Class'),
      symbolPool: chunk.pools.get('jdk.types.Symbol'),
      framesField: idx('jdk.types.StackTrace', 'frames'),
      methodTypeField: idx('jdk.types.Method', 'type'),
      methodNameField: idx('jdk.types.Method', 'name'),
      classNameField: idx('java.lang.Class', 'name'),
      symbolStringField: idx('jdk.types.Symbol', 'string'),
    };
    return this.cache;
  }

  private labelsOf(c: Correlation): { set: number; spanId?: string; traceId?: string } {
    const snapshot = this.opts.labels;
    const spanIdHex = hex64(c.spanId);
    const key = `${c.contextId}|${spanIdHex ?? ''}|${c.spanName}`;
    const cached = this.labelSetCache.get(key);
    if (cached) return cached;
    const labels: LabelMap = {};
    let spanId: string | undefined;
    let traceId: string | undefined;
    const ctx = snapshot?.contexts.get(c.contextId);
    if (ctx && snapshot) {
      for (const [k, v] of ctx) {
        const name = snapshot.strings.get(k) ?? '';
        const value = snapshot.strings.get(v) ?? '';
        if (name === '' || value === '') continue;
        if (SPAN_ID_LABELS.has(name)) spanId = hexId(value, 16) ?? spanId;
        else if (TRACE_ID_LABELS.has(name)) traceId = hexId(value, 32) ?? traceId;
        else labels[name] = value;
      }
    }
    if (spanIdHex !== undefined) spanId = spanIdHex;
    if (c.spanName !== 0) {
      const name = snapshot?.strings.get(c.spanName);
      if (name) labels.span_name = name;
    }
    const out = { set: this.tables.labelSetId(labels), spanId, traceId };
    this.labelSetCache.set(key, out);
    return out;
  }
}

function toNumber(v: JfrValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
}

/** A span ID the event carries (a long; 0 means none) as 16 hex digits. */
function hex64(v: JfrValue): string | undefined {
  let big: bigint;
  if (typeof v === 'bigint') big = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
  else return undefined;
  return big === 0n ? undefined : BigInt.asUintN(64, big).toString(16).padStart(16, '0');
}

/** Hex of up to `width` digits, either case, as `width` lowercase digits; anything else is no ID. */
function hexId(v: string, width: number): string | undefined {
  if (v.length === 0 || v.length > width || !/^[0-9a-fA-F]+$/.test(v)) return undefined;
  return v.toLowerCase().padStart(width, '0');
}
