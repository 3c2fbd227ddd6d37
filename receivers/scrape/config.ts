/**
 * The receiver's config: Parca's `scrape_configs` (Prometheus' scrape_config with a
 * `profiling_config`), validated and resolved into plain numbers and lists.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.ts';
import type { RelabelConfig } from '../../core/relabel/rules.ts';
import { relabelRulesSchema } from '../../core/relabel/schema.ts';
import { DEFAULT_MAX_PPROF_BYTES } from '../../formats/pprof/index.ts';
import { BUILTIN_PROFILE_TYPES, type ProfileTypeConfig, type ProfileTypeSpec } from './profile-types.ts';

export const DEFAULT_SCRAPE_INTERVAL_MS = 15_000;
export const DEFAULT_SCRAPE_TIMEOUT_MS = 10_000;
export const DEFAULT_FILE_SD_REFRESH_MS = 5 * 60_000;
export const DEFAULT_BODY_SIZE_LIMIT = 4 * DEFAULT_MAX_PPROF_BYTES;

export interface StaticConfig {
  targets: string[];
  labels: Record<string, string>;
}

export interface FileSdConfig {
  files: string[];
  refresh_interval_ms: number;
}

export interface ResolvedProfileType extends ProfileTypeConfig, ProfileTypeSpec {
  /** The key under pprof_config. */
  name: string;
}

export interface ScrapeConfig {
  job_name: string;
  scrape_interval_ms: number;
  scrape_timeout_ms: number;
  scheme: 'http' | 'https';
  params: Record<string, string[]>;
  body_size_limit: number;
  static_configs: StaticConfig[];
  file_sd_configs: FileSdConfig[];
  relabel_configs: RelabelConfig[];
  path_prefix: string;
  /** Enabled types only, built-ins first. */
  profile_types: ResolvedProfileType[];
}

export interface ScrapeReceiverConfig {
  /** Tenant of every profile this receiver collects. */
  tenant: string;
  scrape_configs: ScrapeConfig[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
// As Prometheus: a glob only in the file name, and a known extension.
const SD_FILE = /^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$/;

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const labelsSchema = z.record(z.string().regex(LABEL_NAME, 'must be a valid label name'), z.string());

const staticConfigSchema = z.strictObject({
  targets: z.array(z.string().min(1)).default([]),
  labels: labelsSchema.default({}),
});

const fileSdSchema = z.strictObject({
  files: z.array(z.string().regex(SD_FILE, 'must be a .json, .yml or .yaml path, with "*" only in the file name')).min(1),
  refresh_interval: duration.default(DEFAULT_FILE_SD_REFRESH_MS),
});

const profileTypeSchema = z.strictObject({
  enabled: z.boolean().optional(),
  path: z.string().startsWith('/', 'must start with "/"').optional(),
  delta: z.boolean().optional(),
  seconds: z.number().int().positive().optional(),
});

const scrapeConfigSchema = z
  .strictObject({
    job_name: z.string().min(1),
    scrape_interval: duration.default(DEFAULT_SCRAPE_INTERVAL_MS),
    scrape_timeout: duration.optional(),
    scheme: z.enum(['http', 'https']).default('http'),
    params: z.record(z.string(), z.array(z.string())).default({}),
    body_size_limit: z.number().int().positive().default(DEFAULT_BODY_SIZE_LIMIT),
    static_configs: z.array(staticConfigSchema).default([]),
    file_sd_configs: z.array(fileSdSchema).default([]),
    relabel_configs: relabelRulesSchema.default([]),
    profiling_config: z
      .strictObject({
        path_prefix: z.string().default(''),
        pprof_config: z.record(z.string().regex(METRIC_NAME, 'must be a valid metric name'), profileTypeSchema).default({}),
      })
      .default({ path_prefix: '', pprof_config: {} }),
  })
  .transform((c, ctx): ScrapeConfig => {
    const interval = c.scrape_interval;
    if (interval < 1000) ctx.addIssue({ code: 'custom', path: ['scrape_interval'], message: 'must be at least 1s' });
    // As Prometheus: an unset timeout is the default capped by the interval; a set one must fit in it.
    const timeout = c.scrape_timeout ?? Math.min(DEFAULT_SCRAPE_TIMEOUT_MS, interval);
    if (timeout <= 0) ctx.addIssue({ code: 'custom', path: ['scrape_timeout'], message: 'must be greater than 0' });
    if (timeout > interval) {
      ctx.addIssue({ code: 'custom', path: ['scrape_timeout'], message: 'must not be greater than scrape_interval' });
    }
    const types: ResolvedProfileType[] = [];
    const names = [...Object.keys(BUILTIN_PROFILE_TYPES), ...Object.keys(c.profiling_config.pprof_config).filter((n) => !(n in BUILTIN_PROFILE_TYPES))];
    for (const name of names) {
      const builtin = BUILTIN_PROFILE_TYPES[name];
      const user = c.profiling_config.pprof_config[name] ?? {};
      if (!builtin && !user.path) {
        ctx.addIssue({ code: 'custom', path: ['profiling_config', 'pprof_config', name, 'path'], message: 'a custom profile type needs a path' });
        continue;
      }
      const t: ResolvedProfileType = {
        name,
        profileName: builtin?.profileName ?? name,
        cumulative: builtin?.cumulative,
        enabled: user.enabled ?? builtin?.enabled ?? true,
        path: user.path ?? builtin!.path,
        delta: user.delta ?? builtin?.delta ?? false,
        seconds: user.seconds ?? 0,
      };
      if (!t.enabled) continue;
      if (t.delta) {
        const seconds = t.seconds || Math.floor(interval / 1000) - 1;
        if (seconds < 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['scrape_interval'],
            message: `must be at least 2s while ${name} profiles over a window (delta: true)`,
          });
        } else if (seconds * 1000 > interval) {
          ctx.addIssue({ code: 'custom', path: ['profiling_config', 'pprof_config', name, 'seconds'], message: 'must not exceed scrape_interval' });
        }
        t.seconds = seconds;
      }
      types.push(t);
    }
    return {
      job_name: c.job_name,
      scrape_interval_ms: interval,
      scrape_timeout_ms: timeout,
      scheme: c.scheme,
      params: c.params,
      body_size_limit: c.body_size_limit,
      static_configs: c.static_configs,
      file_sd_configs: c.file_sd_configs.map((f) => ({ files: f.files, refresh_interval_ms: f.refresh_interval })),
      relabel_configs: c.relabel_configs,
      path_prefix: c.profiling_config.path_prefix,
      profile_types: types,
    };
  });

export const schema = z
  .strictObject({
    tenant: z.string().regex(/^[A-Za-z0-9!\-_.*'()]{1,150}$/, 'must be a valid tenant ID'),
    scrape_configs: z.array(scrapeConfigSchema),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.scrape_configs.forEach((s, i) => {
      if (seen.has(s.job_name)) ctx.addIssue({ code: 'custom', path: ['scrape_configs', i, 'job_name'], message: `duplicate job_name ${JSON.stringify(s.job_name)}` });
      seen.add(s.job_name);
    });
  }) as unknown as z.ZodType<ScrapeReceiverConfig>;

export function defaultConfig(): ScrapeReceiverConfig {
  return { tenant: 'anonymous', scrape_configs: [] };
}
