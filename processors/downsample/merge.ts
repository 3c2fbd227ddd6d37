/**
 * Merges profiles of one series into one: names, stacks and per-sample label sets are
 * re-indexed into shared tables, and samples with the same stack, label set and span/trace
 * IDs have their values summed. Totals are exact: every value of every input lands in exactly
 * one output sample.
 */
import type { Labels, Profile, Sample } from '../../core/model.ts';

export class ProfileMerger {
  private readonly names: string[] = [''];
  private readonly nameIds = new Map<string, number>([['', 0]]);
  private readonly stacks: Uint32Array[] = [];
  private readonly stackIds = new Map<string, number>();
  private readonly labelSets: Labels[] = [{}];
  private readonly labelSetIds = new Map<string, number>([['[]', 0]]);
  private readonly samples: Sample[] = [];
  private readonly sampleIds = new Map<string, number>();
  private first: Profile | undefined;
  private endNanos = 0n;
  /** Values held, for the memory bound: roughly what the merged profile costs. */
  size = 0;

  constructor(private readonly dropSpanIds: boolean) {}

  add(p: Profile): void {
    this.first ??= p;
    const end = p.timeNanos + p.durationNanos;
    if (end > this.endNanos) this.endNanos = end;
    const nameMap = new Uint32Array(p.names.length);
    const stackMap = new Int32Array(p.stacks.length).fill(-1);
    const labelMap = new Int32Array(p.sampleLabelSets.length).fill(-1);
    for (const s of p.samples) {
      let stack = stackMap[s.stack];
      if (stack < 0) stack = stackMap[s.stack] = this.stackOf(p, p.stacks[s.stack], nameMap);
      let labels = labelMap[s.labelSet];
      if (labels < 0) labels = labelMap[s.labelSet] = this.labelSetOf(p.sampleLabelSets[s.labelSet] ?? {});
      const spanId = this.dropSpanIds ? undefined : s.spanId;
      const traceId = this.dropSpanIds ? undefined : s.traceId;
      const key = `${stack}|${labels}|${spanId ?? ''}|${traceId ?? ''}`;
      const at = this.sampleIds.get(key);
      if (at !== undefined) {
        const values = this.samples[at].values;
        for (let i = 0; i < values.length; i++) values[i] += s.values[i] ?? 0;
        continue;
      }
      const merged: Sample = { stack, values: s.values.slice(), labelSet: labels };
      if (spanId) merged.spanId = spanId;
      if (traceId) merged.traceId = traceId;
      this.sampleIds.set(key, this.samples.length);
      this.samples.push(merged);
      this.size += 1 + s.values.length;
    }
  }

  private nameOf(p: Profile, i: number, nameMap: Uint32Array): number {
    if (i === 0 || nameMap[i] !== 0) return nameMap[i];
    const name = p.names[i] ?? '';
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
      this.size += 1;
    }
    nameMap[i] = id;
    return id;
  }

  private stackOf(p: Profile, frames: Uint32Array, nameMap: Uint32Array): number {
    const mapped = new Uint32Array(frames.length);
    for (let i = 0; i < frames.length; i++) mapped[i] = this.nameOf(p, frames[i], nameMap);
    const key = mapped.join(',');
    let id = this.stackIds.get(key);
    if (id === undefined) {
      id = this.stacks.length;
      this.stacks.push(mapped);
      this.stackIds.set(key, id);
      this.size += frames.length;
    }
    return id;
  }

  private labelSetOf(labels: Labels): number {
    const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify(entries);
    let id = this.labelSetIds.get(key);
    if (id === undefined) {
      id = this.labelSets.length;
      this.labelSets.push(Object.fromEntries(entries));
      this.labelSetIds.set(key, id);
      this.size += entries.length;
    }
    return id;
  }

  /** The merged profile, stamped at `startNanos` and lasting until the last input ended. */
  profile(startNanos: bigint): Profile {
    const p = this.first!;
    return {
      sampleTypes: p.sampleTypes,
      periodType: p.periodType,
      period: p.period,
      timeNanos: startNanos,
      durationNanos: this.endNanos > startNanos ? this.endNanos - startNanos : 0n,
      names: this.names,
      stacks: this.stacks,
      samples: this.samples,
      sampleLabelSets: this.labelSets,
    };
  }
}
