/**
 * Prometheus `relabel_config` semantics over a series label set: config validation
 * (compileRules) and evaluation (applyRules). Pure: no I/O, no metrics, no mutation of inputs.
 *
 * Regexes run on RE2 (linear time), so a hostile or careless pattern cannot stall ingestion.
 */
import { createHash } from 'node:crypto';
import { RE2JS, type Matcher } from 're2js';
import type { Labels } from '../model.ts';

export type RelabelAction =
  | 'replace'
  | 'keep'
  | 'drop'
  | 'keepequal'
  | 'dropequal'
  | 'hashmod'
  | 'labelmap'
  | 'labeldrop'
  | 'labelkeep'
  | 'lowercase'
  | 'uppercase';

const ACTIONS: ReadonlySet<string> = new Set<RelabelAction>([
  'replace',
  'keep',
  'drop',
  'keepequal',
  'dropequal',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
]);

/** One rule as written in the config; keys follow Prometheus YAML. */
export interface RelabelConfig {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  modulus?: number;
  target_label?: string;
  replacement?: string;
  action?: string;
}

export interface CompiledRule {
  readonly action: RelabelAction;
  readonly sourceLabels: readonly string[];
  readonly separator: string;
  /** The regex as the user wrote it, before anchoring. */
  readonly regexSource: string;
  readonly regex: RE2JS;
  readonly groupCount: number;
  readonly groupNames: ReadonlyMap<string, number>;
  readonly modulus: bigint;
  readonly targetLabel: string;
  readonly replacement: string;
}

export const DEFAULT_SEPARATOR = ';';
export const DEFAULT_REGEX = '(.*)';
export const DEFAULT_REPLACEMENT = '$1';
export const DEFAULT_ACTION: RelabelAction = 'replace';

/*
 * Label names follow Prometheus' legacy (pre-UTF-8) rule. Pyroscope itself accepts dotted and
 * UTF-8 names, but relabel rules are written against Prometheus documentation, and the legacy
 * rule keeps rewritten names safe for every downstream store and query language.
 */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name);
}

/** Templates allowed where a label name is produced from regex groups (replace target, labelmap replacement). */
const TEMPLATED_NAME = RE2JS.compile('^(?:(?:[a-zA-Z_]|\\$(?:\\{\\w+\\}|\\w+))+\\w*)+$');

function fail(index: number, field: string, message: string): never {
  throw new Error(`relabel rule ${index}: ${field}: ${message}`);
}

