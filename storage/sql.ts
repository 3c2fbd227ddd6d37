/**
 * Ad-hoc, read-only SQL over one tenant's data.
 *
 * A user's query never sees Hearth's tables: it is checked token by token against an
 * allow-list (one SELECT or WITH statement; only the tenant views, their columns, listed
 * functions, listed keywords and the query's own aliases) and then runs with the views defined
 * in front of it as CTEs that are filtered to the tenant, a bound query parameter. ClickHouse
 * itself enforces the second line: the query runs with `readonly = 1` and time and row limits.
 *
 * The check is deliberately conservative: anything it does not know is refused with a message
 * naming it, before the store sees the query.
 */
import { BadRequestError } from '../core/errors.ts';
import type { Schema } from './schema.ts';

/** The views a query may read, with their columns (documented in api/README.md). */
export const SQL_VIEWS: Record<string, string[]> = {
  samples_flat: ['time', 'service_name', 'profile_type', 'function', 'self', 'total'],
  series: ['profile_type', 'service_name', 'fingerprint', 'labels', 'first_date', 'last_date'],
  profiles: ['time', 'profile_id', 'service_name', 'profile_type', 'fingerprint', 'total'],
};

/** The tenant's parameter name; users cannot write `{…}`, so they cannot rebind it. */
const TENANT_PARAM = 'hearth_sql_tenant';

function viewDefinitions(schema: Schema, tenant: string): Record<string, string> {
  const t = (n: string) => schema.table(n);
  // Functions and stacks are ReplacingMergeTree: rows not merged yet repeat an ID, so they are
  // collapsed before joining, or values would be counted twice.
  return {
    samples_flat: `SELECT time, service_name, profile_type, function, sum(fn_self) AS self, sum(fn_total) AS total
      FROM (
        SELECT x.time AS time, x.service AS service_name, x.profile_type AS profile_type, x.fingerprint AS fp,
               x.profile_id AS pid, f.name AS function, if(fid = st.frames[1], x.value, 0) AS fn_self, x.value AS fn_total
        FROM (SELECT time, service, profile_type, fingerprint, profile_id, stack_id, value
              FROM ${t('samples')} ARRAY JOIN stack_ids AS stack_id, stack_values AS value
              WHERE tenant = ${tenant}) AS x
        INNER JOIN (SELECT id, any(frames) AS frames FROM ${t('stacks')} GROUP BY id) AS st ON st.id = x.stack_id
        ARRAY JOIN arrayDistinct(st.frames) AS fid
        INNER JOIN (SELECT id, any(name) AS name FROM ${t('functions')} GROUP BY id) AS f ON f.id = fid
      )
      GROUP BY time, fp, pid, service_name, profile_type, function`,
    series: `SELECT profile_type, service AS service_name, fingerprint, any(labels) AS labels,
             min(date) AS first_date, max(date) AS last_date
      FROM ${t('series')} WHERE tenant = ${tenant} GROUP BY profile_type, service, fingerprint`,
    profiles: `SELECT time, leftPad(lower(hex(profile_id)), 16, '0') AS profile_id, service AS service_name,
             profile_type, fingerprint, total
      FROM ${t('samples')} WHERE tenant = ${tenant}`,
  };
}

/** Words that change something, or steer the engine: named in the refusal. */
const WRITE_WORDS = new Set(
  [
    'insert', 'drop', 'alter', 'create', 'system', 'set', 'settings', 'truncate', 'delete', 'update', 'rename',
    'attach', 'detach', 'optimize', 'grant', 'revoke', 'kill', 'into', 'outfile', 'format', 'use', 'exchange',
    'move', 'replace', 'backup', 'restore', 'undrop', 'check', 'describe', 'show', 'explain', 'watch', 'final',
  ],
);

const KEYWORDS = new Set(
  [
    'select', 'with', 'as', 'from', 'where', 'group', 'by', 'order', 'asc', 'desc', 'limit', 'offset', 'having',
    'and', 'or', 'not', 'in', 'is', 'null', 'like', 'ilike', 'between', 'case', 'when', 'then', 'else', 'end',
    'distinct', 'all', 'union', 'except', 'intersect', 'join', 'inner', 'left', 'right', 'full', 'outer', 'cross',
    'on', 'using', 'interval', 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year', 'true', 'false',
    'nulls', 'first', 'last', 'totals', 'rollup', 'cube', 'over', 'partition', 'rows', 'range', 'unbounded',
    'preceding', 'following', 'current', 'row', 'array', 'ties', 'fetch', 'next', 'only', 'semi', 'anti', 'asof',
  ],
);

