import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { Factory, Signal } from '../../core/component.ts';
import { ConfigError, loadConfig, parseConfig, type Env } from '../../core/config.ts';
import { Registry } from '../../core/registry.ts';
import { defaultLimits } from '../../core/limits/index.ts';
import { builtinComponents } from '../../components.ts';

// Fake factories: only what the loader reads (type, kind, signals, schema, defaults) matters.
function fake(kind: Factory['kind'], type: string, schema: z.ZodType, defaults: () => unknown, signals: Signal[] = ['profiles']): Factory {
  const create = () => {
    throw new Error('the config loader must never create components');
  };
  return { kind, type, stability: 'development', signals, schema, defaultConfig: defaults, create } as unknown as Factory;
}

const pyroscopeSchema = z
  .object({ endpoint: z.string(), limits: z.object({ max: z.number() }).strict() })
  .strict();
const scrapeSchema = z.object({ targets: z.array(z.string()), interval: z.string() }).strict();
const relabelSchema = z
  .object({ rules: z.array(z.object({ source: z.string(), target: z.string() }).strict()) })
  .strict();
const clickhouseSchema = z
  .object({
    path: z.string(),
    auth: z.object({ user: z.string(), password: z.string() }).strict().optional(),
    mode: z.enum(['embedded', 'server']),
  })
  .strict();

function registry(): Registry {
  return new Registry()
    .register(fake('receiver', 'pyroscope', pyroscopeSchema, () => ({ endpoint: ':4040', limits: { max: 4096 } })))
    .register(fake('receiver', 'scrape', scrapeSchema, () => ({ interval: '15s' })))
    .register(fake('processor', 'relabel', relabelSchema, () => ({ rules: [] })))
    .register(fake('exporter', 'clickhouse', clickhouseSchema, () => ({ path: './data', mode: 'embedded' })))
    .register(fake('exporter', 'blackhole', z.object({}).strict(), () => ({}), []))
    .register(fake('extension', 'api', z.object({ base_path: z.string() }).strict(), () => ({ base_path: '/' })));
}

