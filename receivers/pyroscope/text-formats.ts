/**
 * Pyroscope's text upload formats: "folded" (also called groups, `a;b;c 123` per line) and "lines"
 * (one stack per line, each worth 1). The app-name suffix (`myapp.cpu`, `myapp.alloc_space`, …)
 * says what the numbers measure.
 */
import { BadRequestError } from '../../core/errors.ts';
import type { Profile, ValueType } from '../../core/model.ts';
import { ProfileTables, SampleAccumulator } from '../../formats/decoded-profile.ts';

export interface TextProfileType {
  /** The app name without its type suffix; it becomes `service_name`. */
  serviceName: string;
  /** `__name__` of the series. */
  name: string;
  sampleType: ValueType;
  periodType: ValueType;
  period: number;
  /** Every count is multiplied by this (the sampling period, for CPU and wall time). */
  scale: number;
  /** CPU or wall time: counts are sampling ticks, turned into nanoseconds with the sample rate. */
  timed: boolean;
}

interface SuffixType {
  name: string;
  /** Defaults to the suffix itself. */
  type?: string;
  unit: string;
  /** CPU and wall samples are turned into nanoseconds using the sample rate. */
  timed?: boolean;
}

const SAMPLES = 'samples';
const COUNT = 'count';
const BYTES = 'bytes';
const NANOS = 'nanoseconds';

/** Pyroscope's suffix table (its legacy ingest adapter); anything else is rejected. */
const SUFFIXES: Record<string, SuffixType> = {
  cpu: { name: 'process_cpu', type: SAMPLES, unit: COUNT, timed: true },
  itimer: { name: 'process_cpu', type: SAMPLES, unit: COUNT, timed: true },
  wall: { name: 'wall', type: SAMPLES, unit: COUNT, timed: true },
  seconds: { name: 'wall', type: SAMPLES, unit: COUNT, timed: true },
  milliseconds: { name: 'wall', type: SAMPLES, unit: COUNT, timed: true },
  microseconds: { name: 'wall', type: SAMPLES, unit: COUNT, timed: true },
  nanoseconds: { name: 'wall', type: SAMPLES, unit: COUNT, timed: true },
  inuse_objects: { name: 'memory', unit: COUNT },
  inuse_space: { name: 'memory', unit: BYTES },
  alloc_objects: { name: 'memory', unit: COUNT },
  alloc_space: { name: 'memory', unit: BYTES },
  alloc_in_new_tlab_objects: { name: 'memory', unit: COUNT },
  alloc_in_new_tlab_bytes: { name: 'memory', unit: BYTES },
  alloc_outside_tlab_objects: { name: 'memory', unit: COUNT },
  alloc_outside_tlab_bytes: { name: 'memory', unit: BYTES },
  live: { name: 'memory', unit: COUNT },
  bytes: { name: 'memory', type: SAMPLES, unit: BYTES },
  goroutines: { name: 'goroutine', unit: COUNT },
  mutex_count: { name: 'mutex', type: 'contentions', unit: COUNT },
  mutex_duration: { name: 'mutex', type: 'delay', unit: NANOS },
  block_count: { name: 'block', type: 'contentions', unit: COUNT },
  block_duration: { name: 'block', type: 'delay', unit: NANOS },
  lock_count: { name: 'block', type: 'contentions', unit: COUNT },
  lock_duration: { name: 'block', type: 'delay', unit: NANOS },
  exceptions: { name: 'exceptions', type: SAMPLES, unit: COUNT },
};

/**
 * Resolves the profile type of a text upload from its app name and sample rate (Hz; 0 keeps raw
 * sample counts). A name without a dot is a CPU profile.
 */
export function textProfileType(appName: string, sampleRate: number): TextProfileType {
  const dot = appName.lastIndexOf('.');
  const suffix = dot < 0 ? 'cpu' : appName.slice(dot + 1);
  const serviceName = dot < 0 ? appName : appName.slice(0, dot);
  const entry = Object.hasOwn(SUFFIXES, suffix) ? SUFFIXES[suffix] : undefined;
  if (!entry) {
    throw new BadRequestError(
      `unknown profile type ${JSON.stringify(suffix)} in name ${JSON.stringify(appName)}; ` +
        `text formats need a known suffix such as .cpu, .wall, .alloc_space, .inuse_objects, .goroutines, .mutex_count, .block_duration`,
    );
  }
  if (serviceName === '') throw new BadRequestError(`name ${JSON.stringify(appName)} has no application name before the suffix`);
  const noPeriod: ValueType = { type: '', unit: '' };
  if (entry.timed && sampleRate > 0) {
    // Same integer period as Pyroscope, so values line up with what its ingester stores.
    const period = Math.floor(1e9 / sampleRate);
    return {
      serviceName,
      name: entry.name,
      sampleType: { type: entry.name === 'wall' ? 'wall' : 'cpu', unit: NANOS },
      // Pyroscope files wall time under a `cpu` period type too; keeping it keeps the profile type ID.
      periodType: { type: 'cpu', unit: NANOS },
      period,
      scale: period,
      timed: true,
    };
  }
  return {
    serviceName,
    name: entry.name,
    sampleType: { type: entry.type ?? suffix, unit: entry.unit },
    periodType: noPeriod,
    period: 0,
    scale: 1,
    timed: false,
  };
}

