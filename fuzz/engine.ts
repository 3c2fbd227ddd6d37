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
import { isRetryable, RETRY_ATTEMPTS, send } from './http-send.ts';

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
  /** 429/503 answers sent again after their Retry-After (load shedding, not failures). */
  retryable: number;
  examples: string[];
}

export interface HttpReport extends Report {
  /** 2xx answers. */
  accepted: number;
  /** Inputs still answered 429/503 after every retry: neither a refusal nor a failure. */
  retryGaveUp: number;
  /** Slower than HANG_MS during the run, not yet sent again alone. */
  slow: Array<{ input: Uint8Array; firstMs: number; status: number }>;
  /** Slow inputs past what the re-check holds: reported, neither re-checked nor counted as hangs. */
  slowDropped: number;
  /** Slow inputs sent again alone. */
  rechecked: number;
  /** Unanswered within 30 s during the run (re-checked like the other slow inputs). */
  timedOut: number;
}

export const DECODER_TARGETS = Object.keys(DECODERS);
export const ALL_TARGETS = [...DECODER_TARGETS, ...Object.keys(HTTP_TARGETS)];

export function isHttpTarget(t: string): boolean {
  return t in HTTP_TARGETS;
}

/**
 * Per target, kind of failure and run: enough to replay each kind without filling the repository,
 * and one frequent kind (a 5xx on every other input) leaves room for a rarer one (a hang).
 */
const MAX_KEPT_PER_RUN = 10;
const keptThisRun = new Map<string, number>();
const MAX_EXAMPLES_PER_KIND = 3;

type FailureKind = 'crash' | 'hang' | '5xx';

/** Keeps an input that failed, under its content hash, for the replay test. */
function keep(target: string, input: Uint8Array, kind: FailureKind = 'crash'): string | undefined {
  const n = keptThisRun.get(`${target} ${kind}`) ?? 0;
  if (n >= MAX_KEPT_PER_RUN) return undefined;
  keptThisRun.set(`${target} ${kind}`, n + 1);
  const dir = join(REGRESSIONS, target);
  mkdirSync(dir, { recursive: true });
  const name = createHash('sha1').update(input).digest('hex').slice(0, 16);
  writeFileSync(join(dir, `${name}.bin`), input);
  return `${target}/${name}.bin`;
}

/** Up to MAX_EXAMPLES_PER_KIND lines per kind, so every kind found shows in the report. */
function example(r: Report, kind: FailureKind, line: string): void {
  if (r.examples.filter((e) => e.startsWith(`${kind}: `)).length < MAX_EXAMPLES_PER_KIND) r.examples.push(`${kind}: ${line}`);
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
      const kind = out.hang ? 'hang' : 'crash';
      example(r, kind, out.hang ? `on ${input.length} bytes` : out.error!.split('\n').slice(0, 4).join(' | '));
      if (opts.keepFailures !== false) keep(target, input, kind);
    }
  } finally {
    await worker.close();
  }
  return r;
}

export interface HttpRunOptions {
  keepFailures?: boolean;
  /** Requests in flight at once for this target. */
  concurrency?: number;
  /** Filled while the run goes on, for progress lines. */
  report?: HttpReport;
}

export function newHttpReport(target: string): HttpReport {
  return { ...newReport(target), accepted: 0, retryGaveUp: 0, slow: [], slowDropped: 0, rechecked: 0, timedOut: 0 };
}

/** Bytes of slow inputs held per target until the re-check: bounds memory, not the count of small ones. */
const MAX_SLOW_BYTES = 64 * 1024 * 1024;

/**
 * Sends mutated inputs to one route with `concurrency` requests in flight. An answer slower than
 * HANG_MS is only noted here: under load a sound commit can take that long, so recheckSlow()
 * decides once the run is quiet.
 */
