/**
 * A pipeline: ordered processors, then every exporter, built on rxjs.
 *
 * Each consumed batch becomes an envelope on a Subject; the processors are chained
 * `mergeMap` stages and the exporters fan out with `forkJoin`. The caller's promise settles
 * when every exporter has the batch durably (or a processor dropped it).
 *
 * Backpressure: at most `maxInFlight` envelopes exist at once. Further `consume` calls wait
 * for a slot, so a slow exporter slows intake; once `maxWaiting` calls are already waiting,
 * more are refused with a 429 and Retry-After, so memory stays bounded however many clients
 * push at once.
 */
import { Subject, catchError, defer, forkJoin, from, mergeMap, of, type Observable } from 'rxjs';
import type { Consumer, Exporter, Processor, Signal, SignalPayload } from './component.ts';
import { TooManyRequestsError } from './errors.ts';
import { Semaphore } from './semaphore.ts';

interface Envelope<T> {
  batch: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface PipelineStats {
  inFlight: number;
  waiting: number;
  consumed: number;
  dropped: number;
  failed: number;
  /** Refused with a 429 because too many batches were already waiting. */
  rejected: number;
}

/** A processor or exporter error fails only its own envelope; the shared stream lives on. */
function failed(env: Envelope<unknown>, e: unknown): Observable<null> {
  env.reject(e);
  return of(null);
}

/** How a pipeline of one signal calls its processors and exporters (the Collector's ConsumeProfiles / ConsumeTraces). */
type Step<T> = (item: T) => Promise<T | null>;
type Sink<T> = (item: T) => Promise<void>;

function stepOf<S extends Signal>(signal: S, p: Processor): Step<SignalPayload[S]> {
  const fn = signal === 'traces' ? p.processTraces?.bind(p) : p.process.bind(p);
  if (!fn) throw new Error(`a processor in a ${signal} pipeline does not handle ${signal}`);
  return fn as Step<SignalPayload[S]>;
}

function sinkOf<S extends Signal>(signal: S, e: Exporter): Sink<SignalPayload[S]> {
  const fn = signal === 'traces' ? e.consumeTraces?.bind(e) : e.consume.bind(e);
  if (!fn) throw new Error(`an exporter in a ${signal} pipeline does not handle ${signal}`);
  return fn as Sink<SignalPayload[S]>;
}

export class Pipeline<S extends Signal = 'profiles'> implements Consumer<S> {
  private readonly input = new Subject<Envelope<SignalPayload[S]>>();
  private readonly slots: Semaphore;
  private readonly subscription;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  readonly stats: PipelineStats = { inFlight: 0, waiting: 0, consumed: 0, dropped: 0, failed: 0, rejected: 0 };

  constructor(
    readonly id: string,
    processors: Processor[],
    exporters: Exporter[],
    readonly maxInFlight = 256,
    readonly maxWaiting = 1024,
    readonly signal: S = 'profiles' as S,
  ) {
    this.slots = new Semaphore(maxInFlight);
    const steps = processors.map((p) => stepOf(signal, p));
    const sinks = exporters.map((e) => sinkOf(signal, e));
    let stream: Observable<Envelope<SignalPayload[S]> | null> = this.input;
    for (const step of steps) {
      stream = stream.pipe(
        mergeMap((env) => {
          if (!env) return of(null);
          return defer(() => step(env.batch)).pipe(
            mergeMap((out) => {
              if (out) return of({ ...env, batch: out });
              this.stats.dropped++;
              env.resolve();
              return of(null);
            }),
            catchError((e) => failed(env, e)),
          );
        }, maxInFlight),
      );
    }
    this.subscription = stream
      .pipe(
        mergeMap((env) => {
          if (!env) return of(undefined);
          return forkJoin(sinks.map((sink) => from(sink(env.batch)))).pipe(
            mergeMap(() => {
              env.resolve();
              return of(undefined);
            }),
            catchError((e) => failed(env, e)),
          );
        }, maxInFlight),
      )
      .subscribe();
  }

  async consume(batch: SignalPayload[S]): Promise<void> {
    if (this.closed) throw new Error(`pipeline ${this.id} is shut down`);
    if (this.slots.waiting >= this.maxWaiting) {
      this.stats.rejected++;
      throw new TooManyRequestsError(`pipeline ${this.id} is saturated (${this.maxInFlight} batches in flight, ${this.maxWaiting} waiting); retry later`);
    }
    this.stats.waiting = this.slots.waiting + 1;
    await this.slots.acquire();
    this.stats.waiting = this.slots.waiting;
    this.stats.inFlight++;
    try {
      await new Promise<void>((resolve, reject) => {
        this.input.next({
          batch,
          resolve,
          reject,
        });
      });
      this.stats.consumed++;
    } catch (e) {
      this.stats.failed++;
      throw e;
    } finally {
      this.stats.inFlight--;
      this.slots.release();
      if (this.stats.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Refuses new batches and waits for those in flight. */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.stats.inFlight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.input.complete();
    this.subscription.unsubscribe();
  }
}

/** A receiver shared by several pipelines feeds all of them; the data is durable when all are done. */
export function fanOut<S extends Signal>(consumers: Consumer<S>[]): Consumer<S> {
  if (consumers.length === 1) return consumers[0];
  return { consume: async (batch) => void (await Promise.all(consumers.map((c) => c.consume(batch)))) };
}
