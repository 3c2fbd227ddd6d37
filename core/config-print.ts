/**
 * The resolved config as a document in the file's own layout: every component's block with its
 * defaults filled in, env references expanded, pipelines with their processor order. It is what
 * `hearth validate --print` shows, so a user sees what a process would really run.
 */
import { stringify } from 'yaml';
import type { ResolvedConfig } from './config.ts';

/** Keys whose values are credentials: printed as a placeholder, never as the expanded env value. */
const SECRET_KEY = /password|secret|token|authorization|api[_-]?key|^inline$/i; // `inline`: htpasswd lines
const REDACTED = '[redacted]';

export function resolvedDocument(cfg: ResolvedConfig): Record<string, unknown> {
  const section = (m: Map<string, { config: unknown }>) => Object.fromEntries([...m].map(([id, c]) => [id, redact(c.config)]));
  const pipelines = Object.fromEntries(
    cfg.pipelines.map((p) => [p.id, { receivers: p.receivers, processors: p.processors, exporters: p.exporters }]),
  );
  return {
    receivers: section(cfg.receivers),
    processors: section(cfg.processors),
    exporters: section(cfg.exporters),
    extensions: section(cfg.extensions),
    // Pipelines last, as they are usually written: after what they use.
    service: redact({ ...withoutPipelines(cfg.serviceBlock), pipelines }),
  };
}

export function resolvedYaml(cfg: ResolvedConfig): string {
  return stringify(resolvedDocument(cfg), { lineWidth: 0 });
}

function withoutPipelines(block: Record<string, unknown>): Record<string, unknown> {
  const { pipelines: _, ...rest } = block;
  return rest;
}

function redact(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => redact(x, key));
  if (v !== null && typeof v === 'object') {
    // Header maps carry credentials under any name (Authorization, X-Api-Key, …).
    const all = /headers$/i.test(key);
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, all && x !== '' ? REDACTED : redact(x, k)]),
    );
  }
  if (SECRET_KEY.test(key) && v !== '' && v !== undefined && v !== null) return REDACTED;
  return v;
}
