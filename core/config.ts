/**
 * Loads a pipelines file written after OpenTelemetry Collector conventions and checks all of
 * it before anything starts. Every problem is reported as `file:line: dotted.key: what`, and
 * all of them are gathered into one ConfigError so a user fixes a file in one pass rather than
 * one error per restart.
 */
import { readFileSync } from 'node:fs';
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parse as parseYaml,
  parseDocument,
  Scalar,
  type Document,
} from 'yaml';
import { z } from 'zod';
import {
  SIGNALS,
  type ExporterFactory,
  type ExtensionFactory,
  type Factory,
  type Kind,
  type ProcessorFactory,
  type ReceiverFactory,
  type ResourceClaim,
  type Signal,
} from './component.ts';
import { authenticatorIds, findAuthReferences, serviceAuthSchema } from './auth.ts';
import type { LogFormatSetting } from './logging.ts';
import type { FactoryOf, Registry } from './registry.ts';
import { defaultLimits, limitsSchema, type LimitsSettings } from './limits/index.ts';
import { resolveTracesTelemetry, TRACES_TELEMETRY_DEFAULTS, tracesTelemetrySchema, type TracesTelemetryConfig } from './telemetry-config.ts';

export type Env = Record<string, string | undefined>;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ResolvedComponent<F extends Factory = Factory> {
  /** As written in the file, `type[/name]`. */
  id: string;
  type: string;
  factory: F;
  /** The factory's defaults with the user's block merged over them, as the schema returned it. */
  config: unknown;
}

export interface ResolvedPipeline {
  /** As written in the file, `signal[/name]`. */
  id: string;
  signal: Signal;
  receivers: string[];
  /** In the order they run. */
  processors: string[];
  exporters: string[];
}

export interface ServiceConfig {
  extensions: string[];
  http: { endpoint: string; maxBodyBytes: number; auth?: { authenticators: string[]; metricsAuth: boolean } };
  logLevel: LogLevel;
  /** `auto`: pretty on a terminal, JSON otherwise. */
  logFormat: LogFormatSetting;
  /** service.telemetry.traces; absent when self-tracing is off. */
  traces?: TracesTelemetryConfig;
  /** service.limits: per-tenant limits (docs/limits.md). */
  limits: LimitsSettings;
}

export interface ResolvedConfig {
  file: string;
  receivers: Map<string, ResolvedComponent<ReceiverFactory>>;
  processors: Map<string, ResolvedComponent<ProcessorFactory>>;
  exporters: Map<string, ResolvedComponent<ExporterFactory>>;
  extensions: Map<string, ResolvedComponent<ExtensionFactory>>;
  pipelines: ResolvedPipeline[];
  service: ServiceConfig;
  /** Each process-wide resource that components declare with one agreed value (see ResourceClaim). */
  resources: Map<string, unknown>;
  /** The service block as validated, defaults included, for printing the resolved config. */
  serviceBlock: Record<string, unknown>;
}

export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('\n'));
    this.name = 'ConfigError';
  }
}

const SECTIONS = [
  ['receivers', 'receiver'],
  ['processors', 'processor'],
  ['exporters', 'exporter'],
  ['extensions', 'extension'],
] as const;
type Section = (typeof SECTIONS)[number][0];
const TOP_LEVEL_KEYS = [...SECTIONS.map(([s]) => s), 'service'];

const TYPE_PATTERN = /^[a-zA-Z][a-zA-Z0-9_]*$/;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const SERVICE_DEFAULTS = {
  pipelines: {},
  extensions: [],
  // One request, before decompression; push.v1 also stops inflating at it. Far above any profile
  // (4 MiB by default), far below what one request could be allowed to cost in memory.
  http: { endpoint: '0.0.0.0:4040', max_body_bytes: 16 * 1024 * 1024 },
  telemetry: { logs: { level: 'info', format: 'auto' }, traces: TRACES_TELEMETRY_DEFAULTS },
  limits: { defaults: defaultLimits(), overrides_file: '' },
};

