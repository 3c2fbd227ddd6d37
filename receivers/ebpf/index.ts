/**
 * The `ebpf` receiver: whole-node CPU profiles sampled in the kernel by bpftrace, one
 * `process_cpu` profile per process per collection, labelled by process discovery and
 * relabel_configs.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.ts';
import { consumerOf, type Consumers, type CreateSettings, type Receiver, type ReceiverFactory } from '../../core/component.ts';
import { compileRules, type RelabelConfig } from '../../core/relabel/rules.ts';
import { relabelRulesSchema } from '../../core/relabel/schema.ts';
import { EbpfReceiver } from './receiver.ts';

export interface EbpfReceiverConfig {
  /** Samples per second per CPU. */
  sample_rate: number;
  /** How often the kernel's aggregated stacks are read and sent, as a duration: `15s`, `500ms`, `1m`. */
  collect_interval: string;
  /** Keep kernel frames on top of the user stacks. */
  collect_kernel_profile: boolean;
  relabel_configs: RelabelConfig[];
  /** Profile only processes the relabel rules keep; otherwise dropped ones are profiled under their default labels. */
  targets_only: boolean;
}

/** A Prometheus duration's milliseconds, or NaN when it is not one (the schema says why). */
function durationMs(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return Number.NaN;
  }
}

export const schema = z.strictObject({
  // bpftrace's profile probe takes any rate; past 1000 Hz the sampling itself becomes the load.
  sample_rate: z.number().int().min(1).max(1000),
  collect_interval: z
    .string()
    .refine((d) => !Number.isNaN(durationMs(d)), 'must be a duration such as "15s", "500ms" or "1m"')
    .refine((d) => Number.isNaN(durationMs(d)) || durationMs(d) >= 100, 'must be at least 100ms'),
  collect_kernel_profile: z.boolean(),
  relabel_configs: relabelRulesSchema,
  targets_only: z.boolean(),
});

export function defaultConfig(): EbpfReceiverConfig {
  return { sample_rate: 97, collect_interval: '15s', collect_kernel_profile: true, relabel_configs: [], targets_only: true };
}

export const factory: ReceiverFactory<EbpfReceiverConfig> = {
  type: 'ebpf',
  kind: 'receiver',
  stability: 'alpha',
  signals: ['profiles'],
  schema: schema as z.ZodType<EbpfReceiverConfig>,
  defaultConfig,
  create(settings: CreateSettings, config: EbpfReceiverConfig, next: Consumers): Receiver {
    return new EbpfReceiver(
      {
        id: settings.id,
        sampleRate: config.sample_rate,
        collectIntervalMs: durationMs(config.collect_interval),
        collectKernel: config.collect_kernel_profile,
        rules: compileRules(config.relabel_configs),
        targetsOnly: config.targets_only,
      },
      consumerOf(next, 'profiles', settings.id),
      settings.logger,
      settings.metrics,
    );
  },
};

export default factory;
