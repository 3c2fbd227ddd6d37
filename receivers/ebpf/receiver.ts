/**
 * The receiver: checks its privileges, runs the sampling program under a supervisor, and turns
 * each printed map into one profile per process, labelled through discovery and relabel_configs.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Consumer, Receiver } from '../../core/component.ts';
import { HearthError } from '../../core/errors.ts';
import { DEFAULT_TENANT, type Batch, type Labels } from '../../core/model.ts';
import { applyRules, type CompiledRule } from '../../core/relabel/rules.ts';
import { parseOutputLine, type StackCount } from './bpftrace-output.ts';
import { findOnPath, preflightProblems, samplingProgram } from './bpftrace-program.ts';
import { metaLabels, ProcessDiscovery, type ProcessInfo } from './discovery.ts';
import { buildProfile, ebpfBatch, PROFILE_NAME, samplingPeriod, type Window } from './profile.ts';
import { Supervisor } from './supervisor.ts';
import { baseName, Symbolizer } from './symbols.ts';

export interface EbpfSettings {
  id: string;
  sampleRate: number;
  collectIntervalMs: number;
  collectKernel: boolean;
  rules: CompiledRule[];
  targetsOnly: boolean;
}

/** bpftrace's default of 4096 map entries is too few for a busy node over 15 s; entries past the limit are lost. */
const MAP_KEYS_MAX = 65536;
/** How long bpftrace may take to compile and attach its probes. */
const ATTACH_TIMEOUT_MS = 60_000;
const DELIVERY_ATTEMPTS = 4;
/** Printed by bpftrace on kernels that account BPF memory to cgroups, where the limit no longer matters. */
const QUIET_STDERR = /RLIMIT_MEMLOCK|^Attaching \d+ probes|failed to look up stack id/;

export class EbpfReceiver implements Receiver {
  private readonly discovery = new ProcessDiscovery();
  private readonly symbolizer = new Symbolizer();
  private readonly period: number;
  private supervisor: Supervisor | undefined;
  private windowStart = nowNanos();
  /** Deliveries run one collection after another, so a slow pipeline delays but never reorders. */
  private delivering: Promise<void> = Promise.resolve();
  private attachedOnce: { resolve(): void; reject(e: Error): void } | undefined;
  private readonly samples: Count;
  private readonly dropped: Count;
  private readonly restarts: Count;

  constructor(
    private readonly s: EbpfSettings,
    private readonly next: Consumer<'profiles'>,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.period = samplingPeriod(s.sampleRate);
    this.samples = counter(metrics, 'hearth_receiver_ebpf_samples_total', 'CPU samples read from bpftrace, kept or not.').labels({ receiver: s.id });
    this.dropped = counter(metrics, 'hearth_receiver_ebpf_profiles_dropped_total', 'Process profiles the pipeline refused after every retry.').labels({ receiver: s.id });
    this.restarts = counter(metrics, 'hearth_receiver_ebpf_bpftrace_restarts_total', 'Times bpftrace died and was started again.').labels({ receiver: s.id });
  }

  /** The running bpftrace, for measuring what sampling costs. */
  get bpftracePid(): number | undefined {
    return this.supervisor?.pid;
  }

