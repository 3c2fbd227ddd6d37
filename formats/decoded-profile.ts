/**
 * The profile shape the standalone decoders of formats/ produce (JFR, speedscope, trie, tree).
 * It is structurally the normalized Profile of the data model, so a receiver passes it on as
 * is, while the decoders themselves depend on nothing outside formats/.
 */

export type LabelMap = Record<string, string>;

export interface DecodedValueType {
  type: string;
  unit: string;
}

export interface DecodedSample {
  /** Index into `stacks`. */
  stack: number;
  values: number[];
  /** Index into `sampleLabelSets`; 0 is the empty set. */
  labelSet: number;
  /** 16 lowercase hex characters. */
  spanId?: string;
  /** 32 lowercase hex characters. */
  traceId?: string;
}

export interface DecodedProfile {
  sampleTypes: DecodedValueType[];
  periodType: DecodedValueType;
  period: number;
  timeNanos: bigint;
  durationNanos: bigint;
  /** Index 0 is "" and never referenced by a frame. */
  names: string[];
  /** Unique stacks, leaf first, as indices into `names`. */
  stacks: Uint32Array[];
  samples: DecodedSample[];
  sampleLabelSets: LabelMap[];
}

/**
 * Interns frame names, stacks and sample label sets. Several profiles built from one input
 * (the event types of a JFR file) may share one table set; samples are kept per profile.
 */
export class ProfileTables {
  readonly names: string[] = [''];
  readonly stacks: Uint32Array[] = [];
  readonly labelSets: LabelMap[] = [{}];
  private readonly nameIds = new Map<string, number>();
  private readonly stackIds = new Map<string, number>();
  private readonly labelSetIds = new Map<string, number>([['[]', 0]]);

  nameId(name: string): number {
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
    }
    return id;
  }

  /** `frames` are name ids, leaf first. */
  stackId(frames: ArrayLike<number>): number {
    const key = Array.prototype.join.call(frames, ',');
    let id = this.stackIds.get(key);
    if (id === undefined) {
      id = this.stacks.length;
      this.stacks.push(Uint32Array.from(frames));
      this.stackIds.set(key, id);
    }
    return id;
  }

  labelSetId(labels: LabelMap): number {
    const entries = Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]);
    if (entries.length === 0) return 0;
    const key = JSON.stringify(entries);
    let id = this.labelSetIds.get(key);
    if (id === undefined) {
      id = this.labelSets.length;
      const set: LabelMap = {};
      // defineProperty keeps a `__proto__` label an ordinary own property.
      for (const [k, v] of entries) Object.defineProperty(set, k, { value: v, enumerable: true, writable: true, configurable: true });
      this.labelSets.push(set);
      this.labelSetIds.set(key, id);
    }
    return id;
  }
}

/** Sums the values of samples that share a stack, label set and span/trace IDs. */
export class SampleAccumulator {
  readonly samples: DecodedSample[] = [];
  private readonly index = new Map<string, number>();

  add(stack: number, values: readonly number[], labelSet = 0, spanId?: string, traceId?: string): void {
    const key = `${stack}|${labelSet}|${spanId ?? ''}|${traceId ?? ''}`;
    const at = this.index.get(key);
    if (at !== undefined) {
      const have = this.samples[at].values;
      for (let i = 0; i < have.length; i++) have[i] += values[i];
      return;
    }
    this.index.set(key, this.samples.length);
    const sample: DecodedSample = { stack, values: values.slice(), labelSet };
    if (spanId !== undefined) sample.spanId = spanId;
    if (traceId !== undefined) sample.traceId = traceId;
    this.samples.push(sample);
  }
}