function compileRegex(index: number, source: string): RE2JS {
  // Compiling the bare pattern first rejects inputs like `a)|(b` that would otherwise
  // close the anchoring group early and match unanchored.
  try {
    RE2JS.compile(source);
    return RE2JS.compile(`^(?s:${source})$`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return fail(index, 'regex', `invalid regular expression ${JSON.stringify(source)}: ${reason}`);
  }
}

function compileRule(config: RelabelConfig, index: number): CompiledRule {
  if (config === null || typeof config !== 'object') fail(index, 'rule', 'must be an object');

  const rawAction = config.action ?? DEFAULT_ACTION;
  if (typeof rawAction !== 'string' || rawAction === '') fail(index, 'action', 'must not be empty');
  const lowered = rawAction.toLowerCase();
  if (!ACTIONS.has(lowered)) {
    fail(index, 'action', `unknown relabel action ${JSON.stringify(rawAction)} (expected one of ${[...ACTIONS].join(', ')})`);
  }
  const action = lowered as RelabelAction;

  const sourceLabels = config.source_labels ?? [];
  if (!Array.isArray(sourceLabels)) fail(index, 'source_labels', 'must be a list of label names');
  sourceLabels.forEach((name, j) => {
    if (typeof name !== 'string' || !isValidLabelName(name)) {
      fail(index, `source_labels[${j}]`, `${JSON.stringify(name)} is not a valid label name`);
    }
  });

  const separator = config.separator ?? DEFAULT_SEPARATOR;
  const targetLabel = config.target_label ?? '';
  const replacement = config.replacement ?? DEFAULT_REPLACEMENT;
  const regexSource = config.regex ?? DEFAULT_REGEX;
  if (typeof separator !== 'string') fail(index, 'separator', 'must be a string');
  if (typeof targetLabel !== 'string') fail(index, 'target_label', 'must be a string');
  if (typeof replacement !== 'string') fail(index, 'replacement', 'must be a string');
  if (typeof regexSource !== 'string') fail(index, 'regex', 'must be a string');

  const rawModulus = config.modulus ?? 0;
  if (typeof rawModulus !== 'number' || !Number.isSafeInteger(rawModulus) || rawModulus < 0) {
    fail(index, 'modulus', `must be a non-negative integer, got ${JSON.stringify(rawModulus)}`);
  }
  if (action === 'hashmod' && rawModulus === 0) fail(index, 'modulus', 'hashmod action requires a non-zero modulus');

  const needsTarget = ['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action);
  if (needsTarget && targetLabel === '') fail(index, 'target_label', `required for ${action} action`);

  if (action === 'replace') {
    const ok = targetLabel.includes('$') ? TEMPLATED_NAME.matches(targetLabel) : isValidLabelName(targetLabel);
    if (!ok) fail(index, 'target_label', `${JSON.stringify(targetLabel)} is invalid for replace action`);
  } else if (needsTarget && !isValidLabelName(targetLabel)) {
    fail(index, 'target_label', `${JSON.stringify(targetLabel)} is invalid for ${action} action`);
  }

  if (['lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action) && replacement !== DEFAULT_REPLACEMENT) {
    fail(index, 'replacement', `must not be set for ${action} action`);
  }
  if (action === 'labelmap' && !TEMPLATED_NAME.matches(replacement)) {
    fail(index, 'replacement', `${JSON.stringify(replacement)} is invalid for labelmap action`);
  }

  if (action === 'keepequal' || action === 'dropequal') {
    const extra =
      config.regex !== undefined && config.regex !== DEFAULT_REGEX
        ? 'regex'
        : rawModulus !== 0
          ? 'modulus'
          : separator !== DEFAULT_SEPARATOR
            ? 'separator'
            : undefined;
    if (extra) fail(index, extra, `${action} action allows only source_labels and target_label`);
  }
  if (action === 'labeldrop' || action === 'labelkeep') {
    const extra =
      config.source_labels !== undefined
        ? 'source_labels'
        : targetLabel !== ''
          ? 'target_label'
          : rawModulus !== 0
            ? 'modulus'
            : separator !== DEFAULT_SEPARATOR
              ? 'separator'
              : replacement !== DEFAULT_REPLACEMENT
                ? 'replacement'
                : undefined;
    if (extra) fail(index, extra, `${action} action allows only regex`);
  }

  const regex = compileRegex(index, regexSource);
  return {
    action,
    sourceLabels: [...sourceLabels],
    separator,
    regexSource,
    regex,
    groupCount: regex.groupCount(),
    groupNames: new Map(Object.entries(regex.namedGroups())),
    modulus: BigInt(rawModulus),
    targetLabel,
    replacement,
  };
}

/** Validates and compiles rules once; throws an Error naming the rule index and field on bad config. */
export function compileRules(configs: readonly RelabelConfig[]): CompiledRule[] {
  if (!Array.isArray(configs)) throw new Error('relabel rules: must be a list');
  return configs.map(compileRule);
}

/** Matches Go's template name scan: letters, decimal digits and underscore, as long as possible. */
const TEMPLATE_NAME = /[\p{L}\p{Nd}_]+/uy;

function groupByName(rule: CompiledRule, m: Matcher, name: string): string {
  // Go reads a name as a group number only when it is plain ASCII digits, has no leading
  // zero and stays below 1e9; anything else is looked up by name.
  const numeric = /^(?:0|[1-9][0-9]{0,8})$/.test(name);
  const index = numeric ? Number(name) : rule.groupNames.get(name);
  if (index === undefined || index > rule.groupCount) return '';
  return m.group(index) ?? '';
}

/**
 * Go's Regexp.Expand: `$n`, `${n}`, `$name`, `${name}`, `$$`. A malformed reference keeps
 * its `$` literally; a reference to a group that is absent or did not participate is "".
 */
function expand(template: string, rule: CompiledRule, m: Matcher): string {
  let out = '';
  let pos = 0;
  for (;;) {
    const dollar = template.indexOf('$', pos);
    if (dollar < 0) break;
    out += template.slice(pos, dollar);
    if (template[dollar + 1] === '$') {
      out += '$';
      pos = dollar + 2;
      continue;
    }
    const brace = template[dollar + 1] === '{';
    const nameStart = dollar + (brace ? 2 : 1);
    TEMPLATE_NAME.lastIndex = nameStart;
    const found = TEMPLATE_NAME.exec(template);
    const name = found ? found[0] : '';
    const nameEnd = nameStart + name.length;
    if (name === '' || (brace && template[nameEnd] !== '}')) {
      out += '$';
      pos = dollar + 1;
      continue;
    }
    out += groupByName(rule, m, name);
    pos = brace ? nameEnd + 1 : nameEnd;
  }
  return out + template.slice(pos);
}

/** Like a Prometheus labels builder: setting an empty value removes the label. */
function setLabel(labels: Map<string, string>, name: string, value: string): void {
  if (value === '') labels.delete(name);
  else labels.set(name, value);
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Go maps case one code point at a time with the simple Unicode mapping, so it neither
 * expands `ß` to `SS` nor applies the final-sigma rule. Expansions that have no one-to-one
 * equivalent are left unchanged (except `İ`, whose simple lowercase is a plain `i`).
 */
function mapCase(value: string, upper: boolean): string {
  if (ASCII.test(value)) return upper ? value.toUpperCase() : value.toLowerCase();
  let out = '';
  for (const ch of value) {
    const mapped = upper ? ch.toUpperCase() : ch.toLowerCase();
    if ([...mapped].length === 1) out += mapped;
    else if (!upper && ch === '\u0130') out += 'i';
    else out += ch;
  }
  return out;
}

function hashMod(value: string, modulus: bigint): string {
  const digest = createHash('md5').update(value, 'utf8').digest();
  return (digest.readBigUInt64BE(8) % modulus).toString();
}

/** Applies one rule in place; false means the series is dropped. */
function applyRule(rule: CompiledRule, labels: Map<string, string>): boolean {
  const value = rule.sourceLabels.map((name) => labels.get(name) ?? '').join(rule.separator);
  switch (rule.action) {
    case 'drop':
      return !rule.regex.matches(value);
    case 'keep':
      return rule.regex.matches(value);
    case 'dropequal':
      return (labels.get(rule.targetLabel) ?? '') !== value;
    case 'keepequal':
      return (labels.get(rule.targetLabel) ?? '') === value;
    case 'replace': {
      if (
        value === '' &&
        rule.regexSource === DEFAULT_REGEX &&
        !rule.targetLabel.includes('$') &&
        !rule.replacement.includes('$')
      ) {
        setLabel(labels, rule.targetLabel, rule.replacement);
        return true;
      }
      const m = rule.regex.matcher(value);
      if (!m.find()) return true;
      const target = expand(rule.targetLabel, rule, m);
      if (!isValidLabelName(target)) return true;
      setLabel(labels, target, expand(rule.replacement, rule, m));
      return true;
    }
    case 'lowercase':
      setLabel(labels, rule.targetLabel, mapCase(value, false));
      return true;
    case 'uppercase':
      setLabel(labels, rule.targetLabel, mapCase(value, true));
      return true;
    case 'hashmod':
      setLabel(labels, rule.targetLabel, hashMod(value, rule.modulus));
      return true;
    case 'labelmap':
      // Iterate a snapshot so names created by this rule are not mapped again.
      for (const [name, labelValue] of [...labels]) {
        const m = rule.regex.matcher(name);
        if (!m.find()) continue;
        // The regex is anchored, so replacing every match in the name is one expansion.
        const mapped = expand(rule.replacement, rule, m);
        // Prometheus would write any result; an invalid name here would only be rejected downstream.
        if (isValidLabelName(mapped)) setLabel(labels, mapped, labelValue);
      }
      return true;
    case 'labeldrop':
      for (const name of [...labels.keys()]) if (rule.regex.matches(name)) labels.delete(name);
      return true;
    case 'labelkeep':
      for (const name of [...labels.keys()]) if (!rule.regex.matches(name)) labels.delete(name);
      return true;
  }
}

/** Runs rules in order over a copy of `labels`; returns null as soon as one drops the series. */
export function applyRules(labels: Labels, rules: readonly CompiledRule[]): Labels | null {
  // A Map keeps names like `__proto__` ordinary keys.
  const working = new Map(Object.entries(labels));
  for (const rule of rules) {
    if (!applyRule(rule, working)) return null;
  }
  return Object.fromEntries(working);
}
