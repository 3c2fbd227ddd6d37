/**
 * A pipeline: ordered processors, then every exporter.
 *
 * A consumed batch goes through the processors in order, then to every exporter at once. The
 * caller's promise settles when every exporter has the batch durably (or a processor dropped
 * it). A processor that combines batches (`hold`: merging, grouping) hands groups on to the
 * rest of the pipeline, and each member's promise settles with its group.
 *
 * Backpressure: at most `maxInFlight` batches are worked on at once. Further `consume` calls
 * wait for a slot, so a slow exporter slows intake; once `maxWaiting` calls are already
 * waiting, more are refused with a 429 and Retry-After, so memory stays bounded however many
 * clients push at once. A batch a holding processor has taken frees its slot: that processor
 * bounds its own memory.
 */
import type { Consumer, Downstream, Exporter, Processor, Signal, SignalPayload } from './component.ts';
import { TooManyRequestsError } from './errors.ts';
import { Semaphore } from './semaphore.ts';

export interface PipelineStats {
  inFlight: number;
  waiting: number;
  /** Taken by a holding processor, awaiting their group's export. */
  held: number;
  consumed: number;
  dropped: number;
  failed: number;
  /** Refused with a 429 because too many batches were already waiting. */
  rejected: number;
}

/** One processor as a pipeline calls it (the Collector's ConsumeProfiles / ConsumeTraces). */
interface Stage<T> {
  step: (item: T) => Promise<T | null>;
  hold?: (item: T, next: Downstream<T>, accepted: () => void) => Promise<void>;
}

function stageOf<S extends Signal>(signal: S, p: Processor): Stage<SignalPayload[S]> {
  if (signal === 'traces') {
    if (!p.processTraces) throw new Error('a processor in a traces pipeline does not handle traces');
    return { step: p.processTraces.bind(p) as Stage<SignalPayload[S]>['step'] };
  }
  return {
    step: p.process.bind(p) as Stage<SignalPayload[S]>['step'],
    hold: p.hold?.bind(p) as Stage<SignalPayload[S]>['hold'],
  };
}

function sinkOf<S extends Signal>(signal: S, e: Exporter): Downstream<SignalPayload[S]> {
  if (signal === 'traces') {
    const one = e.consumeTraces?.bind(e);
    if (!one) throw new Error('an exporter in a traces pipeline does not handle traces');
    return async (items) => void (await Promise.all(items.map((i) => one(i as SignalPayload['traces']))));
  }
  const many = e.consumeMany?.bind(e);
  if (many) return many as Downstream<SignalPayload[S]>;
  const one = e.consume.bind(e);
  return async (items) => void (await Promise.all(items.map((i) => one(i as SignalPayload['profiles']))));
}

export class Pipeline<S extends Signal = 'profiles'> implements Consumer<S> {
  private readonly slots: Semaphore;
  private readonly stages: Stage<SignalPayload[S]>[];
  private readonly sinks: Downstream<SignalPayload[S]>[];
  private closed = false;
  /** consume() calls not settled yet, held ones included. */
  private open = 0;
  private idleWaiters: Array<() => void> = [];
  readonly stats: PipelineStats = { inFlight: 0, waiting: 0, held: 0, consumed: 0, dropped: 0, failed: 0, rejected: 0 };

  constructor(
    readonly id: string,
    processors: Processor[],
    exporters: Exporter[],
    readonly maxInFlight = 256,
    readonly maxWaiting = 1024,
    readonly signal: S = 'profiles' as S,
  ) {
    this.slots = new Semaphore(maxInFlight);
    this.stages = processors.map((p) => stageOf(signal, p));
    this.sinks = exporters.map((e) => sinkOf(signal, e));
  }

  async consume(batch: SignalPayload[S]): Promise<void> {
    if (this.closed) throw new Error(`pipeline ${this.id} is shut down`);
    if (this.slots.waiting >= this.maxWaiting) {
      this.stats.rejected++;
      throw new TooManyRequestsError(`pipeline ${this.id} is saturated (${this.maxInFlight} batches in flight, ${this.maxWaiting} waiting); retry later`);
    }
    this.open++;
    this.stats.waiting = this.slots.waiting + 1;
    await this.slots.acquire();
    this.stats.waiting = this.slots.waiting;
    this.stats.inFlight++;
    let holding = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.stats.inFlight--;
      this.slots.release();
    };
    const accepted = () => {
      if (released) return;
      holding = true;
      this.stats.held++;
      release();
    };
    try {
      await this.run(0, [batch], accepted);
      this.stats.consumed++;
    } catch (e) {
      this.stats.failed++;
      throw e;
    } finally {
      if (holding) this.stats.held--;
      release();
      if (--this.open === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Hands `items` to processor `i` onwards; settles when all of them are durable or dropped. */
  private async run(i: number, items: SignalPayload[S][], accepted: () => void): Promise<void> {
    if (i === this.stages.length) {
      await Promise.all(this.sinks.map((sink) => sink(items)));
      return;
    }
    const stage = this.stages[i];
    // What a holding processor hands on was accepted already: its slot is long free.
    const next: Downstream<SignalPayload[S]> = (out) => this.run(i + 1, out, () => {});
    await Promise.all(
      items.map(async (item) => {
        if (stage.hold) return stage.hold(item, next, accepted);
        const out = await stage.step(item);
        if (out) return this.run(i + 1, [out], accepted);
        this.stats.dropped++;
      }),
    );
  }

  /** Refuses new batches and waits for those in flight (held ones included). */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.open > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }
}

/** A receiver shared by several pipelines feeds all of them; the data is durable when all are done. */
export function fanOut<S extends Signal>(consumers: Consumer<S>[]): Consumer<S> {
  if (consumers.length === 1) return consumers[0];
  return { consume: async (batch) => void (await Promise.all(consumers.map((c) => c.consume(batch)))) };
}