/** Pure functions a query may call. Table functions (file, url, remote, numbers…) are not among them. */
const FUNCTIONS = new Set(
  [
    // aggregates
    'count', 'sum', 'avg', 'min', 'max', 'any', 'anylast', 'argmin', 'argmax', 'uniq', 'uniqexact', 'median',
    'quantile', 'quantiles', 'quantileexact', 'topk', 'grouparray', 'groupuniqarray', 'sumif', 'countif', 'avgif',
    'minif', 'maxif', 'stddevpop', 'stddevsamp', 'varpop', 'varsamp', 'summap',
    // window
    'row_number', 'rank', 'dense_rank', 'lagInFrame', 'leadInFrame', 'first_value', 'last_value',
    // conditionals and nulls
    'if', 'multiif', 'coalesce', 'ifnull', 'nullif', 'isnull', 'isnotnull', 'greatest', 'least',
    // arithmetic
    'abs', 'round', 'floor', 'ceil', 'intdiv', 'modulo', 'exp', 'log', 'log2', 'log10', 'sqrt', 'pow', 'plus',
    'minus', 'multiply', 'divide',
    // conversions
    'tostring', 'touint64', 'toint64', 'tofloat64', 'touint32', 'toint32', 'todate', 'todatetime', 'todatetime64',
    'todecimal64', 'tounixtimestamp', 'tounixtimestamp64milli', 'fromunixtimestamp', 'fromunixtimestamp64milli',
    // time
    'now', 'now64', 'today', 'yesterday', 'tostartofminute', 'tostartoffiveminutes', 'tostartoffifteenminutes',
    'tostartofhour', 'tostartofday', 'tostartofweek', 'tostartofmonth', 'tostartofinterval', 'tointervalsecond',
    'tointervalminute', 'tointervalhour', 'tointervalday', 'tointervalweek', 'datediff', 'date_diff', 'formatdatetime',
    'tohour', 'todayofweek', 'toyyyymmdd', 'subtractdays', 'subtracthours', 'subtractminutes',
    // strings
    'lower', 'upper', 'length', 'concat', 'substring', 'position', 'positioncaseinsensitive', 'startswith',
    'endswith', 'like', 'notlike', 'ilike', 'match', 'extract', 'replaceall', 'replaceregexpall', 'replaceone',
    'splitbychar', 'splitbystring', 'trim', 'trimboth', 'trimleft', 'trimright', 'leftpad', 'rightpad', 'empty',
    'notempty', 'hex', 'formatreadablesize', 'formatreadablequantity', 'formatreadabletimedelta',
    // arrays, maps, tuples
    'has', 'hasany', 'hasall', 'arrayjoin', 'arraymap', 'arrayfilter', 'arraysort', 'arraydistinct', 'arrayslice',
    'arraystringconcat', 'indexof', 'mapkeys', 'mapvalues', 'mapcontains', 'tuple', 'array', 'tupleelement',
    'percent_rank', 'cast',
  ].map((f) => f.toLowerCase()),
);

/** Hearth's own tables: never a name a query may define, so never one it can reach. */
const STORE_TABLES = ['functions', 'stacks', 'samples', 'series_labels', 'samples_1m', 'samples_1h', 'rollup_state', 'schema_migrations'];

type Token = { kind: 'word' | 'quoted' | 'string' | 'number' | 'punct'; text: string; pos: number; end: number };

const PUNCT = ['!=', '<>', '<=', '>=', '||', '::', '(', ')', ',', '.', '+', '-', '*', '/', '%', '=', '<', '>', '[', ']', '?', ':', ';'];

function refuse(message: string): never {
  throw new BadRequestError(`sql: ${message}`);
}

/** Splits a query into tokens; comments are dropped, anything outside plain SQL is refused. */
export function tokenizeSql(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (text.startsWith('--', i)) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
    } else if (text.startsWith('/*', i)) {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) refuse(`unterminated comment at position ${i + 1}`);
      i = close + 2;
    } else if (c === "'") {
      const start = i++;
      while (i < text.length && text[i] !== "'") i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) refuse(`unterminated string at position ${start + 1}`);
      i++;
      out.push({ kind: 'string', text: text.slice(start, i), pos: start, end: i });
    } else if (c === '"' || c === '`') {
      const start = i++;
      while (i < text.length && text[i] !== c) i++;
      if (i >= text.length) refuse(`unterminated identifier at position ${start + 1}`);
      const name = text.slice(start + 1, i);
      i++;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) refuse(`identifier ${JSON.stringify(name)} at position ${start + 1} is not a plain name`);
      out.push({ kind: 'quoted', text: name, pos: start, end: i });
    } else if (/[0-9]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)/.exec(text.slice(i))!;
      out.push({ kind: 'number', text: m[0], pos: i, end: i + m[0].length });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      out.push({ kind: 'word', text: m[0], pos: i, end: i + m[0].length });
      i += m[0].length;
    } else {
      const p = PUNCT.find((s) => text.startsWith(s, i));
      if (!p) refuse(`character ${JSON.stringify(c)} at position ${i + 1} is not allowed`);
      out.push({ kind: 'punct', text: p, pos: i, end: i + p.length });
      i += p.length;
    }
  }
  return out;
}