const dir = mkdtempSync(join(tmpdir(), 'hearth-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes the lines as a config file; line N of the file is element N-1. */
function write(...lines: string[]): string {
  const file = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function load(file: string, env: Env = {}) {
  return loadConfig(file, registry(), env);
}

function errorsOf(file: string, env: Env = {}): string[] {
  try {
    load(file, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.errors.join('\n'));
    return err.errors;
  }
  assert.fail('expected the config to be rejected');
}

/** A minimal valid tail so that each error test only has the one problem it is about. */
const PIPELINE = [
  'service:',
  '  pipelines:',
  '    profiles:',
  '      receivers: [pyroscope]',
  '      exporters: [clickhouse]',
];

describe('config errors name the file, the line and the key', () => {
  test('unknown component type lists the known types', () => {
    const f = write(
      'receivers:', //               1
      '  pyroscopee:', //            2
      'exporters:', //               3
      '  clickhouse:', //            4
      'service:', //                 5
      '  pipelines:', //             6
      '    profiles:', //            7
      '      receivers: [pyroscopee]', // 8
      '      exporters: [clickhouse]', // 9
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:2: receivers.pyroscopee: unknown receiver type "pyroscopee"; known receiver types: pyroscope, scrape`,
    ]);
  });

  test('unknown key inside a nested mapping is reported on its own line', () => {
    const f = write(
      'receivers:', //       1
      '  pyroscope/main:', // 2
      '    endpoint: ":1"', // 3
      '    limits:', //      4
      '      max: 10', //    5
      '      foo: 1', //     6
      'exporters:', //       7
      '  clickhouse:', //    8
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope/main]',
      '      exporters: [clickhouse]',
    );
    assert.deepEqual(errorsOf(f), [`${f}:6: receivers.pyroscope/main.limits.foo: unknown key "foo"`]);
  });

  test('wrong type', () => {
    const f = write(
      'receivers:', //     1
      '  pyroscope:', //   2
      '    limits:', //    3
      '      max: big', // 4
      'exporters:',
      '  clickhouse:',
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [`${f}:4: receivers.pyroscope.limits.max: expected number, got string`]);
  });

  test('a value outside an enum names the allowed values', () => {
    const f = write(
      'receivers:', //        1
      '  pyroscope:', //      2
      'exporters:', //        3
      '  clickhouse:', //     4
      '    mode: cluster', // 5
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:5: exporters.clickhouse.mode: expected one of "embedded", "server", got "cluster"`,
    ]);
  });

  test('missing field is reported at the line of the mapping that should hold it', () => {
    const f = write(
      'receivers:', //          1
      '  pyroscope:', //        2
      '  scrape/go:', //        3
      '    interval: 10s', //   4
      'exporters:', //          5
      '  clickhouse:', //       6
      '    auth:', //           7
      '      user: default', // 8
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope, scrape/go]',
      '      exporters: [clickhouse]',
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:3: receivers.scrape/go.targets: missing required field`,
      `${f}:7: exporters.clickhouse.auth.password: missing required field`,
    ]);
  });

  test('a component that no pipeline uses is an error', () => {
    const f = write(
      'receivers:', //      1
      '  pyroscope:', //    2
      'exporters:', //      3
      '  clickhouse:', //   4
      '  clickhouse/b:', // 5
      'extensions:', //     6
      '  api:', //          7
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:5: exporters.clickhouse/b: exporter "clickhouse/b" is defined but is not used by any pipeline`,
      `${f}:7: extensions.api: extension "api" is defined but is not listed in service.extensions`,
    ]);
  });

  test('a pipeline referencing an undefined component points at the reference', () => {
    const f = write(
      'receivers:', //                              1
      '  pyroscope:', //                            2
      'exporters:', //                              3
      '  clickhouse:', //                           4
      'service:', //                                5
      '  pipelines:', //                            6
      '    profiles:', //                           7
      '      receivers: [pyroscope]', //            8
      '      processors:', //                       9
      '        - relabel', //                       10
      '      exporters: [clickhouse, clickhous]', // 11
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:10: service.pipelines.profiles.processors.0: processor "relabel" is not defined in processors`,
      `${f}:11: service.pipelines.profiles.exporters.1: exporter "clickhous" is not defined in exporters (defined: clickhouse)`,
    ]);
  });

  test('unknown top-level key', () => {
    const f = write(
      'receivers:', //   1
      '  pyroscope:', // 2
      'exporter:', //    3
      '  clickhouse:', // 4
      'exporters:', //   5
      '  clickhouse:', // 6
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:3: exporter: unknown key "exporter" (allowed at the top level: receivers, processors, exporters, extensions, service)`,
    ]);
  });

  test('bad component IDs', () => {
    const f = write(
      'receivers:', //         1
      '  pyroscope:', //       2
      '  pyroscope/:', //      3
      '  9lives:', //          4
      '  pyroscope/a/b:', //   5
      'exporters:',
      '  clickhouse:',
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:3: receivers.pyroscope/: invalid component ID "pyroscope/": the name after "/" must be non-empty and contain no "/"`,
      `${f}:4: receivers.9lives: invalid component ID "9lives": the type must start with a letter and hold only letters, digits and "_"`,
      `${f}:5: receivers.pyroscope/a/b: invalid component ID "pyroscope/a/b": the name after "/" must be non-empty and contain no "/"`,
    ]);
  });

  test('bad signal name', () => {
    const f = write(
      'receivers:', //                 1
      '  pyroscope:', //               2
      'exporters:', //                 3
      '  clickhouse:', //              4
      'service:', //                   5
      '  pipelines:', //               6
      '    metrics/x:', //             7
      '      receivers: [pyroscope]', // 8
      '      exporters: [clickhouse]', // 9
    );
    assert.deepEqual(errorsOf(f), [`${f}:7: service.pipelines.metrics/x: unknown signal "metrics"; known signals: profiles, traces`]);
  });

  test('YAML syntax error', () => {
    const f = write(
      'receivers:', //              1
      '  pyroscope:', //            2
      '    endpoint: a: b', //      3
      'exporters:',
      '  clickhouse:',
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [`${f}:3: Nested mappings are not allowed in compact mappings`]);
  });

  test('duplicate keys are reported on the second occurrence', () => {
    const f = write(
      'receivers:', //        1
      '  pyroscope:', //      2
      '  pyroscope:', //      3
      '    endpoint: a', //   4
      '    endpoint: b', //   5
      'exporters:',
      '  clickhouse:',
      ...PIPELINE,
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:3: receivers.pyroscope: duplicate key "pyroscope" (first defined on line 2)`,
      `${f}:5: receivers.pyroscope.endpoint: duplicate key "endpoint" (first defined on line 4)`,
    ]);
  });

  test('undefined environment variable', () => {
    const f = write(
      'receivers:', //                        1
      '  pyroscope:', //                      2
      '    endpoint: ${env:HEARTH_NOPE}', //  3
      '    limits:', //                       4
      '      max: ${HEARTH_MAX}', //          5
      'exporters:',
      '  clickhouse:',
      ...PIPELINE,
    );
    // The leftover `${...}` text would also fail `max: number`; only the cause is reported.
    assert.deepEqual(errorsOf(f, { HEARTH_SET: 'x' }), [
      `${f}:3: receivers.pyroscope.endpoint: environment variable "HEARTH_NOPE" is not defined`,
      `${f}:5: receivers.pyroscope.limits.max: environment variable "HEARTH_MAX" is not defined`,
    ]);
  });

  test('unsupported config providers are rejected', () => {
    const f = write('receivers:', '  pyroscope:', '    endpoint: ${file:/etc/x}', 'exporters:', '  clickhouse:', ...PIPELINE);
    assert.deepEqual(errorsOf(f), [
      `${f}:3: receivers.pyroscope.endpoint: cannot expand "\${file:/etc/x}": only the env provider is supported, not "file"`,
    ]);
  });

  test('pipeline rules: empty lists, duplicates, signals, extensions and no pipelines', () => {
    const f = write(
      'receivers:', //                                   1
      '  pyroscope:', //                                 2
      'exporters:', //                                   3
      '  clickhouse:', //                                4
      '  blackhole:', //                                 5
      'service:', //                                     6
      '  extensions: [api]', //                          7
      '  pipelines:', //                                 8
      '    profiles:', //                                9
      '      receivers: []', //                          10
      '      exporters: [clickhouse, blackhole]', //     11
      '    profiles/2:', //                              12
      '      receivers: [pyroscope, pyroscope]', //      13
      '      exporters: [clickhouse]', //                14
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:7: service.extensions.0: extension "api" is not defined in extensions`,
      `${f}:10: service.pipelines.profiles.receivers: a pipeline needs at least one receiver`,
      `${f}:11: service.pipelines.profiles.exporters.1: exporter "blackhole" does not support signal "profiles" (it supports: none)`,
      `${f}:13: service.pipelines.profiles/2.receivers.1: "pyroscope" is listed more than once`,
    ]);

    const empty = write('receivers:', '  pyroscope:', 'service:', '  pipelines: {}');
    assert.deepEqual(errorsOf(empty), [
      `${empty}:4: service.pipelines: no pipelines are defined; at least one is required`,
    ]);
    const none = write('# nothing here');
    assert.deepEqual(errorsOf(none), [`${none}:1: service: missing required field`]);
  });

  test('every error in a file is reported at once, in line order', () => {
    const f = write(
      'receivers:', //            1
      '  pyroscope:', //          2
      '    limits: {max: x}', //  3
      'exporters:', //            4
      '  clickhouse:', //         5
      '    bogus: 1', //          6
      'service:', //              7
      '  http:', //               8
      '    endpoint: 4040', //    9
      '  telemetry:', //          10
      '    logs: {level: loud}', // 11
      '  pipelines:', //          12
      '    profiles:', //         13
      '      receivers: [pyroscope]', // 14
      '      exporters: [clickhouse]', // 15
    );
    assert.deepEqual(errorsOf(f), [
      `${f}:3: receivers.pyroscope.limits.max: expected number, got string`,
      `${f}:6: exporters.clickhouse.bogus: unknown key "bogus"`,
      `${f}:9: service.http.endpoint: expected string, got number`,
      `${f}:11: service.telemetry.logs.level: expected one of "debug", "info", "warn", "error", got "loud"`,
    ]);
  });

  test('an unreadable file names the path', () => {
    const missing = join(dir, 'absent.yaml');
    const errors = errorsOf(missing);
    assert.equal(errors.length, 1);
    assert.match(errors[0], new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read the config file: `));
  });
});

