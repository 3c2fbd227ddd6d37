/**
 * Worker-thread entry: builds a flame graph from packed stacks so that a large query does not
 * block the event loop. Input and output travel as transferred typed arrays; only the names
 * are cloned.
 */
import { parentPort } from 'node:worker_threads';
import { statusOf } from '../../core/errors.ts';
import { toFlameGraph } from './flamegraph.ts';

export interface FlameGraphJob {
  id: number;
  names: string[];
  /** All stacks' frames back to back, each stack leaf first. */
  frames: Uint32Array;
  /** Stack i is frames[offsets[i] .. offsets[i + 1]). */
  offsets: Uint32Array;
  values: Float64Array;
  maxNodes: number;
}

export type FlameGraphReply =
  | {
      id: number;
      ok: true;
      names: string[];
      /** All levels back to back. */
      levelData: Float64Array;
      levelLengths: Uint32Array;
      total: number;
      maxSelf: number;
    }
  | { id: number; ok: false; status: number; message: string };

export function runJob(job: FlameGraphJob): { reply: FlameGraphReply; transfer: ArrayBuffer[] } {
  try {
    const stacks = new Array<Uint32Array>(job.offsets.length - 1);
    for (let i = 0; i < stacks.length; i++) stacks[i] = job.frames.subarray(job.offsets[i], job.offsets[i + 1]);
    const fg = toFlameGraph({ names: job.names, stacks, values: Array.from(job.values) }, job.maxNodes);
    const levelLengths = Uint32Array.from(fg.levels, (l) => l.length);
    let n = 0;
    for (const len of levelLengths) n += len;
    const levelData = new Float64Array(n);
    let at = 0;
    for (const l of fg.levels) {
      levelData.set(l, at);
      at += l.length;
    }
    return {
      reply: { id: job.id, ok: true, names: fg.names, levelData, levelLengths, total: fg.total, maxSelf: fg.maxSelf },
      transfer: [levelData.buffer, levelLengths.buffer],
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { reply: { id: job.id, ok: false, status: statusOf(err), message }, transfer: [] };
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (job: FlameGraphJob) => {
    const { reply, transfer } = runJob(job);
    port.postMessage(reply, transfer);
  });
}