export interface CheckedSql {
  /** The user's text without a trailing `;`, and without its leading WITH when it has one. */
  body: string;
  /** The user's text starts with WITH: the views are prepended to its list. */
  startsWithWith: boolean;
}

/** Checks a query against the allow-list; throws a BadRequestError naming what is refused. */
export function checkSql(text: string, database: string): CheckedSql {
  if (text.length > 100_000) refuse('query longer than 100000 characters');
  const tokens = tokenizeSql(text);
  while (tokens.length && tokens[tokens.length - 1].text === ';') tokens.pop();
  if (!tokens.length) refuse('empty query');
  const semi = tokens.find((t) => t.text === ';');
  if (semi) refuse(`only one statement is allowed (a ";" at position ${semi.pos + 1})`);
  const first = tokens[0].text.toLowerCase();
  if (tokens[0].kind !== 'word' || (first !== 'select' && first !== 'with')) {
    if (WRITE_WORDS.has(first)) refuse(`only SELECT queries are allowed, "${tokens[0].text}" is refused (read-only)`);
    refuse('a query must start with SELECT or WITH');
  }
  const views = new Set(Object.keys(SQL_VIEWS));
  const columns = new Set(Object.values(SQL_VIEWS).flat());
  const reserved = new Set([database.toLowerCase(), 'system', 'default', 'information_schema', TENANT_PARAM, ...STORE_TABLES]);
  const isReserved = (name: string) => reserved.has(name) || name.endsWith('_local') || name.endsWith('_mv');

  // Aliases the query defines (`expr AS name`, `name AS (subquery)`) may be used anywhere in it.
  const aliases = new Set<string>();
  tokens.forEach((t, k) => {
    const prev = tokens[k - 1];
    const next = tokens[k + 1];
    const isAlias = (prev && prev.text.toLowerCase() === 'as') || (next && next.text.toLowerCase() === 'as' && tokens[k + 2]?.text === '(');
    if ((t.kind === 'word' || t.kind === 'quoted') && isAlias) {
      const name = t.text.toLowerCase();
      if (isReserved(name) || views.has(name) || WRITE_WORDS.has(name)) refuse(`"${t.text}" cannot be used as an alias`);
      aliases.add(name);
    }
  });

  // What a query reads from: a view, one of its own CTEs, or a subquery.
  const ctes = new Set(tokens.filter((t, k) => tokens[k + 1]?.text.toLowerCase() === 'as' && tokens[k + 2]?.text === '(').map((t) => t.text.toLowerCase()));
  tokens.forEach((t, k) => {
    const prev = tokens[k - 1]?.text.toLowerCase();
    if (prev !== 'from' && prev !== 'join') return;
    if (t.text === '(' || ((t.kind === 'word' || t.kind === 'quoted') && (views.has(t.text.toLowerCase()) || ctes.has(t.text.toLowerCase())) && tokens[k + 1]?.text !== '(' && tokens[k + 1]?.text !== '.')) return;
    refuse(`"${t.text}" at position ${t.pos + 1} cannot be read: a query reads only the views ${[...views].join(', ')}, its own WITH subqueries, or subqueries`);
  });

  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind !== 'word' && t.kind !== 'quoted') continue;
    const name = t.text.toLowerCase();
    const next = tokens[k + 1];
    const prev = tokens[k - 1];
    const at = `at position ${t.pos + 1}`;
    if (t.kind === 'word' && WRITE_WORDS.has(name)) refuse(`"${t.text}" ${at} is refused: queries are read-only`);
    if (prev?.text === '.') {
      // After a dot comes a column of a view or alias, never a table: `db.table` is refused.
      if (views.has(name) || !(columns.has(name) || aliases.has(name))) refuse(`"${tokens[k - 2]?.text}.${t.text}" ${at} is not a column of a view; only the views ${[...views].join(', ')} can be read`);
      continue;
    }
    if (next?.text === '(' && t.kind === 'word') {
      if (FUNCTIONS.has(name) || KEYWORDS.has(name) || aliases.has(name)) continue;
      refuse(`function "${t.text}" ${at} is not allowed (table functions and functions outside the documented list are refused)`);
    }
    if (t.kind === 'word' && KEYWORDS.has(name)) continue;
    if (views.has(name) || columns.has(name) || aliases.has(name)) continue;
    refuse(`unknown name "${t.text}" ${at}: only the views ${[...views].join(', ')}, their columns and the query's own aliases (written with AS) can be named`);
  }
  const end = tokens[tokens.length - 1].end;
  // Without its leading WITH, a WITH query's list continues the views' list.
  const body = first === 'with' ? text.slice(tokens[0].end, end) : text.slice(tokens[0].pos, end);
  return { body, startsWithWith: first === 'with' };
}