describe('config resolution', () => {
  test('expands env references, with defaults and $$ escapes', () => {
    const f = write(
      'receivers:',
      '  pyroscope:',
      '    endpoint: http://${env:HOST}:${PORT}/$$path',
      '    limits:',
      '      max: ${env:MAX}',
      '  pyroscope/quoted:',
      '    endpoint: "${env:MAX}"',
      'exporters:',
      '  clickhouse:',
      '    path: ${env:DATA_DIR:-./fallback}',
      '  clickhouse/empty:',
      '    path: ${env:EMPTY:-./when-empty}',
      '    mode: ${env:MODE:-server}',
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope, pyroscope/quoted]',
      '      exporters: [clickhouse, clickhouse/empty]',
    );
    const cfg = load(f, { HOST: 'example.org', PORT: '4040', MAX: '1024', EMPTY: '' });
    assert.deepEqual(cfg.receivers.get('pyroscope')!.config, {
      endpoint: 'http://example.org:4040/$path',
      // A lone reference in a plain scalar takes the YAML type of its value.
      limits: { max: 1024 },
    });
    // Quoting keeps the value a string.
    assert.deepEqual(cfg.receivers.get('pyroscope/quoted')!.config, { endpoint: '1024', limits: { max: 4096 } });
    assert.deepEqual(cfg.exporters.get('clickhouse')!.config, { path: './fallback', mode: 'embedded' });
    assert.deepEqual(cfg.exporters.get('clickhouse/empty')!.config, { path: './when-empty', mode: 'server' });
  });

  test('defaults are merged under the user block, and a null block means defaults', () => {
    const f = write(
      'receivers:',
      '  pyroscope:',
      '    endpoint: ":9999"',
      '  scrape:',
      '    targets: [a, b]',
      'processors:',
      '  relabel:',
      'exporters:',
      '  clickhouse:',
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope, scrape]',
      '      processors: [relabel]',
      '      exporters: [clickhouse]',
    );
    const reg = registry();
    const cfg = loadConfig(f, reg, {});
    assert.deepEqual(cfg.receivers.get('pyroscope')!.config, { endpoint: ':9999', limits: { max: 4096 } });
    assert.deepEqual(cfg.receivers.get('scrape')!.config, { targets: ['a', 'b'], interval: '15s' });
    assert.deepEqual(cfg.processors.get('relabel')!.config, { rules: [] });
    assert.deepEqual(cfg.exporters.get('clickhouse')!.config, { path: './data', mode: 'embedded' });
    assert.equal(cfg.receivers.get('pyroscope')!.factory, reg.get('receiver', 'pyroscope'));
    assert.equal(cfg.receivers.get('pyroscope')!.type, 'pyroscope');
    assert.deepEqual(cfg.service, {
      extensions: [],
      http: { endpoint: '0.0.0.0:4040', maxBodyBytes: 16 * 1024 * 1024 },
      logLevel: 'info',
      logFormat: 'auto',
      limits: { defaults: defaultLimits(), overridesFile: '' },
    });
    assert.deepEqual(cfg.pipelines, [
      { id: 'profiles', signal: 'profiles', receivers: ['pyroscope', 'scrape'], processors: ['relabel'], exporters: ['clickhouse'] },
    ]);
  });

  test('arrays replace defaults rather than merging, and defaults are not mutated', () => {
    let made = 0;
    const shared = { rules: [{ source: 'a', target: 'b' }] };
    const reg = new Registry()
      .register(fake('receiver', 'pyroscope', pyroscopeSchema, () => ({ endpoint: ':1', limits: { max: 1 } })))
      .register(fake('processor', 'relabel', relabelSchema, () => (made++, shared)))
      .register(fake('exporter', 'clickhouse', clickhouseSchema, () => ({ path: 'p', mode: 'server' })));
    const text = [
      'receivers: {pyroscope: {limits: {max: 7}}}',
      'processors:',
      '  relabel:',
      '    rules: [{source: x, target: y}]',
      '  relabel/default: {}',
      'exporters: {clickhouse: {}}',
      'service:',
      '  pipelines:',
      '    profiles: {receivers: [pyroscope], processors: [relabel, relabel/default], exporters: [clickhouse]}',
    ].join('\n');
    const cfg = parseConfig(text, 'inline.yaml', reg, {});
    assert.deepEqual(cfg.processors.get('relabel')!.config, { rules: [{ source: 'x', target: 'y' }] });
    assert.deepEqual(cfg.processors.get('relabel/default')!.config, { rules: [{ source: 'a', target: 'b' }] });
    assert.deepEqual(cfg.receivers.get('pyroscope')!.config, { endpoint: ':1', limits: { max: 7 } });
    assert.deepEqual(shared, { rules: [{ source: 'a', target: 'b' }] });
    assert.equal(made, 2);
  });

  test('fan-out and fan-in resolve to pipelines that share components', () => {
    const f = write(
      'receivers:',
      '  pyroscope:',
      '  scrape:',
      '    targets: [x]',
      'processors:',
      '  relabel:',
      'exporters:',
      '  clickhouse:',
      '  clickhouse/archive:',
      'extensions:',
      '  api:',
      'service:',
      '  extensions: [api]',
      '  http:',
      '    endpoint: 127.0.0.1:5050',
      '    max_body_bytes: 1048576',
      '  telemetry:',
      '    logs:',
      '      level: debug',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope]',
      '      processors: [relabel]',
      '      exporters: [clickhouse]',
      '    profiles/archive:',
      '      receivers: [pyroscope]',
      '      exporters: [clickhouse/archive]',
      '    profiles/scrape:',
      '      receivers: [scrape]',
      '      exporters: [clickhouse]',
    );
    const cfg = load(f);
    assert.deepEqual(cfg.pipelines, [
      { id: 'profiles', signal: 'profiles', receivers: ['pyroscope'], processors: ['relabel'], exporters: ['clickhouse'] },
      { id: 'profiles/archive', signal: 'profiles', receivers: ['pyroscope'], processors: [], exporters: ['clickhouse/archive'] },
      { id: 'profiles/scrape', signal: 'profiles', receivers: ['scrape'], processors: [], exporters: ['clickhouse'] },
    ]);
    assert.deepEqual([...cfg.receivers.keys()], ['pyroscope', 'scrape']);
    assert.deepEqual([...cfg.exporters.keys()], ['clickhouse', 'clickhouse/archive']);
    assert.deepEqual([...cfg.extensions.keys()], ['api']);
    assert.deepEqual(cfg.service, {
      extensions: ['api'],
      http: { endpoint: '127.0.0.1:5050', maxBodyBytes: 1048576 },
      logLevel: 'debug',
      logFormat: 'auto',
      limits: { defaults: defaultLimits(), overridesFile: '' },
    });
    assert.equal(cfg.file, f);
  });

  test('named components of one type coexist with their own configs', () => {
    const f = write(
      'receivers:',
      '  pyroscope/a:',
      '    endpoint: ":4040"',
      '  pyroscope/b:',
      '    endpoint: ":4041"',
      '    limits: {max: 1}',
      'exporters:',
      '  clickhouse:',
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope/a, pyroscope/b]',
      '      exporters: [clickhouse]',
    );
    const cfg = load(f);
    const a = cfg.receivers.get('pyroscope/a')!;
    const b = cfg.receivers.get('pyroscope/b')!;
    assert.equal(a.id, 'pyroscope/a');
    assert.equal(b.id, 'pyroscope/b');
    assert.equal(a.type, 'pyroscope');
    assert.equal(b.type, 'pyroscope');
    assert.equal(a.factory, b.factory);
    assert.deepEqual(a.config, { endpoint: ':4040', limits: { max: 4096 } });
    assert.deepEqual(b.config, { endpoint: ':4041', limits: { max: 1 } });
  });

  test('the shipped pipelines.yaml is structurally valid', () => {
    const file = new URL('../../pipelines.yaml', import.meta.url);
    const text = readFileSync(file, 'utf8');
    const reg = new Registry()
      .register(fake('receiver', 'pyroscope', z.object({}).passthrough(), () => ({})))
      .register(fake('receiver', 'otlp', z.object({}).passthrough(), () => ({}), ['profiles', 'traces']))
      .register(fake('processor', 'relabel', z.object({}).passthrough(), () => ({})))
      .register(fake('processor', 'spanlink', z.object({}).passthrough(), () => ({})))
      .register(fake('processor', 'memory_limiter', z.object({}).passthrough(), () => ({}), ['profiles', 'traces']))
      .register(fake('exporter', 'clickhouse', z.object({}).passthrough(), () => ({}), ['profiles', 'traces']))
      .register(fake('extension', 'api', z.object({}).passthrough(), () => ({})));
    const cfg = parseConfig(text, 'pipelines.yaml', reg, {});
    assert.deepEqual(cfg.pipelines, [
      { id: 'profiles', signal: 'profiles', receivers: ['pyroscope', 'otlp'], processors: ['memory_limiter', 'relabel', 'spanlink'], exporters: ['clickhouse'] },
      { id: 'traces', signal: 'traces', receivers: ['otlp'], processors: ['memory_limiter'], exporters: ['clickhouse'] },
    ]);
    assert.deepEqual(cfg.exporters.get('clickhouse')!.config, { path: './data' });
    assert.deepEqual(cfg.service.extensions, ['api']);
    assert.equal(cfg.service.http.endpoint, '0.0.0.0:4040');
  });
});

