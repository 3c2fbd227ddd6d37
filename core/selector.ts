/**
 * PromQL-style series selectors: `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api", pod=~"api-.*"}`.
 *
 * The parser only produces data (name, operator, value); values are never spliced into SQL.
 * Regexes are checked here with RE2 so that a bad one is a 400 that points at its position,
 * and so that no pattern can make the store backtrack.
 */
import { RE2JS } from 're2js';
import { BadRequestError } from './errors.ts';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
}

export interface Selector {
  /** The text before `{`, e.g. a profile type ID; empty when absent. */
  metric: string;
  matchers: Matcher[];
}

const MAX_SELECTOR_LENGTH = 16_384;
const MAX_REGEX_LENGTH = 4_096;

function fail(text: string, pos: number, what: string): never {
  throw new BadRequestError(`invalid selector at position ${pos + 1}: ${what} (in ${JSON.stringify(text.length > 200 ? text.slice(0, 200) + '…' : text)})`);
}

export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_LENGTH) throw new BadRequestError(`selector longer than ${MAX_SELECTOR_LENGTH} characters`);
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  ws();
  const metricStart = i;
  while (i < text.length && text[i] !== '{' && !/\s/.test(text[i])) i++;
  const metric = text.slice(metricStart, i);
  ws();
  const matchers: Matcher[] = [];
  if (i >= text.length) return { metric, matchers };
  if (text[i] !== '{') fail(text, i, 'expected "{"');
  i++;
  ws();
  while (i < text.length && text[i] !== '}') {
    const nameStart = i;
    // Label names may contain dots (otel.scope.name), as Pyroscope accepts them.
    while (i < text.length && /[A-Za-z0-9_.]/.test(text[i])) i++;
    const name = text.slice(nameStart, i);
    if (!name || /^[0-9]/.test(name)) fail(text, nameStart, 'expected a label name');
    ws();
    const opStart = i;
    let op: MatchOp;
    if (text.startsWith('=~', i)) op = '=~';
    else if (text.startsWith('!~', i)) op = '!~';
    else if (text.startsWith('!=', i)) op = '!=';
    else if (text[i] === '=') op = '=';
    else fail(text, opStart, 'expected one of =, !=, =~, !~');
    i += op.length;
    ws();
    const valueStart = i;
    const value = readString();
    if (op === '=~' || op === '!~') checkRegex(value, valueStart);
    matchers.push({ name, op, value });
    ws();
    if (text[i] === ',') {
      i++;
      ws();
    } else if (text[i] !== '}') fail(text, i, 'expected "," or "}"');
  }
  if (text[i] !== '}') fail(text, i, 'unterminated selector, expected "}"');
  i++;
  ws();
  if (i < text.length) fail(text, i, 'unexpected text after "}"');
  return { metric, matchers };

  function readString(): string {
    const q = text[i];
    if (q !== '"' && q !== "'" && q !== '`') fail(text, i, 'expected a quoted string');
    const start = i;
    i++;
    let out = '';
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\' && q !== '`') {
        const c = text[i + 1];
        if (c === undefined) break;
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
        if (c in simple) {
          out += simple[c];
          i += 2;
          continue;
        }
        fail(text, i, `unknown escape \\${c}`);
      }
      out += text[i++];
    }
    if (text[i] !== q) fail(text, start, 'unterminated string');
    i++;
    return out;
  }

  function checkRegex(re: string, pos: number): void {
    if (re.length > MAX_REGEX_LENGTH) fail(text, pos, `regex longer than ${MAX_REGEX_LENGTH} characters`);
    try {
      // Checked in the anchored form the store runs: `\Qx` alone is valid, but anchored it
      // quotes the closing parenthesis too.
      RE2JS.compile(`^(?:${re})$`);
    } catch (e) {
      fail(text, pos, `invalid regex: ${(e as Error).message}`);
    }
  }
}

/** Evaluates matchers against a label set, with Prometheus semantics (a missing label is ""). */
export function matchesLabels(matchers: Matcher[], labels: Record<string, string>): boolean {
  for (const m of matchers) {
    const v = labels[m.name] ?? '';
    switch (m.op) {
      case '=':
        if (v !== m.value) return false;
        break;
      case '!=':
        if (v === m.value) return false;
        break;
      case '=~':
        if (!RE2JS.compile(`^(?:${m.value})$`).matches(v)) return false;
        break;
      case '!~':
        if (RE2JS.compile(`^(?:${m.value})$`).matches(v)) return false;
        break;
    }
  }
  return true;
}