  async start(): Promise<void> {
    const bpftrace = findOnPath('bpftrace');
    const euid = process.geteuid?.() ?? -1;
    const problems = preflightProblems(euid, bpftrace);
    if (problems.length) throw new Error(`receiver ${this.s.id} (ebpf) cannot start: ${problems.join('; ')}`);

    const program = samplingProgram({ sampleRate: this.s.sampleRate, collectIntervalMs: this.s.collectIntervalMs, collectKernel: this.s.collectKernel });
    const attached = new Promise<void>((resolve, reject) => (this.attachedOnce = { resolve, reject }));
    this.supervisor = new Supervisor({
      command: bpftrace!,
      // Line buffering: each printed map must reach us when it is printed, not when a pipe buffer fills.
      args: ['-B', 'line', '-f', 'json', '-e', program],
      env: {
        ...process.env,
        BPFTRACE_MAP_KEYS_MAX: String(MAP_KEYS_MAX),
        // User frames are named in symbols.ts, once per file rather than once per stack printed.
        BPFTRACE_NO_USER_SYMBOLS: '1',
      },
      backoffMs: 1_000,
      maxBackoffMs: 60_000,
      healthyAfterMs: 60_000,
      stopGraceMs: 5_000,
      quietStderr: QUIET_STDERR,
      logger: this.logger,
      onLine: (line) => this.onLine(line),
      onExit: (code, signal, stderr, expected) => {
        if (expected) return;
        this.restarts.inc();
        // bpftrace that never attached cannot sample here: say why at start, rather than retry forever.
        if (this.attachedOnce) {
          this.attachedOnce.reject(new Error(`receiver ${this.s.id} (ebpf) cannot start: bpftrace exited (code ${code}, signal ${signal}) before attaching its probes: ${stderr || 'no output'}`));
          this.attachedOnce = undefined;
          void this.supervisor?.stop();
          return;
        }
        this.logger.error({ receiver: this.s.id, code, signal, stderr }, 'bpftrace died');
      },
    });
    this.supervisor.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`receiver ${this.s.id} (ebpf) cannot start: bpftrace did not attach its probes within ${ATTACH_TIMEOUT_MS / 1000} s`)), ATTACH_TIMEOUT_MS);
    });
    try {
      await Promise.race([attached, timeout]);
    } catch (e) {
      await this.supervisor.stop();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async shutdown(): Promise<void> {
    // bpftrace prints the map once more as it exits; that window is delivered before we return.
    await this.supervisor?.stop();
    await this.delivering;
  }

  private onLine(line: string): void {
    const event = parseOutputLine(line);
    switch (event.kind) {
      case 'attached':
        this.windowStart = nowNanos();
        this.logger.info({ receiver: this.s.id, probes: event.probes, bpftracePid: this.supervisor?.pid, sampleRate: this.s.sampleRate }, 'bpftrace attached');
        this.attachedOnce?.resolve();
        this.attachedOnce = undefined;
        return;
      case 'stacks': {
        const window = { startNanos: this.windowStart, endNanos: nowNanos() };
        this.windowStart = window.endNanos;
        if (event.malformed) this.logger.warn({ receiver: this.s.id, entries: event.malformed }, 'bpftrace map entries not understood');
        const batches = this.collect(event.stacks, window);
        this.delivering = this.delivering.then(() => this.deliver(batches));
        return;
      }
      case 'error':
        this.logger.warn({ receiver: this.s.id }, event.message);
        return;
      default:
        return;
    }
  }

  /** One batch per process kept by the rules. */
  collect(stacks: StackCount[], window: Window): Batch[] {
    const byPid = new Map<number, StackCount[]>();
    let total = 0;
    for (const s of stacks) {
      total += s.count;
      let list = byPid.get(s.pid);
      if (!list) byPid.set(s.pid, (list = []));
      list.push(s);
    }
    this.samples.inc(total);
    const batches: Batch[] = [];
    for (const [pid, list] of byPid) {
      const info = this.discovery.lookup(pid, list[0].comm);
      const labels = this.targetLabels(info);
      if (!labels) continue;
      const profile = buildProfile(list, this.symbolizer.namer(pid), this.period, window, this.s.collectKernel);
      batches.push(ebpfBatch(DEFAULT_TENANT, labels, profile, pid));
    }
    this.discovery.endRound();
    this.symbolizer.endRound();
    return batches;
  }

  /** The series labels of a process, or null when it is not to be profiled. */
  private targetLabels(info: ProcessInfo): Labels | null {
    const meta = metaLabels(info);
    let labels = this.s.rules.length ? applyRules(meta, this.s.rules) : meta;
    if (labels === null) {
      if (this.s.targetsOnly) return null;
      labels = meta;
    }
    const out: Labels = {};
    for (const [k, v] of Object.entries(labels)) {
      if (!k.startsWith('__') && v !== '') out[k] = v;
    }
    out.__name__ = PROFILE_NAME;
    out.service_name ||= (info.exe ? baseName(info.exe) : '') || info.comm || 'unknown';
    return out;
  }

  private async deliver(batches: Batch[]): Promise<void> {
    await Promise.all(batches.map((b) => this.deliverOne(b)));
  }

  /** A collection cannot be asked for again, so retryable refusals are retried a few times before the profile is dropped. */
  private async deliverOne(batch: Batch): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.next.consume(batch);
        return;
      } catch (err) {
        const retryable = !(err instanceof HearthError) || err.status === 429 || err.status >= 500;
        if (!retryable || attempt >= DELIVERY_ATTEMPTS) {
          this.dropped.inc();
          this.logger.error({ receiver: this.s.id, service: batch.labels.service_name, err: (err as Error).message }, 'dropping an eBPF profile the pipeline refused');
          return;
        }
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }
}

interface Count {
  inc(by?: number): void;
}

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function counter(registry: Registry, name: string, help: string): Counter<'receiver'> {
  // Several ebpf receivers share one registry, and a reload may create the same one again.
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'receiver'>;
  return new Counter({ name, help, labelNames: ['receiver'], registers: [registry] });
}
