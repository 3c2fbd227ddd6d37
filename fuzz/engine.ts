/**
 * Runs a target: mutated seeds through a decoder in a worker (each input watched for 2 s), or as
 * request bodies to a running Hearth. Inputs that crashed or hung are kept under regressions/.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DICTIONARY, SEEDS } from './seeds.ts';
import { DECODERS } from './decoders.ts';
import { HTTP_TARGETS } from './http-targets.ts';
import { mutate, Rng } from './mutate.ts';

export const HANG_MS = 2_000;
const REGRESSIONS = fileURLToPath(new URL('./regressions/', import.meta.url));

export interface Report {
  target: string;
  inputs: number;
  refused: number;
  crashes: number;
  hangs: number;
  /** 5xx answers other than a retryable 503. */
  serverErrors: number;
  /** 503s and 429s: load shedding, not failures. */
  retryable: number;
  examples: string[];
}

export const DECODER_TARGETS = Object.keys(DECODERS);
export const ALL_TARGETS = [...DECODER_TARGETS, ...Object.keys(HTTP_TARGETS)];

export function isHttpTarget(t: string): boolean {
  return t in HTTP_TARGETS;
}

/** Per target and run: enough to replay each kind of failure without filling the repository. */
const MAX_KEPT_PER_RUN = 10;
const keptThisRun = new Map<string, number>();

/** Keeps an input that crashed or hung, under its content hash, for the replay test. */
function keep(target: string, input: Uint8Array): void {
  const n = keptThisRun.get(target) ?? 0;
  if (n >= MAX_KEPT_PER_RUN) return;
  keptThisRun.set(target, n + 1);
  const dir = join(REGRESSIONS, target);
  mkdirSync(dir, { recursive: true });
  const name = createHash('sha1').update(input).digest('hex').slice(0, 16);
  writeFileSync(join(dir, `${name}.bin`), input);
}

export function regressionInputs(target: string): Uint8Array[] {
  const dir = join(REGRESSIONS, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.bin'))
    .sort()
    .map((n) => readFileSync(join(dir, n)));
}

function* inputsFor(seeds: Uint8Array[], count: number, seed: number, regressions: Uint8Array[]): Generator<Uint8Array> {
  const rng = new Rng(seed);
  yield* regressions;
  yield* seeds;
  for (let i = 0; i < count; i++) yield mutate(seeds[rng.int(seeds.length)], rng, seeds, DICTIONARY);
}

const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi)
  .then(({ tsImport }) => tsImport(workerData.entry, workerData.parent))
  .catch((err) => process.nextTick(() => { throw err; }));
`;

class DecoderWorker {
  private worker!: Worker;
  constructor(private readonly target: string) {
    this.spawn();
  }
  private spawn(): void {
    // Loaders given by --import do not reach worker threads on Node 20: tsx's API loads the entry.
    this.worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { tsxApi: import.meta.resolve('tsx/esm/api'), entry: new URL('./decode-worker.ts', import.meta.url).href, parent: import.meta.url },
    });
    this.worker.unref();
  }
  run(input: Uint8Array, timeoutMs = HANG_MS): Promise<{ ok: boolean; refused?: boolean; error?: string; hang?: boolean }> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.worker.removeAllListeners('message');
        this.worker.removeAllListeners('error');
        void this.worker.terminate();
        this.spawn();
        void this.run(new Uint8Array(0), 60_000);
        resolve({ ok: false, hang: true });
      }, timeoutMs);
      this.worker.once('message', (m) => {
        clearTimeout(timer);
        this.worker.removeAllListeners('error');
        resolve(m);
      });
      this.worker.once('error', (err: Error) => {
        clearTimeout(timer);
        this.worker.removeAllListeners('message');
        this.spawn();
        resolve({ ok: false, error: `worker died: ${err.message}` });
      });
      this.worker.postMessage({ target: this.target, input });
    });
  }
  close(): Promise<number> {
    return this.worker.terminate();
  }
}

function newReport(target: string): Report {
  return { target, inputs: 0, refused: 0, crashes: 0, hangs: 0, serverErrors: 0, retryable: 0, examples: [] };
}

export async function fuzzDecoder(target: string, count: number, seed = 1, opts: { keepFailures?: boolean } = {}): Promise<Report> {
  const seeds = SEEDS[target]();
  const r = newReport(target);
  const worker = new DecoderWorker(target);
  // The worker's first input waits for tsx to load the decoders; that is not a hang.
  await worker.run(seeds[0], 60_000);
  try {
    for (const input of inputsFor(seeds, count, seed, regressionInputs(target))) {
      r.inputs++;
      const out = await worker.run(input);
      if (out.refused) r.refused++;
      if (out.ok) continue;
      if (out.hang) r.hangs++;
      else r.crashes++;
      if (r.examples.length < 5) r.examples.push(out.hang ? `hang on ${input.length} bytes` : out.error!.split('\n').slice(0, 4).join(' | '));
      if (opts.keepFailures !== false) keep(target, input);
    }
  } finally {
    await worker.close();
  }
  return r;
}

export async function fuzzHttp(target: string, baseUrl: string, count: number, seed = 1, opts: { keepFailures?: boolean; concurrency?: number } = {}): Promise<Report> {
  const t = HTTP_TARGETS[target];
  const seeds = t.seeds();
  const r = newReport(target);
  const inputs = inputsFor(seeds, count, seed, regressionInputs(target));
  const worker = async () => {
    for (;;) {
      const next = inputs.next();
      if (next.done) return;
      const input = next.value;
      r.inputs++;
      const body = t.wrap ? t.wrap(input) : input;
      const started = Date.now();
      let status = 0;
      let text = '';
      try {
        const res = await fetch(baseUrl + t.path, { method: 'POST', headers: t.headers, body: new Blob([body as Uint8Array<ArrayBuffer>]), signal: AbortSignal.timeout(30_000) });
        status = res.status;
        text = await res.text();
      } catch (err) {
        text = (err as Error).message;
      }
      const ms = Date.now() - started;
      let failed = '';
      if (status === 0) failed = `no answer: ${text}`;
      else if (status === 503 || status === 429) r.retryable++;
      else if (status >= 500) failed = `${status} ${text.slice(0, 200)}`;
      else if (status >= 400) r.refused++;
      if (failed) r.serverErrors++;
      if (ms > HANG_MS) {
        r.hangs++;
        failed ||= `answered ${status} after ${ms} ms`;
      }
      if (failed) {
        if (r.examples.length < 5) r.examples.push(failed);
        // A seed is a corpus file or a generated input, never a regression case of its own.
        if (opts.keepFailures !== false && !seeds.includes(input)) keep(target, input);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return r;
}

export function formatReport(r: Report): string {
  const extra = r.examples.length ? `\n    ${r.examples.join('\n    ')}` : '';
  return `${r.target}: ${r.inputs} inputs, ${r.refused} refused, ${r.crashes} crashes, ${r.hangs} hangs > ${HANG_MS} ms, ${r.serverErrors} 5xx, ${r.retryable} 429/503${extra}`;
}