export async function fuzzHttp(target: string, baseUrl: string, count: number, seed = 1, opts: HttpRunOptions = {}): Promise<HttpReport> {
  const t = HTTP_TARGETS[target];
  const seeds = t.seeds();
  const r = opts.report ?? newHttpReport(target);
  const inputs = inputsFor(seeds, count, seed, regressionInputs(target));
  let slowBytes = 0;
  const worker = async () => {
    for (;;) {
      const next = inputs.next();
      if (next.done) return;
      const input = next.value;
      r.inputs++;
      const out = await send(baseUrl + t.path, t.headers, t.wrap ? t.wrap(input) : input);
      r.retryable += out.retried;
      let failed = '';
      let kind: FailureKind = 'crash';
      // No answer in 30 s is judged by the re-check like any slow answer.
      if (out.timedOut) r.timedOut++;
      else if (out.status === 0) {
        r.crashes++;
        failed = `no answer: ${out.text}`;
      } else if (isRetryable(out.status)) r.retryGaveUp++;
      else if (out.status >= 500) {
        r.serverErrors++;
        kind = '5xx';
        failed = `${out.status} ${out.text.slice(0, 300)}`;
      } else if (out.status >= 400) r.refused++;
      else r.accepted++;
      if (out.slowestMs > HANG_MS) {
        if (slowBytes + input.length <= MAX_SLOW_BYTES) {
          slowBytes += input.length;
          r.slow.push({ input, firstMs: Math.round(out.slowestMs), status: out.status });
        } else r.slowDropped++;
      }
      if (failed) {
        // A seed is a corpus file or a generated input, never a regression case of its own.
        const isSeed = seeds.includes(input);
        const kept = opts.keepFailures !== false && !isSeed ? keep(target, input, kind) : undefined;
        example(r, kind, `${failed}${kept ? ` [kept as ${kept}]` : isSeed ? ' [a seed]' : ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return r;
}

/**
 * Sends every input that was slow during the run again, one at a time, and counts a hang only
 * when it is slow again: then it is kept as a regression case. Call it when nothing else is being
 * sent to the server.
 */
export async function recheckSlow(r: HttpReport, baseUrl: string, opts: { keepFailures?: boolean } = {}): Promise<HttpReport> {
  const t = HTTP_TARGETS[r.target];
  const seeds = t.seeds();
  for (const s of r.slow) {
    const out = await send(baseUrl + t.path, t.headers, t.wrap ? t.wrap(s.input) : s.input);
    r.rechecked++;
    if (out.slowestMs <= HANG_MS) continue;
    r.hangs++;
    const isSeed = seeds.some((x) => Buffer.compare(x, s.input) === 0);
    const kept = opts.keepFailures !== false && !isSeed ? keep(r.target, s.input, 'hang') : undefined;
    example(r, 'hang', `${s.firstMs} ms in the run then ${Math.round(out.slowestMs)} ms alone, answered ${out.status}, ${s.input.length} bytes${kept ? ` [kept as ${kept}]` : isSeed ? ' [a seed]' : ''}`);
  }
  r.slow = [];
  return r;
}
function isHttpReport(r: Report): r is HttpReport {
  return 'accepted' in r;
}

export function formatReport(r: Report): string {
  const extra = r.examples.length ? `\n    ${r.examples.join('\n    ')}` : '';
  if (!isHttpReport(r)) return `${r.target}: ${r.inputs} inputs, ${r.refused} refused, ${r.crashes} crashes, ${r.hangs} hangs > ${HANG_MS} ms${extra}`;
  const gaveUp = r.retryGaveUp ? `, ${r.retryGaveUp} still 429/503 after ${RETRY_ATTEMPTS} attempts` : '';
  const dropped = (r.slowDropped ? `, ${r.slowDropped} more slow not re-checked` : '') + (r.timedOut ? `, ${r.timedOut} of them unanswered in 30 s` : '');
  return (
    `${r.target}: ${r.inputs} inputs, ${r.refused} refused (4xx), ${r.accepted} 2xx, ${r.crashes} crashes, ` +
    `${r.hangs} hangs > ${HANG_MS} ms (${r.rechecked} slow re-sent alone${dropped}), ${r.serverErrors} 5xx, ${r.retryable} 429/503 retried${gaveUp}${extra}`
  );
}
