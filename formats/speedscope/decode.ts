/**
 * speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json): shared
 * frames, then profiles that are either "sampled" (stacks of frame indices with weights) or
 * "evented" (open and close events at increasing times). Read the way Pyroscope's legacy
 * ingest reads it: profiles with the same name, type, unit and start are merged, and every
 * weight is cut to a whole number of the profile's unit before it is added.
 */
import { FormatError } from '../format-error.ts';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';
export const SPEEDSCOPE_UNITS = ['none', 'nanoseconds', 'microseconds', 'milliseconds', 'seconds', 'bytes'] as const;
export type SpeedscopeUnit = (typeof SPEEDSCOPE_UNITS)[number];

export interface SpeedscopeStack {
  /** Frame names, root first. */
  frames: string[];
  /** Whole units of the profile's unit. */
  value: number;
}

export interface SpeedscopeProfile {
  name: string;
  unit: SpeedscopeUnit;
  stacks: SpeedscopeStack[];
}

export class SpeedscopeError extends FormatError {
  constructor(message: string) {
    super('speedscope', message);
  }
}

/** Stacks deeper than this are refused: no profiler records them, and they cost memory per event. */
const MAX_DEPTH = 16384;

interface RawProfile {
  type: string;
  name: string;
  unit: SpeedscopeUnit;
  startValue: number;
  events: unknown[];
  samples: unknown[];
  weights: unknown[];
}

export function decodeSpeedscope(text: string): SpeedscopeProfile[] {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw new SpeedscopeError(`not JSON: ${(err as Error).message}`);
  }
  const root = object(file, 'the file');
  if (root.$schema !== SPEEDSCOPE_SCHEMA) throw new SpeedscopeError(`unknown $schema ${JSON.stringify(root.$schema ?? null)}; expected ${SPEEDSCOPE_SCHEMA}`);
  const shared = root.shared === undefined ? {} : object(root.shared, 'shared');
  const frames = list(shared.frames ?? [], 'shared.frames').map((f, i) => {
    const name = object(f, `shared.frames[${i}]`).name;
    if (typeof name !== 'string') throw new SpeedscopeError(`shared.frames[${i}].name is not a string`);
    return name;
  });
  const profiles = list(root.profiles ?? [], 'profiles').map((p, i) => rawProfile(p, i));
  const merged = mergeProfiles(profiles);
  return merged.map((p) => ({ name: p.name, unit: p.unit, stacks: p.type === 'evented' ? evented(p, frames) : sampled(p, frames) }));
}

function rawProfile(p: unknown, i: number): RawProfile {
  const o = object(p, `profiles[${i}]`);
  const type = o.type;
  if (type !== 'evented' && type !== 'sampled') throw new SpeedscopeError(`profiles[${i}].type ${JSON.stringify(type ?? null)} is not "evented" or "sampled"`);
  const unit = o.unit;
  if (typeof unit !== 'string' || !(SPEEDSCOPE_UNITS as readonly string[]).includes(unit)) {
    throw new SpeedscopeError(`profiles[${i}].unit ${JSON.stringify(unit ?? null)} is not one of ${SPEEDSCOPE_UNITS.join(', ')}`);
  }
  const startValue = o.startValue ?? 0;
  if (typeof startValue !== 'number') throw new SpeedscopeError(`profiles[${i}].startValue is not a number`);
  return {
    type,
    name: typeof o.name === 'string' ? o.name : '',
    unit: unit as SpeedscopeUnit,
    startValue,
    events: type === 'evented' ? list(o.events ?? [], `profiles[${i}].events`) : [],
    samples: type === 'sampled' ? list(o.samples ?? [], `profiles[${i}].samples`) : [],
    weights: type === 'sampled' ? list(o.weights ?? [], `profiles[${i}].weights`) : [],
  };
}

function mergeProfiles(profiles: RawProfile[]): RawProfile[] {
  const byKey = new Map<string, RawProfile>();
  for (const p of profiles) {
    const key = JSON.stringify([p.name, p.type, p.unit, p.startValue]);
    const have = byKey.get(key);
    if (have) {
      have.events = have.events.concat(p.events);
      have.samples = have.samples.concat(p.samples);
      have.weights = have.weights.concat(p.weights);
    } else {
      byKey.set(key, { ...p });
    }
  }
  return [...byKey.values()].sort((a, b) => a.startValue - b.startValue);
}

function frameName(frames: string[], id: unknown, where: string): string {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= frames.length) {
    throw new SpeedscopeError(`${where}: frame ${JSON.stringify(id)} is not an index into shared.frames (${frames.length} frames)`);
  }
  return frames[id];
}

function sampled(p: RawProfile, frames: string[]): SpeedscopeStack[] {
  if (p.samples.length !== p.weights.length) {
    throw new SpeedscopeError(`profile ${JSON.stringify(p.name)} has ${p.samples.length} samples but ${p.weights.length} weights`);
  }
  const out: SpeedscopeStack[] = [];
  for (let i = 0; i < p.samples.length; i++) {
    const weight = p.weights[i];
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      throw new SpeedscopeError(`profile ${JSON.stringify(p.name)}: weight ${i} is not a non-negative number`);
    }
    const ids = list(p.samples[i], `profile ${JSON.stringify(p.name)} sample ${i}`);
    if (ids.length > MAX_DEPTH) throw new SpeedscopeError(`sample ${i} is deeper than ${MAX_DEPTH} frames`);
    out.push({ frames: ids.map((id) => frameName(frames, id, `sample ${i}`)), value: Math.trunc(weight) });
  }
  return out;
}

function evented(p: RawProfile, frames: string[]): SpeedscopeStack[] {
  const out: SpeedscopeStack[] = [];
  const open: number[] = [];
  const names: string[] = [];
  let last = p.startValue;
  p.events.forEach((e, i) => {
    const ev = object(e, `event ${i}`);
    const at = ev.at;
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new SpeedscopeError(`event ${i}: "at" is not a number`);
    if (at < last) throw new SpeedscopeError(`event ${i} at ${at} comes before the previous one at ${last}`);
    const name = frameName(frames, ev.frame, `event ${i}`);
    const id = ev.frame as number;
    if (ev.type === 'O') {
      if (names.length > 0) out.push({ frames: names.slice(), value: Math.trunc(at - last) });
      if (open.length >= MAX_DEPTH) throw new SpeedscopeError(`event ${i} opens a frame deeper than ${MAX_DEPTH}`);
      open.push(id);
      names.push(name);
    } else if (ev.type === 'C') {
      if (open.length === 0) throw new SpeedscopeError(`event ${i} closes frame ${id}, but no frame is open`);
      if (open[open.length - 1] !== id) throw new SpeedscopeError(`event ${i} closes frame ${id}, which is not the innermost open frame`);
      out.push({ frames: names.slice(), value: Math.trunc(at - last) });
      open.pop();
      names.pop();
    } else {
      throw new SpeedscopeError(`event ${i} has type ${JSON.stringify(ev.type ?? null)}; expected "O" or "C"`);
    }
    last = at;
  });
  return out.filter((s) => s.value > 0);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SpeedscopeError(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new SpeedscopeError(`${what} is not an array`);
  return v;
}
