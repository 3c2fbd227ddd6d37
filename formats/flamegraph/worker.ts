/**
 * Runs large flame graph builds on a small pool of worker threads, so that one big query does
 * not stall every other request on the event loop. Small inputs stay on the calling thread,
 * where the copy to a worker would cost more than the work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BadRequestError, HearthError } from '../../core/errors.ts';
import { toFlameGraph, type FlameGraph } from './flamegraph.ts';
import type { FlameGraphJob, FlameGraphReply } from './flamegraph-worker.ts';
import type { MergedStacks } from './tree.ts';

export interface OffThreadOptions {
  /** Inputs with fewer stacks than this are built inline. Default 50,000. */
  threshold?: number;
}

export const DEFAULT_OFF_THREAD_THRESHOLD = 50_000;

interface PendingJob {
  job: FlameGraphJob;
  resolve: (fg: FlameGraph) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  current?: PendingJob;
}

/** Two threads at most: each holds a whole tree in memory, and the process has other work. */
const POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));

const pool: PoolWorker[] = [];
const queue: PendingJob[] = [];
let nextId = 1;

export function toFlameGraphOffThread(
  merged: MergedStacks,
  maxNodes: number,
  options: OffThreadOptions = {},
): Promise<FlameGraph> {
  const threshold = options.threshold ?? DEFAULT_OFF_THREAD_THRESHOLD;
  if (merged.stacks.length < threshold) {
    try {
      return Promise.resolve(toFlameGraph(merged, maxNodes));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  let job: FlameGraphJob;
  try {
    job = pack(merged, merged.precut ? 0 : maxNodes);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<FlameGraph>((resolve, reject) => {
    queue.push({ job, resolve, reject });
    dispatch();
  });
}

/** Stops the pool's threads; later calls start new ones. Pending jobs are rejected. */
export async function closeFlameGraphWorkers(): Promise<void> {
  const workers = pool.splice(0);
  for (const p of queue.splice(0)) p.reject(new Error('flame graph workers closed'));
  await Promise.all(
    workers.map((w) => {
      w.current?.reject(new Error('flame graph workers closed'));
      w.current = undefined;
      return w.worker.terminate();
    }),
  );
}

function pack(merged: MergedStacks, maxNodes: number): FlameGraphJob {
  const { stacks, values } = merged;
  if (stacks.length !== values.length) {
    throw new BadRequestError(`merged stacks: ${stacks.length} stacks but ${values.length} values`);
  }
  const offsets = new Uint32Array(stacks.length + 1);
  for (let i = 0; i < stacks.length; i++) offsets[i + 1] = offsets[i] + stacks[i].length;
  const frames = new Uint32Array(offsets[stacks.length]);
  for (let i = 0; i < stacks.length; i++) frames.set(stacks[i], offsets[i]);
  return { id: nextId++, names: merged.names, frames, offsets, values: Float64Array.from(values), maxNodes };
}

function dispatch(): void {
  while (queue.length > 0) {
    let idle = pool.find((w) => w.current === undefined);
    if (!idle && pool.length < POOL_SIZE) idle = spawn();
    if (!idle) return;
    const pending = queue.shift()!;
    idle.current = pending;
    // A busy worker keeps the process alive; an idle one must not.
    idle.worker.ref();
    const { job } = pending;
    idle.worker.postMessage(job, [job.frames.buffer, job.offsets.buffer, job.values.buffer] as ArrayBuffer[]);
  }
}

const WORKER_ENTRY = new URL('./flamegraph-worker.ts', import.meta.url);

/**
 * On Node 20, loaders given by `--import` (how tsx hooks in) do not reach worker threads, so a
 * `.ts` entry fails to load. The bootstrap loads it through tsx's own API instead; without
 * that API (a runtime that strips types itself) the entry is started directly.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi)
  .then(({ tsImport }) => tsImport(workerData.entry, workerData.parent))
  .catch((err) => process.nextTick(() => { throw err; }));
`;

function tsxApi(): string | undefined {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
}

function startWorker(): Worker {
  const api = tsxApi();
  if (api === undefined) return new Worker(WORKER_ENTRY, { execArgv: process.execArgv });
  return new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { tsxApi: api, entry: WORKER_ENTRY.href, parent: import.meta.url },
    execArgv: process.execArgv,
  });
}

function spawn(): PoolWorker {
  const worker = startWorker();
  const entry: PoolWorker = { worker };
  worker.unref();
  worker.on('message', (reply: FlameGraphReply) => {
    const pending = entry.current;
    entry.current = undefined;
    worker.unref();
    if (pending && pending.job.id === reply.id) settle(pending, reply);
    dispatch();
  });
  const fail = (err: Error): void => {
    const i = pool.indexOf(entry);
    if (i >= 0) pool.splice(i, 1);
    entry.current?.reject(err);
    entry.current = undefined;
    dispatch();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`flame graph worker exited with code ${code}`)));
  pool.push(entry);
  return entry;
}

function settle(pending: PendingJob, reply: FlameGraphReply): void {
  if (!reply.ok) {
    // Keep the HTTP meaning of client errors; anything else was a bug in the worker.
    if (reply.status === 400) pending.reject(new BadRequestError(reply.message));
    else if (reply.status !== 500) pending.reject(new HearthError(reply.status, reply.message));
    else pending.reject(new Error(reply.message));
    return;
  }
  const levels: number[][] = [];
  let at = 0;
  for (const len of reply.levelLengths) {
    levels.push(Array.from(reply.levelData.subarray(at, at + len)));
    at += len;
  }
  pending.resolve({ names: reply.names, levels, total: reply.total, maxSelf: reply.maxSelf });
}
