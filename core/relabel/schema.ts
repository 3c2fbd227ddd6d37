/**
 * The config schema of a list of Prometheus relabel_config rules, shared by every component that
 * takes rules (the relabel processor's `rules`, the scrape and eBPF receivers' `relabel_configs`).
 */
import { z } from 'zod';
import { compileRules, type RelabelConfig } from './rules.ts';

export const relabelRuleSchema = z.strictObject({
  source_labels: z.array(z.string()).optional(),
  separator: z.string().optional(),
  regex: z.string().optional(),
  modulus: z.number().int().nonnegative().optional(),
  target_label: z.string().optional(),
  replacement: z.string().optional(),
  action: z.string().optional(),
});

/** A list of rules whose semantic checks (actions, regexes, field combinations) run at validation time. */
export const relabelRulesSchema = z.array(relabelRuleSchema).superRefine((rules, ctx) => {
  try {
    compileRules(rules as RelabelConfig[]);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
});