describe('Registry', () => {
  test('looks factories up by kind and type, and refuses duplicates', () => {
    const reg = registry();
    assert.equal(reg.get('receiver', 'pyroscope')?.type, 'pyroscope');
    assert.equal(reg.get('exporter', 'pyroscope'), undefined);
    assert.deepEqual(reg.types('exporter'), ['blackhole', 'clickhouse']);
    assert.deepEqual(reg.types('processor'), ['relabel']);
    assert.throws(
      () => reg.register(fake('receiver', 'pyroscope', z.object({}), () => ({}))),
      /receiver type "pyroscope" is already registered/,
    );
    // The same type under another kind is a different component.
    reg.register(fake('exporter', 'pyroscope', z.object({}), () => ({})));
    assert.deepEqual(reg.types('exporter'), ['blackhole', 'clickhouse', 'pyroscope']);
    assert.throws(() => reg.register(fake('receiver', 'bad-type', z.object({}), () => ({}))), /bad-type/);
  });
});

describe('process-wide resources (one store per process)', () => {
  const builtin = () => builtinComponents();
  const storeFile = (exporter: string[], api: string[], extraExporter: string[] = []) =>
    write(
      'receivers:', //                                   1
      '  pyroscope: {}', //                              2
      'exporters:', //                                   3
      '  clickhouse:', //                                4
      ...exporter,
      ...extraExporter,
      'extensions:',
      '  api:' + (api.length === 0 ? ' {}' : ''),
      ...api,
      'service:',
      '  extensions: [api]',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope]',
      `      exporters: [clickhouse${extraExporter.length ? ', clickhouse/second' : ''}]`,
    );

  test('two components pointing at two embedded stores are an error naming both keys with file and line', () => {
    const f = storeFile(['    path: ./one'], ['    path: ./two']);
    let errors: string[] = [];
    try {
      loadConfig(f, builtin(), {});
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      errors = e.errors;
    }
    assert.equal(errors.length, 1, errors.join('\n'));
    // The api block starts on line 7, its path on line 8; the exporter's path is on line 5.
    assert.ok(errors[0].startsWith(`${f}:8: extensions.api.path: `), errors[0]);
    assert.match(errors[0], /two" is another chdb-data-dir than ".*one"/);
    assert.ok(errors[0].includes(`exporters.clickhouse.path (${f}:5)`), errors[0]);
  });

  test('the same directory written two ways is one store', () => {
    const cfg = loadConfig(storeFile(['    path: ./data'], ['    path: data']), builtin(), {});
    assert.equal(cfg.resources.get('chdb-data-dir'), resolve('data'));
  });

  test('an api without store settings uses the store the exporter declares', () => {
    const cfg = loadConfig(storeFile(['    path: ./elsewhere', '    retention_days: 7'], []), builtin(), {});
    const store = cfg.resources.get('store') as { path: string; retention_days: number };
    assert.equal(store.path, resolve('elsewhere'));
    assert.equal(store.retention_days, 7);
    assert.deepEqual(cfg.extensions.get('api')!.config, {});
  });

  test('a query-only process declares the store on the api', () => {
    const f = write(
      'receivers:',
      '  pyroscope: {}',
      'exporters:',
      '  debug: {}',
      'extensions:',
      '  api:',
      '    path: ./query-only',
      'service:',
      '  extensions: [api]',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope]',
      '      exporters: [debug]',
    );
    const cfg = loadConfig(f, builtin(), {});
    assert.equal(cfg.resources.get('chdb-data-dir'), resolve('query-only'));
  });

  test('an api that uses the process store when two exporters declare different ones must say which', () => {
    const f = storeFile(
      ['    url: http://one:8123'],
      [],
      ['  clickhouse/second:', '    url: http://two:8123'],
    );
    const errors = (() => {
      try {
        loadConfig(f, builtin(), {});
        return [];
      } catch (e) {
        return (e as ConfigError).errors;
      }
    })();
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /extensions\.api: uses the process's store, but exporters\.clickhouse\.url .* and exporters\.clickhouse\/second\.url .* declare different ones/);
  });

  test('the core checks claims of any factory, without knowing the resource', () => {
    const claiming = (type: string) =>
      ({
        ...fake('exporter', type, z.object({ port: z.number() }).strict(), () => ({ port: 1 })),
        claims: (c: { port: number }) => [{ resource: 'udp-port', key: 'port', value: c.port, exclusive: true }],
      }) as Factory;
    const reg = registry().register(claiming('a')).register(claiming('b'));
    const f = write(
      'receivers:',
      '  pyroscope: {}',
      'exporters:',
      '  a:',
      '    port: 5',
      '  b:',
      '    port: 6',
      'service:',
      '  pipelines:',
      '    profiles:',
      '      receivers: [pyroscope]',
      '      exporters: [a, b]',
    );
    assert.throws(() => loadConfig(f, reg, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.errors, [
        `${f}:7: exporters.b.port: 6 is another udp-port than 5 set by exporters.a.port (${f}:5); one process holds only one udp-port, so declare it once (or make them equal)`,
      ]);
      return true;
    });
    assert.equal(parseConfig(readFileSync(f, 'utf8').replace('port: 6', 'port: 5'), f, reg, {}).resources.get('udp-port'), 5);
  });
});
