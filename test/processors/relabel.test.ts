import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Batch, Labels } from '../../core/model.ts';
import { applyRules, compileRules, type RelabelConfig } from '../../core/relabel/rules.ts';
import { factory } from '../../processors/relabel/index.ts';

function run(labels: Labels, rules: RelabelConfig[]): Labels | null {
  return applyRules(labels, compileRules(rules));
}

/** Independent of the implementation: md5 digest bytes 8..16 as a big-endian uint64. */
function expectedHashMod(value: string, modulus: number): string {
  const digest = createHash('md5').update(Buffer.from(value, 'utf8')).digest();
  let n = 0n;
  for (let i = 8; i < 16; i++) n = (n << 8n) | BigInt(digest[i]);
  return (n % BigInt(modulus)).toString();
}

interface Case {
  name: string;
  input: Labels;
  rules: RelabelConfig[];
  want: Labels | null;
}

const cases: Case[] = [
  // replace
  {
    name: 'replace copies a captured group',
    input: { service_name: 'checkout-canary' },
    rules: [{ source_labels: ['service_name'], regex: '(.*)-canary', target_label: 'base' }],
    want: { service_name: 'checkout-canary', base: 'checkout' },
  },
  {
    name: 'replace with a fixed replacement (README example)',
    input: { service_name: 'checkout-canary' },
    rules: [{ source_labels: ['service_name'], regex: '(.*)-canary', target_label: 'track', replacement: 'canary' }],
    want: { service_name: 'checkout-canary', track: 'canary' },
  },
  {
    name: 'replace is a no-op when the regex misses',
    input: { a: 'boo' },
    rules: [{ source_labels: ['a'], regex: 'f', target_label: 'b', replacement: 'bar' }],
    want: { a: 'boo' },
  },
  {
    name: 'replace joins source labels with the separator; missing labels count as empty',
    input: { a: 'x', c: 'z' },
    rules: [{ source_labels: ['a', 'missing', 'c'], separator: '|', target_label: 'joined' }],
    want: { a: 'x', c: 'z', joined: 'x||z' },
  },
  {
    name: 'replace default separator is ;',
    input: { a: 'x', b: 'y' },
    rules: [{ source_labels: ['a', 'b'], regex: 'x;(y)', target_label: 'out' }],
    want: { a: 'x', b: 'y', out: 'y' },
  },
  {
    name: 'replace fast path sets a constant label without source labels',
    input: { a: 'x' },
    rules: [{ target_label: 'env', replacement: 'prod' }],
    want: { a: 'x', env: 'prod' },
  },
  {
    name: 'replace fast path with an empty replacement deletes the target',
    input: { a: 'x', env: 'dev' },
    rules: [{ target_label: 'env', replacement: '' }],
    want: { a: 'x' },
  },
  {
    name: 'replace with an empty expansion deletes the target',
    input: { a: 'foo', b: 'old' },
    rules: [{ source_labels: ['a'], regex: 'foo(.*)', target_label: 'b' }],
    want: { a: 'foo' },
  },
  {
    name: 'replace expands the target label from groups',
    input: { a: 'env=prod' },
    rules: [{ source_labels: ['a'], regex: '(\\w+)=(\\w+)', target_label: 'tag_$1', replacement: '$2' }],
    want: { a: 'env=prod', tag_env: 'prod' },
  },
  {
    name: 'replace with an expanded target that is not a valid name is a no-op',
    input: { a: 'foo-bar' },
    rules: [{ source_labels: ['a'], target_label: '${1}', replacement: 'x' }],
    want: { a: 'foo-bar' },
  },
  {
    name: 'replace: group 2 absent in the regex expands to empty, deleting the (absent) target',
    input: { a: 'foo', f: 'baz' },
    rules: [{ source_labels: ['a'], regex: '(f).*', target_label: '$1', replacement: '$2' }],
    want: { a: 'foo' },
  },
  {
    name: 'named groups with (?P<name>) and ${name}/$name',
    input: { service_name: 'checkout-v2' },
    rules: [
      {
        source_labels: ['service_name'],
        regex: '(?P<svc>.+)-(?P<ver>v[0-9]+)',
        target_label: 'desc',
        replacement: '$ver of ${svc}',
      },
    ],
    want: { service_name: 'checkout-v2', desc: 'v2 of checkout' },
  },
  {
    name: 'a group that did not participate expands to empty',
    input: { a: 'y' },
    rules: [{ source_labels: ['a'], regex: '(x)|(y)', target_label: 'out', replacement: '[$1][$2]' }],
    want: { a: 'y', out: '[][y]' },
  },
  {
    name: '${1}x is group 1 then x',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: 'a${1}x' }],
    want: { a: 'foo', out: 'afoox' },
  },
  {
    name: '$1x is the (absent) group named 1x, so empty',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: 'a$1x' }],
    want: { a: 'foo', out: 'a' },
  },
  {
    name: '$10 is group ten, not group one followed by 0',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: '<$10>' }],
    want: { a: 'foo', out: '<>' },
  },
  {
    name: '$$ is a literal dollar',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: 'cost $$1 and $${1} and $$$1' }],
    want: { a: 'foo', out: 'cost $1 and ${1} and $foo' },
  },
  {
    name: 'malformed references keep their $ literally',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: '${1 $- ${} $' }],
    want: { a: 'foo', out: '${1 $- ${} $' },
  },
  {
    name: 'JavaScript replace() patterns have no special meaning',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: "$&$'$`$<x>" }],
    want: { a: 'foo', out: "$&$'$`$<x>" },
  },
  {
    name: 'a group with a leading zero is looked up by name',
    input: { a: 'foo' },
    rules: [{ source_labels: ['a'], target_label: 'out', replacement: 'x${01}y' }],
    want: { a: 'foo', out: 'xy' },
  },
  {
    name: 'dot matches newlines',
    input: { a: 'foo\nbar' },
    rules: [{ source_labels: ['a'], regex: 'foo.(bar)', target_label: 'out' }],
    want: { a: 'foo\nbar', out: 'bar' },
  },
  // anchoring
  {
    name: 'keep: regex foo does not match foobar (anchored)',
    input: { a: 'foobar' },
    rules: [{ source_labels: ['a'], regex: 'foo', action: 'keep' }],
    want: null,
  },
  {
    name: 'drop: regex foo does not match foobar (anchored)',
    input: { a: 'foobar' },
    rules: [{ source_labels: ['a'], regex: 'foo', action: 'drop' }],
    want: { a: 'foobar' },
  },
  {
    name: 'replace: regex bar does not match foobar (anchored at the start too)',
    input: { a: 'foobar' },
    rules: [{ source_labels: ['a'], regex: 'bar', target_label: 'b', replacement: 'hit' }],
    want: { a: 'foobar' },
  },
  // keep / drop
  {
    name: 'keep on a match',
    input: { __name__: 'process_cpu', service_name: 'x' },
    rules: [{ source_labels: ['__name__'], regex: 'process_.*', action: 'keep' }],
    want: { __name__: 'process_cpu', service_name: 'x' },
  },
  {
    name: 'drop on a match',
    input: { __name__: 'memory' },
    rules: [{ source_labels: ['__name__'], regex: 'memory|goroutines', action: 'drop' }],
    want: null,
  },
  {
    name: 'action names are case-insensitive',
    input: { a: 'x' },
    rules: [{ source_labels: ['a'], regex: 'x', action: 'DROP' }],
    want: null,
  },
  {
    name: 'keep on a missing label matches the empty string',
    input: { a: 'x' },
    rules: [{ source_labels: ['missing'], regex: '', action: 'keep' }],
    want: { a: 'x' },
  },
  {
    name: 'the first drop ends processing; earlier rules ran',
    input: { a: 'x' },
    rules: [
      { target_label: 'b', replacement: 'y' },
      { source_labels: ['b'], regex: 'y', action: 'drop' },
      { target_label: 'c', replacement: 'z' },
    ],
    want: null,
  },
  {
    name: 'rules apply in order, each seeing the previous result',
    input: { a: 'x' },
    rules: [
      { source_labels: ['a'], target_label: 'b', replacement: '${1}1' },
      { source_labels: ['b'], target_label: 'c', replacement: '${1}2' },
    ],
    want: { a: 'x', b: 'x1', c: 'x12' },
  },
  // keepequal / dropequal
  {
    name: 'keepequal keeps when target equals the joined value',
    input: { __tmp_port: '1234', port: '1234' },
    rules: [{ source_labels: ['__tmp_port'], target_label: 'port', action: 'keepequal' }],
    want: { __tmp_port: '1234', port: '1234' },
  },
  {
    name: 'keepequal drops when they differ',
    input: { __tmp_port: '1234', port: '9999' },
    rules: [{ source_labels: ['__tmp_port'], target_label: 'port', action: 'keepequal' }],
    want: null,
  },
  {
    name: 'dropequal drops when they are equal',
    input: { __tmp_port: '1234', port: '1234' },
    rules: [{ source_labels: ['__tmp_port'], target_label: 'port', action: 'dropequal' }],
    want: null,
  },
  {
    name: 'dropequal keeps when they differ; a missing target counts as empty',
    input: { __tmp_port: '1234' },
    rules: [{ source_labels: ['__tmp_port'], target_label: 'port', action: 'dropequal' }],
    want: { __tmp_port: '1234' },
  },
  // hashmod (expected values are the ones Prometheus' own tests assert)
  {
    name: 'hashmod of "baz" modulo 1000 is 976',
    input: { a: 'foo', b: 'bar', c: 'baz' },
    rules: [{ source_labels: ['c'], target_label: 'd', action: 'hashmod', modulus: 1000 }],
    want: { a: 'foo', b: 'bar', c: 'baz', d: '976' },
  },
  {
    name: 'hashmod of "foo\\nbar" modulo 1000 is 734',
    input: { a: 'foo\nbar' },
    rules: [{ source_labels: ['a'], target_label: 'b', action: 'hashmod', modulus: 1000 }],
    want: { a: 'foo\nbar', b: '734' },
  },
  // labelmap / labeldrop / labelkeep
  {
    name: 'labelmap copies matching names and keeps the originals',
    input: { a: 'foo', b1: 'bar', b2: 'baz' },
    rules: [{ regex: '(b.*)', replacement: 'bar_${1}', action: 'labelmap' }],
    want: { a: 'foo', b1: 'bar', b2: 'baz', bar_b1: 'bar', bar_b2: 'baz' },
  },
  {
    name: 'labelmap with the default replacement strips a prefix',
    input: { __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', a: 'foo' },
    rules: [{ regex: '__meta_(my.*)', action: 'labelmap' }],
    want: { __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', a: 'foo', my_bar: 'aaa', my_baz: 'bbb' },
  },
  {
    name: 'labelmap does not re-map names it created in the same rule',
    input: { x: '1' },
    rules: [{ regex: '(.*)', replacement: '${1}_copy', action: 'labelmap' }],
    want: { x: '1', x_copy: '1' },
  },
  {
    name: 'labeldrop removes matching names (anchored)',
    input: { a: '1', ab: '2', b: '3' },
    rules: [{ regex: 'a', action: 'labeldrop' }],
    want: { ab: '2', b: '3' },
  },
  {
    name: 'labelkeep removes names that do not match',
    input: { a: '1', ab: '2', b: '3', service_name: 's' },
    rules: [{ regex: 'a.*|service_name', action: 'labelkeep' }],
    want: { a: '1', ab: '2', service_name: 's' },
  },
  {
    name: 'labelkeep can remove every label (an empty set, not a drop)',
    input: { a: '1' },
    rules: [{ regex: 'nothing', action: 'labelkeep' }],
    want: {},
  },
  // lowercase / uppercase
  {
    name: 'lowercase',
    input: { a: 'FooBAR', b: 'Baz' },
    rules: [{ source_labels: ['a', 'b'], separator: '-', target_label: 'lower', action: 'lowercase' }],
    want: { a: 'FooBAR', b: 'Baz', lower: 'foobar-baz' },
  },
  {
    name: 'uppercase',
    input: { a: 'FooBAR' },
    rules: [{ source_labels: ['a'], target_label: 'upper', action: 'uppercase' }],
    want: { a: 'FooBAR', upper: 'FOOBAR' },
  },
  {
    name: 'case mapping is per code point, like Go (no ß→SS, no final sigma)',
    input: { a: 'Straße', b: 'ΟΔΟΣ' },
    rules: [
      { source_labels: ['a'], target_label: 'upper', action: 'uppercase' },
      { source_labels: ['b'], target_label: 'lower', action: 'lowercase' },
    ],
    want: { a: 'Straße', b: 'ΟΔΟΣ', upper: 'STRAßE', lower: 'οδοσ' },
  },
  {
    name: 'lowercase of an empty value deletes the target',
    input: { a: 'x', t: 'old' },
    rules: [{ source_labels: ['missing'], target_label: 't', action: 'lowercase' }],
    want: { a: 'x' },
  },
  // label names beyond JavaScript's object semantics
  {
    name: '__proto__ is an ordinary label name',
    input: { a: 'x' },
    rules: [{ source_labels: ['a'], target_label: '__proto__' }],
    want: JSON.parse('{"a":"x","__proto__":"x"}'),
  },
];

describe('relabel rules', () => {
  for (const c of cases) {
    test(c.name, () => {
      const input = structuredClone(c.input);
      const got = run(input, c.rules);
      assert.deepEqual(got, c.want);
      assert.deepEqual(input, c.input, 'input labels must not be mutated');
    });
  }

  test('hashmod agrees with an independent md5 computation', () => {
    const rules = compileRules([{ source_labels: ['a', 'b'], target_label: 'shard', action: 'hashmod', modulus: 7 }]);
    for (const [a, b] of [['x', 'y'], ['pod-1', 'ns'], ['', ''], ['ünïcødé', '🔥']]) {
      const got = applyRules({ a, b }, rules);
      assert.equal(got?.shard, expectedHashMod(`${a};${b}`, 7), `${a};${b}`);
    }
    assert.equal(expectedHashMod('baz', 1000), '976');
  });

  test('hashmod handles a modulus above 2^32', () => {
    const modulus = 2 ** 40 + 15;
    const got = run({ a: 'x' }, [{ source_labels: ['a'], target_label: 'h', action: 'hashmod', modulus }]);
    assert.equal(got?.h, expectedHashMod('x', modulus));
  });

  test('a regex that backtracks catastrophically elsewhere finishes quickly (RE2 is linear)', () => {
    const evil = 'a'.repeat(50_000) + 'b';
    const started = performance.now();
    assert.equal(run({ a: evil }, [{ source_labels: ['a'], regex: '(a+)+$', action: 'keep' }]), null);
    const replaced = run({ a: evil }, [{ source_labels: ['a'], regex: '(a+)+$', target_label: 'b', replacement: 'x' }]);
    assert.deepEqual(replaced, { a: evil });
    const matched = run({ a: evil }, [{ source_labels: ['a'], regex: '((a+)+)b', target_label: 'n' }]);
    assert.equal(matched?.n.length, 50_000);
    assert.ok(performance.now() - started < 5_000, `took ${performance.now() - started} ms`);
  });

  test('compiled rules are reusable across label sets', () => {
    const rules = compileRules([{ source_labels: ['a'], regex: '(.)(.)', target_label: 'b', replacement: '$2$1' }]);
    assert.deepEqual(applyRules({ a: 'xy' }, rules), { a: 'xy', b: 'yx' });
    assert.deepEqual(applyRules({ a: 'pq' }, rules), { a: 'pq', b: 'qp' });
    assert.deepEqual(applyRules({ a: 'long' }, rules), { a: 'long' });
  });

  test('no rules returns an equal copy', () => {
    const input = { a: '1' };
    const got = applyRules(input, compileRules([]));
    assert.deepEqual(got, input);
    assert.notEqual(got, input);
  });
});

describe('relabel config validation', () => {
  const bad: Array<{ name: string; rules: RelabelConfig[]; message: RegExp }> = [
    { name: 'unknown action', rules: [{ target_label: 'ok', replacement: 'x' }, { action: 'rename' }], message: /rule 1: action: unknown relabel action "rename"/ },
    { name: 'empty action', rules: [{ action: '', target_label: 'x' }], message: /rule 0: action: must not be empty/ },
    { name: 'replace without target_label', rules: [{ source_labels: ['a'] }], message: /rule 0: target_label: required for replace/ },
    {
      name: 'lowercase without target_label',
      rules: [{ source_labels: ['a'], action: 'Lowercase' }],
      message: /rule 0: target_label: required for lowercase/,
    },
    {
      name: 'keepequal without target_label',
      rules: [{ source_labels: ['a'], action: 'keepequal' }],
      message: /rule 0: target_label: required for keepequal/,
    },
    {
      name: 'hashmod with zero modulus',
      rules: [{ source_labels: ['a'], target_label: 'h', action: 'hashmod', modulus: 0 }],
      message: /rule 0: modulus: .*non-zero/,
    },
    {
      name: 'hashmod without modulus',
      rules: [{ source_labels: ['a'], target_label: 'h', action: 'hashmod' }],
      message: /rule 0: modulus/,
    },
    { name: 'invalid regex', rules: [{ regex: '(unclosed', action: 'drop' }], message: /rule 0: regex: invalid regular expression "\(unclosed"/ },
    { name: 'lookahead is not RE2', rules: [{ regex: 'a(?=b)', action: 'drop' }], message: /rule 0: regex/ },
    { name: 'regex escaping its anchors', rules: [{ regex: 'a)|(b', action: 'drop' }], message: /rule 0: regex/ },
    {
      name: 'replacement with lowercase',
      rules: [{ source_labels: ['a'], target_label: 'b', replacement: 'x', action: 'lowercase' }],
      message: /rule 0: replacement: must not be set for lowercase/,
    },
    {
      name: 'regex with keepequal',
      rules: [{ source_labels: ['a'], target_label: 'b', regex: 'x', action: 'keepequal' }],
      message: /rule 0: regex: keepequal action allows only source_labels and target_label/,
    },
    {
      name: 'separator with dropequal',
      rules: [{ source_labels: ['a'], target_label: 'b', separator: ',', action: 'dropequal' }],
      message: /rule 0: separator: dropequal/,
    },
    {
      name: 'source_labels with labeldrop',
      rules: [{ source_labels: ['a'], regex: 'x', action: 'labeldrop' }],
      message: /rule 0: source_labels: labeldrop action allows only regex/,
    },
    {
      name: 'target_label with labelkeep',
      rules: [{ target_label: 'a', regex: 'x', action: 'labelkeep' }],
      message: /rule 0: target_label: labelkeep action allows only regex/,
    },
    {
      name: 'invalid literal target label',
      rules: [{ source_labels: ['a'], target_label: 'not-valid' }],
      message: /rule 0: target_label: "not-valid" is invalid/,
    },
    {
      name: 'invalid hashmod target label',
      rules: [{ source_labels: ['a'], target_label: '1x', action: 'hashmod', modulus: 2 }],
      message: /rule 0: target_label/,
    },
    {
      name: 'invalid labelmap replacement',
      rules: [{ regex: '(.*)', replacement: 'a-$1', action: 'labelmap' }],
      message: /rule 0: replacement/,
    },
    {
      name: 'invalid source label name',
      rules: [{ source_labels: ['ok', 'bad name'], target_label: 'x' }],
      message: /rule 0: source_labels\[1\]/,
    },
    {
      name: 'negative modulus',
      rules: [{ source_labels: ['a'], target_label: 'h', action: 'hashmod', modulus: -1 }],
      message: /rule 0: modulus/,
    },
  ];
  for (const c of bad) {
    test(c.name, () => {
      assert.throws(
        () => compileRules(c.rules),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, c.message);
          return true;
        },
      );
    });
  }

  test('templated target labels are accepted for replace', () => {
    assert.doesNotThrow(() => compileRules([{ source_labels: ['a'], target_label: 'x_${1}_$name' }]));
  });

  test('explicit defaults are allowed where other fields are forbidden', () => {
    assert.doesNotThrow(() =>
      compileRules([
        { source_labels: ['a'], target_label: 'b', separator: ';', replacement: '$1', action: 'keepequal' },
        { regex: 'x', separator: ';', replacement: '$1', action: 'labeldrop' },
      ]),
    );
  });
});