const serviceSchema = z
  .object({
    // Pipelines are checked one by one below so that one broken pipeline does not hide the others.
    pipelines: z.record(z.string(), z.unknown()),
    extensions: z.array(z.string()),
    http: z
      .object({
        endpoint: z.string().min(1),
        max_body_bytes: z.number().int().positive(),
        auth: serviceAuthSchema.optional(),
      })
      .strict(),
    telemetry: z
      .object({
        logs: z.object({ level: z.enum(LOG_LEVELS), format: z.enum(['auto', 'json', 'pretty']) }).strict(),
        traces: tracesTelemetrySchema,
      })
      .strict(),
    limits: z.strictObject({ defaults: limitsSchema, overrides_file: z.string() }),
  })
  .strict();

const PIPELINE_DEFAULTS = { processors: [] };
const pipelineSchema = z
  .object({
    receivers: z.array(z.string()),
    processors: z.array(z.string()),
    exporters: z.array(z.string()),
  })
  .strict();

type Path = (string | number)[];

/** Reads and checks a config file; throws ConfigError listing every problem found. */
export function loadConfig(file: string, registry: Registry, env: Env = process.env): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read the config file: ${(err as Error).message}`]);
  }
  return parseConfig(text, file, registry, env);
}

export function parseConfig(text: string, file: string, registry: Registry, env: Env = process.env): ResolvedConfig {
  return new ConfigParser(text, file, registry, env).run();
}

interface Problem {
  line: number;
  text: string;
}

/** What the service section needs to know about one entry of a component section. */
interface Entry {
  line: number;
  /** Absent when the ID or type is bad: that is already reported, so later checks skip it. */
  factory?: Factory;
  /** The component's block, for locating the keys its resource claims name. */
  node?: unknown;
}

interface SectionResult {
  entries: Map<string, Entry>;
  resolved: Map<string, ResolvedComponent>;
}

class ConfigParser {
  private readonly lines = new LineCounter();
  private readonly problems: Problem[] = [];
  /** Dotted paths whose env reference failed: a schema complaint about the leftover `${...}` text would only repeat it. */
  private readonly envFailed = new Set<string>();
  private doc!: Document;

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly registry: Registry,
    private readonly env: Env,
  ) {}

  run(): ResolvedConfig {
    // Duplicate keys are found below instead of by the parser, which places them less precisely
    // (at the end of the previous entry when that entry is empty) and cannot name the key path.
    this.doc = parseDocument(this.text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: false });
    if (this.doc.errors.length > 0) {
      // The tree is unreliable after a syntax error, so nothing else is worth checking.
      for (const err of this.doc.errors) this.add(this.lineAt(err.pos[0]), [], err.message);
      this.fail();
    }
    this.findDuplicateKeys(this.doc.contents, []);
    if (this.problems.length > 0) this.fail();

    const root = this.deref(this.doc.contents);
    const topPairs = new Map<string, { keyLine: number; value: unknown }>();
    if (root !== null && !(isScalar(root) && root.value === null)) {
      if (!isMap(root)) {
        this.add(this.lineOf(root) ?? 1, [], `the top level must be a mapping with ${TOP_LEVEL_KEYS.join(', ')}`);
        this.fail();
      }
      this.expandEnv(root, []);
      for (const pair of root.items) {
        const key = this.keyName(pair.key);
        const keyLine = this.lineOf(pair.key) ?? 1;
        if (key === undefined) {
          this.add(keyLine, [], 'top-level keys must be plain strings');
        } else if (!TOP_LEVEL_KEYS.includes(key)) {
          this.add(keyLine, [key], `unknown key "${key}" (allowed at the top level: ${TOP_LEVEL_KEYS.join(', ')})`);
        } else {
          topPairs.set(key, { keyLine, value: pair.value });
        }
      }
    }

    const sections = {} as Record<Section, SectionResult>;
    for (const [section, kind] of SECTIONS) {
      sections[section] = this.resolveSection(section, kind, topPairs.get(section));
    }
    const service = this.resolveService(topPairs.get('service'), sections);
    const resources = this.checkClaims(sections);
    if (service) this.checkAuthenticators(sections, service.block, topPairs.get('service')!);

    if (this.problems.length > 0) this.fail();
    return {
      file: this.file,
      receivers: sections.receivers.resolved as Map<string, ResolvedComponent<ReceiverFactory>>,
      processors: sections.processors.resolved as Map<string, ResolvedComponent<ProcessorFactory>>,
      exporters: sections.exporters.resolved as Map<string, ResolvedComponent<ExporterFactory>>,
      extensions: sections.extensions.resolved as Map<string, ResolvedComponent<ExtensionFactory>>,
      pipelines: service!.pipelines,
      service: service!.service,
      resources,
      serviceBlock: service!.block,
    };
  }

  /**
   * Compares the process-wide resources that components claim. Two different values of an
   * exclusive resource are an error naming both keys; a component that only uses a resource
   * needs the declaring components to agree on one value, which it then receives.
   */
  private checkClaims(sections: Record<Section, SectionResult>): Map<string, unknown> {
    interface At {
      claim: ResourceClaim;
      path: Path;
      line: number;
      json: string;
    }
    const byResource = new Map<string, { declared: At[]; users: At[] }>();
    for (const [section] of SECTIONS) {
      for (const [id, resolved] of sections[section].resolved) {
        const factory = resolved.factory as Factory;
        const entry = sections[section].entries.get(id)!;
        for (const claim of factory.claims?.(resolved.config as never) ?? []) {
          const keyPath: Path = claim.key === '' ? [] : claim.key.split('.');
          const at: At = {
            claim,
            path: [section, id, ...keyPath],
            line: this.locate(entry.node, keyPath, entry.line),
            json: JSON.stringify(claim.value) ?? '',
          };
          let group = byResource.get(claim.resource);
          if (!group) byResource.set(claim.resource, (group = { declared: [], users: [] }));
          (claim.value === undefined ? group.users : group.declared).push(at);
        }
      }
    }
    const where = (at: At) => `${at.path.join('.')} (${this.file}:${at.line})`;
    const resources = new Map<string, unknown>();
    for (const [resource, { declared, users }] of byResource) {
      const first = declared[0];
      const other = declared.find((at) => at.json !== first.json);
      if (other && (first.claim.exclusive || other.claim.exclusive)) {
        this.add(
          other.line,
          other.path,
          `${describeValue(other.claim.value)} is another ${resource} than ${describeValue(first.claim.value)} set by ${where(first)}; one process holds only one ${resource}, so declare it once (or make them equal)`,
        );
      } else if (other) {
        for (const user of users) {
          this.add(
            user.line,
            user.path,
            `uses the process's ${resource}, but ${where(first)} and ${where(other)} declare different ones; declare it here`,
          );
        }
      } else if (first) {
        resources.set(resource, first.claim.value);
      }
    }
    return resources;
  }

  /**
   * Every `auth: { authenticator }` block, in any component or in the service, must name extensions
   * that are declared, listed in service.extensions (so they run) and are authenticators.
   */
  private checkAuthenticators(sections: Record<Section, SectionResult>, serviceBlock: unknown, service: { keyLine: number; value: unknown }): void {
    const registry = this.registry;
    const kinds = registry.types('extension').filter((t) => registry.get('extension', t)?.authenticator);
    const listed = new Set((serviceBlock as { extensions?: string[] }).extensions ?? []);
    const holders: { path: Path; node: unknown; line: number; config: unknown }[] = [{ path: ['service'], node: service.value, line: service.keyLine, config: serviceBlock }];
    for (const [section] of SECTIONS) {
      for (const [id, resolved] of sections[section].resolved) {
        const entry = sections[section].entries.get(id)!;
        holders.push({ path: [section, id], node: entry.node, line: entry.line, config: resolved.config });
      }
    }
    for (const holder of holders) {
      for (const ref of findAuthReferences(holder.config)) {
        ref.ids.forEach((id, i) => {
          const at: Path = ref.ids.length > 1 || Array.isArray(valueAt(holder.config, ref.path)) ? [...ref.path, i] : ref.path;
          const entry = sections.extensions.entries.get(id);
          let problem: string | undefined;
          if (!entry) problem = `extension "${id}" is not defined in extensions; declare an authenticator (${kinds.join(', ')}) under that ID`;
          else if (!entry.factory) return;
          else if (!(entry.factory as ExtensionFactory).authenticator) problem = `extension "${id}" is not an authenticator (authenticator types: ${kinds.join(', ')})`;
          else if (!listed.has(id)) problem = `extension "${id}" is not listed in service.extensions, so it would not run`;
          if (problem) this.add(this.locate(holder.node, at, holder.line), [...holder.path, ...at], problem);
        });
      }
    }
  }

  private resolveSection<K extends Kind>(
    section: Section,
    kind: K,
    top: { keyLine: number; value: unknown } | undefined,
  ): SectionResult {
    const result: SectionResult = { entries: new Map(), resolved: new Map() };
    if (!top) return result;
    const node = this.deref(top.value);
    if (isNull(node)) return result;
    if (!isMap(node)) {
      this.add(top.keyLine, [section], `expected a mapping of component IDs, got ${this.yamlKind(node)}`);
      return result;
    }
    for (const pair of node.items) {
      const id = this.keyName(pair.key);
      const line = this.lineOf(pair.key) ?? top.keyLine;
      if (id === undefined) {
        this.add(line, [section], 'component IDs must be plain strings');
        continue;
      }
      const entry: Entry = { line, node: pair.value };
      result.entries.set(id, entry);
      const badId = idProblem(id, 'component');
      if (badId) {
        this.add(line, [section, id], badId);
        continue;
      }
      const type = id.split('/')[0];
      const factory: FactoryOf<K> | undefined = this.registry.get(kind, type);
      if (!factory) {
        const known = this.registry.types(kind);
        this.add(
          line,
          [section, id],
          `unknown ${kind} type "${type}"; known ${kind} types: ${known.length ? known.join(', ') : '(none registered)'}`,
        );
        continue;
      }
      entry.factory = factory;
      const checked = this.validateBlock(factory.schema, factory.defaultConfig(), pair.value, [section, id], line);
      if (checked.ok) result.resolved.set(id, { id, type, factory, config: checked.value });
    }
    return result;
  }

  private resolveService(
    top: { keyLine: number; value: unknown } | undefined,
    sections: Record<Section, SectionResult>,
  ): { pipelines: ResolvedPipeline[]; service: ServiceConfig; block: Record<string, unknown> } | undefined {
    if (!top) {
      this.add(1, ['service'], 'missing required field');
      return undefined;
    }
    const checked = this.validateBlock(serviceSchema, SERVICE_DEFAULTS, top.value, ['service'], top.keyLine);
    const serviceNode = this.deref(top.value);
    const pipelinesPair = isMap(serviceNode) ? this.findPair(serviceNode, 'pipelines') : undefined;
    const pipelinesLine = (pipelinesPair && this.lineOf(pipelinesPair.key)) ?? top.keyLine;
    const pipelinesNode = this.deref(pipelinesPair?.value ?? null);

    // Usage is only known when every list that could use a component was read; otherwise an
    // "unused" report would be a false alarm on top of the real error.
    let pipelinesKnown = isNull(pipelinesNode) || isMap(pipelinesNode);
    const used: Record<Section, Set<string>> = {
      receivers: new Set(),
      processors: new Set(),
      exporters: new Set(),
      extensions: new Set(),
    };

    const pipelines: ResolvedPipeline[] = [];
    if (isMap(pipelinesNode)) {
      for (const pair of pipelinesNode.items) {
        const pid = this.keyName(pair.key);
        const line = this.lineOf(pair.key) ?? pipelinesLine;
        if (pid === undefined) {
          this.add(line, ['service', 'pipelines'], 'pipeline IDs must be plain strings');
          pipelinesKnown = false;
          continue;
        }
        const { pipeline, usageKnown } = this.resolvePipeline(pid, line, pair.value, sections, used);
        if (pipeline) pipelines.push(pipeline);
        if (!usageKnown) pipelinesKnown = false;
      }
    }
    const noPipelines = isMap(pipelinesNode) ? pipelinesNode.items.length === 0 : isNull(pipelinesNode);
    if (noPipelines && (isMap(serviceNode) || isNull(serviceNode))) {
      this.add(pipelinesLine, ['service', 'pipelines'], 'no pipelines are defined; at least one is required');
    }
    // With no pipeline at all, every component would also be "unused": that adds nothing.
    if (noPipelines) pipelinesKnown = false;

    let extensionIds: string[] | undefined;
    if (checked.ok) {
      const data = checked.value as z.infer<typeof serviceSchema>;
      extensionIds = data.extensions;
      this.checkReferences(
        extensionIds,
        'extension',
        'extensions',
        ['service', 'extensions'],
        serviceNode,
        top.keyLine,
        sections,
        used,
        undefined,
      );
    }

    for (const [section, kind] of SECTIONS) {
      const known = section === 'extensions' ? extensionIds !== undefined : pipelinesKnown;
      if (!known) continue;
      for (const [id, entry] of sections[section].entries) {
        if (!entry.factory || used[section].has(id)) continue;
        const where = section === 'extensions' ? 'is not listed in service.extensions' : 'is not used by any pipeline';
        this.add(entry.line, [section, id], `${kind} "${id}" is defined but ${where}`);
      }
    }

    if (!checked.ok) return undefined;
    const data = checked.value as z.infer<typeof serviceSchema>;
    return {
      pipelines,
      block: data,
      service: {
        extensions: data.extensions,
        http: {
          endpoint: data.http.endpoint,
          maxBodyBytes: data.http.max_body_bytes,
          ...(data.http.auth && { auth: { authenticators: authenticatorIds(data.http.auth), metricsAuth: data.http.auth.metrics_auth } }),
        },
        logLevel: data.telemetry.logs.level,
        logFormat: data.telemetry.logs.format,
        limits: { defaults: data.limits.defaults, overridesFile: data.limits.overrides_file },
        ...withTraces(resolveTracesTelemetry(data.telemetry.traces)),
      },
    };
  }

  private resolvePipeline(
    pid: string,
    line: number,
    value: unknown,
    sections: Record<Section, SectionResult>,
    used: Record<Section, Set<string>>,
  ): { pipeline?: ResolvedPipeline; usageKnown: boolean } {
    const prefix: Path = ['service', 'pipelines', pid];
    let signal: Signal | undefined;
    const badId = idProblem(pid, 'pipeline');
    if (badId) {
      this.add(line, prefix, badId);
    } else {
      const name = pid.split('/')[0];
      signal = SIGNALS.find((s) => s === name);
      if (!signal) this.add(line, prefix, `unknown signal "${name}"; known signals: ${SIGNALS.join(', ')}`);
    }
    const checked = this.validateBlock(pipelineSchema, PIPELINE_DEFAULTS, value, prefix, line);
    if (!checked.ok) return { usageKnown: false };
    const data = checked.value as z.infer<typeof pipelineSchema>;
    const node = this.deref(value);
    for (const [list, kind] of [
      ['receivers', 'receiver'],
      ['processors', 'processor'],
      ['exporters', 'exporter'],
    ] as const) {
      if (list !== 'processors' && data[list].length === 0) {
        this.add(this.locate(node, [list], line), [...prefix, list], `a pipeline needs at least one ${kind}`);
      }
      this.checkReferences(data[list], kind, list, [...prefix, list], node, line, sections, used, signal);
    }
    return { pipeline: signal && !badId ? { id: pid, signal, ...data } : undefined, usageKnown: true };
  }

  /** Checks one list of component IDs; `signal` is the pipeline's, undefined for service.extensions. */
  private checkReferences(
    ids: string[],
    kind: Kind,
    section: Section,
    path: Path,
    ownerNode: unknown,
    ownerLine: number,
    sections: Record<Section, SectionResult>,
    used: Record<Section, Set<string>>,
    signal: Signal | undefined,
  ): void {
    // The list is always the last key of `path`, held directly by `ownerNode`.
    const relative = path.slice(-1);
    const seen = new Set<string>();
    ids.forEach((ref, i) => {
      const line = this.locate(ownerNode, [...relative, i], ownerLine);
      const at = [...path, i];
      if (seen.has(ref)) {
        this.add(line, at, `"${ref}" is listed more than once`);
        return;
      }
      seen.add(ref);
      const entry = sections[section].entries.get(ref);
      if (!entry) {
        const defined = [...sections[section].entries.keys()];
        this.add(
          line,
          at,
          `${kind} "${ref}" is not defined in ${section}${defined.length ? ` (defined: ${defined.join(', ')})` : ''}`,
        );
        return;
      }
      used[section].add(ref);
      const factory = entry.factory;
      if (signal && factory && factory.kind !== 'extension' && !factory.signals.includes(signal)) {
        this.add(
          line,
          at,
          `${kind} "${ref}" does not support signal "${signal}" (it supports: ${factory.signals.join(', ') || 'none'})`,
        );
      }
    });
  }

  /**
   * Merges a block over its defaults and runs the schema, reporting each issue at the line of
   * the YAML node it is about. A null block means "all defaults", as in the Collector.
   */
  private validateBlock(
    schema: z.ZodType,
    defaults: unknown,
    valueNode: unknown,
    prefix: Path,
    anchorLine: number,
  ): { ok: true; value: unknown } | { ok: false } {
    const node = this.deref(valueNode);
    const user: unknown = isNull(node) ? null : (node as { toJS(doc: Document): unknown }).toJS(this.doc);
    const input = user === null ? cloneData(defaults) : deepMerge(defaults, user);
    const result = schema.safeParse(input);
    if (result.success) return { ok: true, value: result.data };
    for (const issue of result.error.issues) this.reportIssue(issue, input, node, prefix, anchorLine);
    return { ok: false };
  }

  private reportIssue(issue: z.core.$ZodIssue, input: unknown, node: unknown, prefix: Path, anchorLine: number): void {
    const path: Path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (this.envFailed.has([...prefix, ...path].join('.'))) return;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const full = [...path, key];
          this.add(this.locate(node, full, anchorLine), [...prefix, ...full], `unknown key "${key}"`);
        }
        return;
      case 'invalid_type': {
        const value = valueAt(input, path);
        if (value === undefined) {
          this.add(this.locate(node, path.slice(0, -1), anchorLine), [...prefix, ...path], 'missing required field');
        } else if (issue.expected === 'int' && typeof value === 'number') {
          this.add(this.locate(node, path, anchorLine), [...prefix, ...path], `expected an integer, got ${value}`);
        } else {
          this.add(
            this.locate(node, path, anchorLine),
            [...prefix, ...path],
            `expected ${issue.expected}, got ${typeName(value)}`,
          );
        }
        return;
      }
      case 'invalid_value': {
        const value = valueAt(input, path);
        const options = issue.values.map((v) => JSON.stringify(v)).join(', ');
        this.add(
          this.locate(node, path, anchorLine),
          [...prefix, ...path],
          `expected one of ${options}, got ${describe(value)}`,
        );
        return;
      }
      default: {
        const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
        this.add(this.locate(node, path, anchorLine), [...prefix, ...path], message);
      }
    }
  }

  /** The line of the deepest node along `path` that exists in the file. */
  private locate(start: unknown, path: Path, anchorLine: number): number {
    let node = this.deref(start);
    let line = anchorLine;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = this.findPair(node, String(seg));
        if (!pair) break;
        line = this.lineOf(pair.key) ?? line;
        node = this.deref(pair.value);
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        const item = node.items[seg];
        line = this.lineOf(item) ?? line;
        node = this.deref(item);
      } else {
        break;
      }
    }
    return line;
  }

  private findPair(map: { items: { key: unknown; value: unknown }[] }, key: string) {
    return map.items.find((p) => this.keyName(p.key) === key);
  }

  /**
   * Expands `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` in string values, with `$$` for a
   * literal `$`. A plain scalar that is exactly one reference takes the YAML type of its value,
   * so `port: ${env:PORT}` gives a number the way it would if written inline; quoting keeps it a
   * string.
   */
  private expandEnv(node: unknown, path: Path): void {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = this.keyName(pair.key);
        this.expandEnv(pair.value, [...path, key ?? '?']);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.expandEnv(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const original = node.value;
      const errors: string[] = [];
      const expanded = expandString(original, this.env, errors);
      for (const e of errors) this.add(this.lineOf(node) ?? 1, path, e);
      if (errors.length > 0) this.envFailed.add(path.join('.'));
      if (errors.length > 0 || expanded === original) return;
      node.value = expanded;
      if (node.type === Scalar.PLAIN && /^\$\{[^}]*\}$/.test(original)) node.value = typed(expanded);
    }
    // Aliases are skipped: their anchor is expanded where it is defined.
  }

  private findDuplicateKeys(node: unknown, path: Path): void {
    if (isMap(node)) {
      const firstLine = new Map<string, number>();
      for (const pair of node.items) {
        const key = this.keyName(pair.key) ?? '?';
        const line = this.lineOf(pair.key) ?? 1;
        const first = firstLine.get(key);
        if (first === undefined) firstLine.set(key, line);
        else this.add(line, [...path, key], `duplicate key "${key}" (first defined on line ${first})`);
        this.findDuplicateKeys(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.findDuplicateKeys(item, [...path, i]));
    }
  }

  private deref(node: unknown): unknown {
    if (isAlias(node)) return node.resolve(this.doc) ?? null;
    return node ?? null;
  }

  private keyName(key: unknown): string | undefined {
    if (isScalar(key)) return String(key.value);
    return undefined;
  }

  private yamlKind(node: unknown): string {
    if (isSeq(node)) return 'a sequence';
    if (isScalar(node)) return typeName(node.value);
    return 'something else';
  }

  private lineOf(node: unknown): number | undefined {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? this.lineAt(range[0]) : undefined;
  }

  private lineAt(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  private add(line: number, path: Path, what: string): void {
    const key = path.length > 0 ? `${path.join('.')}: ` : '';
    this.problems.push({ line, text: `${this.file}:${line}: ${key}${what}` });
  }

  private fail(): never {
    // Stable sort: problems on one line keep the order they were found in.
    const sorted = [...this.problems].sort((a, b) => a.line - b.line);
    throw new ConfigError(sorted.map((p) => p.text));
  }
}

function expandString(s: string, env: Env, errors: string[]): string {
  return s.replace(/\$\$|\$\{([^}]*)\}/g, (match, inner: string | undefined) => {
    if (match === '$$') return '$';
    const ref = /^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(inner!);
    if (!ref) {
      const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(inner!);
      errors.push(
        scheme && scheme[1] !== 'env'
          ? `cannot expand "${match}": only the env provider is supported, not "${scheme[1]}"`
          : `cannot expand "${match}": expected \${env:NAME}, \${NAME} or \${env:NAME:-default}`,
      );
      return match;
    }
    const [, name, fallback] = ref;
    const value = env[name];
    // Like the shell's `:-`, an empty variable also takes the default.
    if (fallback !== undefined && (value === undefined || value === '')) return fallback;
    if (value === undefined) {
      errors.push(`environment variable "${name}" is not defined`);
      return match;
    }
    return value;
  });
}