export interface TextTiming {
  timeNanos: bigint;
  durationNanos: bigint;
}

/** Parses folded stacks: `root;child;leaf count` per line; blank lines are ignored. */
export function parseFolded(text: string, type: TextProfileType, timing: TextTiming): Profile {
  const b = new ProfileBuilder(type, timing);
  forEachLine(text, (line, lineNo) => {
    const sp = line.lastIndexOf(' ');
    if (sp < 0) throw new BadRequestError(`line ${lineNo}: expected "stack count", found no count`);
    const countText = line.slice(sp + 1);
    if (!/^\d+$/.test(countText)) {
      throw new BadRequestError(`line ${lineNo}: the count ${JSON.stringify(countText.slice(0, 40))} is not a non-negative integer`);
    }
    const count = Number(countText);
    if (!Number.isSafeInteger(count)) throw new BadRequestError(`line ${lineNo}: the count ${countText.slice(0, 40)} is too large`);
    b.add(line.slice(0, sp), count, lineNo);
  });
  return b.build();
}

/** Parses the "lines" format: every line is one stack (`root;child;leaf`) seen once. */
export function parseLines(text: string, type: TextProfileType, timing: TextTiming): Profile {
  const b = new ProfileBuilder(type, timing);
  forEachLine(text, (line, lineNo) => b.add(line, 1, lineNo));
  return b.build();
}

/** A stack with its count, frames root first, from a format that carries stacks already split. */
export interface CountedStack {
  frames: readonly string[];
  count: number;
}

/**
 * Builds a profile from stacks given as frame lists (trie, tree and speedscope uploads). Each
 * count is multiplied by `type.scale` and rounded, since the formats carry whole numbers.
 */
export function profileFromStacks(stacks: Iterable<CountedStack>, type: TextProfileType, timing: TextTiming): Profile {
  const b = new ProfileBuilder(type, timing);
  for (const s of stacks) {
    const frames = s.frames.filter((f) => f !== '');
    if (frames.length === 0 || s.count === 0) continue;
    b.addFrames(frames, s.count);
  }
  return b.build();
}

function forEachLine(text: string, fn: (line: string, lineNo: number) => void): void {
  let start = 0;
  let lineNo = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    let line = text.slice(start, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() !== '') fn(line.trimEnd(), lineNo);
    start = end + 1;
  }
}

class ProfileBuilder {
  private readonly tables = new ProfileTables();
  private readonly samples = new SampleAccumulator();

  constructor(
    private readonly type: TextProfileType,
    private readonly timing: TextTiming,
  ) {}

  add(stackText: string, count: number, lineNo: number): void {
    if (count === 0) return;
    const frames = stackText.split(';').filter((f) => f !== '');
    if (frames.length === 0) throw new BadRequestError(`line ${lineNo}: empty stack`);
    this.addFrames(frames, count);
  }

  /** `frames` root first, non-empty. A repeated stack adds to its sample. */
  addFrames(frames: readonly string[], count: number): void {
    // Text is root first; the model wants the leaf first.
    const ids = new Array<number>(frames.length);
    for (let i = 0; i < frames.length; i++) ids[frames.length - 1 - i] = this.tables.nameId(frames[i]);
    this.samples.add(this.tables.stackId(ids), [Math.round(count * this.type.scale)]);
  }

  build(): Profile {
    return {
      sampleTypes: [this.type.sampleType],
      periodType: this.type.periodType,
      period: this.type.period,
      timeNanos: this.timing.timeNanos,
      durationNanos: this.timing.durationNanos,
      names: this.tables.names,
      stacks: this.tables.stacks,
      samples: this.samples.samples,
      sampleLabelSets: [{}],
    };
  }
}