export interface SqlLimits {
  maxExecutionSeconds: number;
  maxResultRows: number;
}

export const DEFAULT_SQL_LIMITS: SqlLimits = { maxExecutionSeconds: 30, maxResultRows: 10_000 };

export interface TenantSql {
  /** The statement with the tenant as a bound parameter, and its parameters. */
  query: string;
  params: Record<string, unknown>;
  /**
   * The same statement with the tenant written into the views as a quoted literal: what an
   * embedded engine runs, where bound queries wait for each other across the whole process.
   * The user's text is the same in both; only the views' own filter differs.
   */
  inlined: string;
}

/** The statement to run and its parameters: the tenant's views, then the user's query, then the limits. */
export function tenantSql(schema: Schema, tenant: string, text: string, limits: SqlLimits = DEFAULT_SQL_LIMITS): TenantSql {
  const checked = checkSql(text, schema.database);
  const settings = [
    `max_execution_time = ${Math.max(1, Math.floor(limits.maxExecutionSeconds))}`,
    `max_result_rows = ${Math.max(1, Math.floor(limits.maxResultRows))}`,
    `result_overflow_mode = 'throw'`,
    // Last: once readonly is on, no later setting in the list could be changed.
    'readonly = 1',
  ];
  const statement = (tenantValue: string) => {
    const ctes = Object.entries(viewDefinitions(schema, tenantValue)).map(([name, sql]) => `${name} AS (${sql})`).join(',\n');
    // The user's body is spliced after a newline and followed by one: a trailing `--` comment
    // in it cannot swallow the settings, and its own WITH list continues ours.
    const user = checked.startsWithWith ? `,\n${checked.body}` : `\n${checked.body}`;
    return `WITH ${ctes}${user}\nSETTINGS ${settings.join(', ')}`;
  };
  return { query: statement(`{${TENANT_PARAM}:String}`), params: { [TENANT_PARAM]: tenant }, inlined: statement(quoteString(tenant)) };
}

/**
 * A string as a ClickHouse single-quoted literal. Backslash and quote are escaped, and every
 * control character is written as `\xHH`, so no byte of the value can end the literal or the
 * statement (a raw NUL would cut the query text short on an embedded engine).
 */
export function quoteString(value: string): string {
  let out = "'";
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x27) out += "\\'";
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += value[i];
  }
  return out + "'";
}

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65_535n],
  UInt32: [0n, 4_294_967_295n],
  UInt64: [0n, 18_446_744_073_709_551_615n],
  Int32: [-2_147_483_648n, 2_147_483_647n],
  Int64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
};

function integerText(type: string, value: unknown): string {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^-?[0-9]{1,20}$/.test(value)) n = BigInt(value);
  else throw new Error(`not an integer for ${type}: ${String(value).slice(0, 40)}`);
  const [lo, hi] = INTEGER_RANGES[type];
  if (n < lo || n > hi) throw new Error(`${n} is out of range for ${type}`);
  return n.toString();
}

/**
 * A value as a ClickHouse literal of exactly `type`, for queries whose values are written into
 * the text instead of bound (chDB runs bound queries one at a time in a whole process). Only
 * integers, strings and arrays of them are accepted; numbers are checked to be integers in the
 * type's range and strings go through quoteString, so a value is always one literal.
 */
export function sqlLiteral(type: string, value: unknown): string {
  if (type === 'String') {
    if (typeof value !== 'string') throw new Error(`not a string: ${typeof value}`);
    return quoteString(value);
  }
  if (type in INTEGER_RANGES) return `to${type}(${integerText(type, value)})`;
  const array = /^Array\((\w+)\)$/.exec(type);
  if (array && (array[1] === 'String' || array[1] in INTEGER_RANGES)) {
    if (!Array.isArray(value)) throw new Error(`not an array for ${type}`);
    const item = array[1];
    const items = value.map((v) => (item === 'String' ? sqlLiteral('String', v) : integerText(item, v)));
    return `CAST([${items.join(',')}] AS ${type})`;
  }
  throw new Error(`no literal for type ${type}`);
}