/** Numbers and booleans only: anything else stays the string the variable held. */
function typed(text: string): unknown {
  try {
    const v: unknown = parseYaml(text, { logLevel: 'silent' });
    return typeof v === 'number' || typeof v === 'boolean' ? v : text;
  } catch {
    return text;
  }
}

function idProblem(id: string, what: 'component' | 'pipeline'): string | undefined {
  const slash = id.indexOf('/');
  const type = slash < 0 ? id : id.slice(0, slash);
  const first = what === 'component' ? 'type' : 'signal';
  if (!TYPE_PATTERN.test(type)) {
    return `invalid ${what} ID "${id}": the ${first} must start with a letter and hold only letters, digits and "_"`;
  }
  if (slash >= 0) {
    const name = id.slice(slash + 1);
    if (name === '' || name.includes('/')) {
      return `invalid ${what} ID "${id}": the name after "/" must be non-empty and contain no "/"`;
    }
  }
  return undefined;
}

function isNull(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Copies plain objects and arrays so a factory's defaults are never mutated through a config. */
function cloneData(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneData);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneData(x)]));
  return v;
}

/** Objects merge key by key; arrays and scalars replace; a bare `key:` keeps the default. */
function withTraces(traces: TracesTelemetryConfig | undefined): { traces?: TracesTelemetryConfig } {
  return traces ? { traces } : {};
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === null && base !== undefined ? cloneData(base) : over;
  const out = cloneData(base) as Record<string, unknown>;
  for (const key of Object.keys(over)) {
    out[key] = Object.hasOwn(base, key) ? deepMerge(base[key], over[key]) : over[key];
  }
  return out;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  return typeof v;
}

/** A claimed value for an error message: strings as they are quoted, objects as JSON. */
function describeValue(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function describe(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? JSON.stringify(v) : typeName(v);
}
