/**
 * Per-tenant values: the `defaults` of service.limits, overridden for some tenants by an
 * overrides file shaped like Pyroscope's runtime config (`overrides: { tenant: {limit: value} }`).
 * The file is read at start (a bad file stops the start) and again whenever it changes; a bad
 * edit at run time is logged and the previous values stay in force.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { parse } from 'yaml';
import { z } from 'zod';
import { defaultLimits, limitsSchema, overridesSchema, resolveLimits, type LimitsConfig, type LimitsOverrides, type TenantLimits } from './schema.ts';

const overridesFileSchema = z.strictObject({ overrides: z.record(z.string(), overridesSchema.nullable()).nullable().optional() });

export interface LimitsOptions {
  defaults?: Partial<LimitsConfig>;
  /** Path of the overrides file; empty for none. */
  overridesFile?: string;
  /** How often the file is checked for changes. */
  reloadIntervalMs?: number;
  logger?: Logger;
}

export class TenantOverrides {
  readonly defaults: LimitsConfig;
  private overrides: Record<string, LimitsOverrides> = {};
  private readonly resolved = new Map<string, TenantLimits>();
  private readonly base: TenantLimits;
  private stamp = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LimitsOptions = {}) {
    this.defaults = limitsSchema.parse({ ...defaultLimits(), ...opts.defaults });
    this.base = resolveLimits(this.defaults);
    if (opts.overridesFile) {
      const error = this.reload();
      if (error) throw new Error(error);
    }
  }

  /** The limits in force for a tenant now. */
  limitsFor(tenant: string): TenantLimits {
    const own = this.overrides[tenant];
    if (!own) return this.base;
    let l = this.resolved.get(tenant);
    if (!l) this.resolved.set(tenant, (l = resolveLimits({ ...this.defaults, ...own })));
    return l;
  }

  /** Starts watching the overrides file. */
  start(): void {
    if (!this.opts.overridesFile || this.timer) return;
    this.timer = setInterval(() => {
      const error = this.reload();
      if (error) this.opts.logger?.error({ file: this.opts.overridesFile, err: error }, 'overrides file not applied; the previous limits stay in force');
    }, this.opts.reloadIntervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the file again if it changed; returns what is wrong with it, if anything. */
  reload(): string | undefined {
    const file = this.opts.overridesFile!;
    let text: string;
    try {
      const st = statSync(file);
      const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (stamp === this.stamp) return undefined;
      text = readFileSync(file, 'utf8');
      this.stamp = stamp;
    } catch (e) {
      return `${file}: ${(e as Error).message}`;
    }
    let doc: unknown;
    try {
      doc = parse(text) ?? {};
    } catch (e) {
      return `${file}: ${(e as Error).message}`;
    }
    const checked = overridesFileSchema.safeParse(doc);
    if (!checked.success) {
      return `${file}: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
    }
    const next: Record<string, LimitsOverrides> = {};
    for (const [tenant, o] of Object.entries(checked.data.overrides ?? {})) if (o) next[tenant] = o;
    this.overrides = next;
    this.resolved.clear();
    this.opts.logger?.info({ file, tenants: Object.keys(next).length }, 'limits overrides loaded');
    return undefined;
  }
}
