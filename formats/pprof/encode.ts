/**
 * Profile → uncompressed pprof (google/pprof profile.proto).
 *
 * The model keeps only function names, so the output has one Function and one Location
 * per name, both with the name's index as id; a sample's location ids are then its stack
 * as stored (leaf first). Callers gzip the result if their transport wants it.
 */
import { BadRequestError } from '../../core/errors.ts';
import type { Profile } from '../../core/model.ts';
import { ProtoWriter } from '../protobuf/writer.ts';

/**
 * @param sampleTypeIndices which of `p.sampleTypes` to write, in this order; all when omitted.
 */
export function encodePprof(p: Profile, sampleTypeIndices?: number[]): Uint8Array {
  const nTypes = p.sampleTypes.length;
  const types = sampleTypeIndices ?? p.sampleTypes.map((_, i) => i);
  for (const t of types) {
    if (!Number.isInteger(t) || t < 0 || t >= nTypes) {
      throw new BadRequestError(`sample type index ${t} is out of range (the profile has ${nTypes} sample types)`);
    }
  }

  const strings: string[] = [''];
  const stringIdx = new Map<string, number>([['', 0]]);
  const intern = (s: string): number => {
    let i = stringIdx.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      stringIdx.set(s, i);
    }
    return i;
  };

  const w = new ProtoWriter(64 * 1024);

  for (const t of types) valueType(w, 1, intern(p.sampleTypes[t].type), intern(p.sampleTypes[t].unit));

  // Label sets are shared by many samples; intern their strings once.
  const labelPairs: Int32Array[] = p.sampleLabelSets.map((set) => {
    const keys = Object.keys(set);
    const pairs = new Int32Array(keys.length * 2);
    keys.forEach((k, i) => {
      pairs[2 * i] = intern(k);
      pairs[2 * i + 1] = intern(set[k]);
    });
    return pairs;
  });
  const spanKey = intern('span_id');
  const traceKey = intern('trace_id');

  const nNames = p.names.length;
  for (let s = 0; s < p.samples.length; s++) {
    const sample = p.samples[s];
    const stack = p.stacks[sample.stack];
    if (stack === undefined) throw new RangeError(`sample ${s} refers to stack ${sample.stack}, which does not exist`);
    w.begin(2);
    if (stack.length > 0) {
      w.begin(1);
      for (let i = 0; i < stack.length; i++) {
        const f = stack[i];
        if (f === 0 || f >= nNames) throw new RangeError(`stack ${sample.stack} refers to name ${f}, which does not exist`);
        w.uint32(f);
      }
      w.end();
    }
    w.begin(2);
    for (const t of types) w.varint(sample.values[t]);
    w.end();
    const pairs = labelPairs[sample.labelSet];
    if (pairs === undefined) throw new RangeError(`sample ${s} refers to label set ${sample.labelSet}, which does not exist`);
    for (let i = 0; i < pairs.length; i += 2) label(w, pairs[i], pairs[i + 1]);
    if (sample.spanId !== undefined) label(w, spanKey, intern(sample.spanId));
    if (sample.traceId !== undefined) label(w, traceKey, intern(sample.traceId));
    w.end();
  }

  for (let i = 1; i < nNames; i++) {
    // Location{id, line{function_id}}
    w.begin(4).varintField(1, i).begin(4).varintField(1, i).end().end();
  }
  for (let i = 1; i < nNames; i++) {
    // Function{id, name}
    w.begin(5).varintField(1, i).varintField(2, intern(p.names[i])).end();
  }

  const periodType = intern(p.periodType.type);
  const periodUnit = intern(p.periodType.unit);
  for (const s of strings) w.stringField(6, s);
  if (p.timeNanos !== 0n) w.tag(9, 0).bigint(p.timeNanos);
  if (p.durationNanos !== 0n) w.tag(10, 0).bigint(p.durationNanos);
  valueType(w, 11, periodType, periodUnit);
  w.varintField(12, p.period);
  return w.finish().slice();
}

function valueType(w: ProtoWriter, field: number, type: number, unit: number): void {
  w.begin(field).varintField(1, type).varintField(2, unit).end();
}

function label(w: ProtoWriter, key: number, str: number): void {
  w.begin(3).varintField(1, key).varintField(2, str).end();
}