function batch(labels: Labels, tenant = 'team-a'): Batch {
  return {
    tenant,
    labels,
    idempotencyKey: 'k1',
    profile: {
      sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
      periodType: { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: 1_700_000_000_000_000_000n,
      durationNanos: 10_000_000_000n,
      names: ['', 'main'],
      stacks: [Uint32Array.of(1)],
      samples: [{ stack: 0, values: [5], labelSet: 0 }],
      sampleLabelSets: [{}],
    },
  };
}

async function droppedCount(registry: Registry, processor: string): Promise<number> {
  const metric = registry.getSingleMetric('hearth_processor_relabel_dropped_total');
  assert.ok(metric, 'dropped counter is registered');
  const data = await metric.get();
  return data.values.find((v) => v.labels.processor === processor)?.value ?? 0;
}

describe('relabel processor factory', () => {
  const logger = pino({ level: 'silent' });

  test('describes itself', () => {
    assert.equal(factory.type, 'relabel');
    assert.equal(factory.kind, 'processor');
    assert.equal(factory.stability, 'beta');
    assert.deepEqual(factory.signals, ['profiles']);
    assert.deepEqual(factory.defaultConfig(), { rules: [] });
    assert.ok(factory.schema.safeParse(factory.defaultConfig()).success);
  });

  test('schema rejects unknown keys and reports rule errors', () => {
    assert.equal(factory.schema.safeParse({ rules: [], extra: 1 }).success, false);
    assert.equal(factory.schema.safeParse({ rules: [{ sourceLabels: ['a'] }] }).success, false);
    assert.equal(factory.schema.safeParse({ rules: [{ action: 'keep', modulus: 1.5 }] }).success, false);
    const bad = factory.schema.safeParse({ rules: [{ action: 'nope' }] });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /rule 0: action/);
    const good = factory.schema.safeParse({
      rules: [{ source_labels: ['service_name'], regex: '(.*)-canary', target_label: 'track', replacement: 'canary' }],
    });
    assert.ok(good.success);
  });

  test('create() throws on invalid rules', () => {
    const registry = new Registry();
    assert.throws(
      () => factory.create({ id: 'relabel', logger, metrics: registry }, { rules: [{ action: 'hashmod', target_label: 'x' }] }),
      /relabel rule 0: modulus/,
    );
  });

  test('rewrites labels, keeps the tenant and profile, counts drops', async () => {
    const registry = new Registry();
    const processor = factory.create(
      { id: 'relabel/prod', logger, metrics: registry },
      {
        rules: [
          { source_labels: ['__name__'], regex: 'memory', action: 'drop' },
          { source_labels: ['service_name'], regex: '(.*)-canary', target_label: 'track', replacement: 'canary' },
          { regex: 'tenant|__tenant__', action: 'labeldrop' },
        ],
      },
    );
    await processor.start({} as never);

    const input = batch({ __name__: 'process_cpu', service_name: 'shop-canary', tenant: 'spoof' });
    const out = await processor.process(input);
    assert.ok(out);
    assert.deepEqual(out.labels, { __name__: 'process_cpu', service_name: 'shop-canary', track: 'canary' });
    assert.equal(out.tenant, 'team-a');
    assert.equal(out.profile, input.profile);
    assert.equal(out.idempotencyKey, 'k1');
    assert.deepEqual(input.labels, { __name__: 'process_cpu', service_name: 'shop-canary', tenant: 'spoof' });
    assert.equal(await droppedCount(registry, 'relabel/prod'), 0);

    assert.equal(await processor.process(batch({ __name__: 'memory', service_name: 'shop' })), null);
    assert.equal(await droppedCount(registry, 'relabel/prod'), 1);
    assert.equal(await processor.process(batch({ __name__: 'memory', service_name: 'other' })), null);
    assert.equal(await droppedCount(registry, 'relabel/prod'), 2);
    await processor.shutdown();
  });

  test('a batch left without labels is dropped and counted', async () => {
    const registry = new Registry();
    const processor = factory.create(
      { id: 'relabel/strip', logger, metrics: registry },
      { rules: [{ regex: 'keep_me', action: 'labelkeep' }] },
    );
    assert.equal(await processor.process(batch({ a: '1', b: '2' })), null);
    assert.equal(await droppedCount(registry, 'relabel/strip'), 1);
    const kept = await processor.process(batch({ keep_me: 'y', b: '2' }));
    assert.deepEqual(kept?.labels, { keep_me: 'y' });
    assert.equal(await droppedCount(registry, 'relabel/strip'), 1);
  });

  test('two processors share one registry without a double-registration error', async () => {
    const registry = new Registry();
    const dropAll = [{ source_labels: ['a'], regex: '.*', action: 'drop' }];
    const first = factory.create({ id: 'relabel/one', logger, metrics: registry }, { rules: dropAll });
    const second = factory.create({ id: 'relabel/two', logger, metrics: registry }, { rules: dropAll });
    const again = factory.create({ id: 'relabel/one', logger, metrics: registry }, { rules: dropAll });
    await first.process(batch({ a: 'x' }));
    await second.process(batch({ a: 'x' }));
    await second.process(batch({ a: 'x' }));
    await again.process(batch({ a: 'x' }));
    assert.equal(await droppedCount(registry, 'relabel/one'), 2);
    assert.equal(await droppedCount(registry, 'relabel/two'), 2);
  });
});
