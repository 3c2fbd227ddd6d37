import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Profile as PprofProfile, Label } from 'pprof-format';
import { Registry } from 'prom-client';
import type { Batch, Labels, Profile } from '../../core/model.ts';
import { factory } from '../../processors/spanlink/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { rawPprof } from '../support/pprof-reference.ts';
import { createClient } from '@connectrpc/connect';
import { QuerierService } from '../../gen/querier/v1/querier_pb.ts';
import { decodePprof, encodePprof } from '../../formats/pprof/index.ts';
import { singleNodeConfig, startHearth, tempDir } from '../support/hearth.ts';
import { ingestPprof, transportFor } from '../api/harness.ts';

function create(config = factory.defaultConfig()) {
  const metrics = new Registry();
  const parsed = factory.schema.parse(config);
  const processor = factory.create({ id: 'spanlink', logger: pino({ level: 'silent' }), metrics }, parsed);
  const invalid = async (id: 'span' | 'trace') => {
    const m = await metrics.getSingleMetric('hearth_processor_spanlink_invalid_ids_total')!.get();
    return m.values.find((v) => v.labels.id === id)?.value ?? 0;
  };
  return { processor, invalid };
}

function batchOf(profile: Profile, labels: Labels = {}): Batch {
  return {
    tenant: 'anonymous',
    labels: { service_name: 'app', __name__: 'process_cpu', ...labels },
    profile,
    idempotencyKey: 'k',
  };
}

function tinyProfile(sampleLabelSets: Labels[], samples: Profile['samples']): Profile {
  return {
    sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    timeNanos: 1_700_000_000_000_000_000n,
    durationNanos: 10_000_000_000n,
    names: ['', 'main', 'work'],
    stacks: [Uint32Array.of(2, 1), Uint32Array.of(1)],
    samples,
    sampleLabelSets,
  };
}

/** Sum of the last sample type's values per span ID (undefined key: no span). */
function totalsBySpan(p: Profile): Map<string | undefined, number> {
  const t = p.sampleTypes.length - 1;
  const out = new Map<string | undefined, number>();
  for (const s of p.samples) out.set(s.spanId, (out.get(s.spanId) ?? 0) + s.values[t]);
  return out;
}

/**
 * go.cpu.labels.pprof carries otel-profiling-go's `profile_id` span label on 475 of 480 samples.
 * This renames it to `spanID` and adds an upper-case `traceID` (the span ID twice), as clients that
 * spell them so would send them; the pprof decoder knows neither name, so they reach spanlink as
 * labels. The expected CPU time per span comes from the pprof-format package, not from Hearth.
 */
function renamedGoProfile(timeNanos?: bigint) {
  const original = PprofProfile.decode(rawPprof(corpusFile('grafana-pyroscope/go.cpu.labels.pprof')));
  const str = (i: unknown) => original.stringTable.strings[Number(i)];
  const cpu = original.sampleType.findIndex((t) => str(t.type) === 'cpu');
  const expected = new Map<string | undefined, number>();
  const expectedTrace = new Map<string, string>();
  const spanIdKey = original.stringTable.dedup('spanID');
  const traceIdKey = original.stringTable.dedup('traceID');
  let labelled = 0;
  for (const sample of original.sample) {
    const span = sample.label.find((l) => str(l.key) === 'profile_id');
    const id = span ? str(span.str) : undefined;
    const value = Number(sample.value[cpu]);
    expected.set(id, (expected.get(id) ?? 0) + value);
    if (span && id) {
      labelled++;
      span.key = spanIdKey;
      const trace = `${id}${id}`.toUpperCase();
      expectedTrace.set(id, trace.toLowerCase());
      sample.label.push(new Label({ key: traceIdKey, str: original.stringTable.dedup(trace) }));
    }
  }
  assert.equal(labelled, 475);
  assert.ok(expected.size > 2, 'the profile has several spans');
  if (timeNanos !== undefined) original.timeNanos = timeNanos;
  return { bytes: original.encode(), expected, expectedTrace };
}

describe('spanlink processor', () => {
  test('real Go profile: span and trace labels under other spellings become per-sample IDs', { skip: CORPUS_SKIP }, async () => {
    const { bytes, expected, expectedTrace } = renamedGoProfile();
    const decoded = decodePprof(bytes);
    assert.ok(decoded.sampleLabelSets.some((s) => 'spanID' in s), 'the renamed label reaches the processor as a sample label');
    const { processor, invalid } = create();
    const out = (await processor.process(batchOf(decoded)))!;

    const cpuOut = out.profile.sampleTypes.findIndex((t) => t.type === 'cpu');
    const got = new Map<string | undefined, number>();
    for (const s of out.profile.samples) {
      got.set(s.spanId, (got.get(s.spanId) ?? 0) + s.values[cpuOut]);
      if (s.spanId !== undefined) {
        assert.match(s.spanId, /^[0-9a-f]{16}$/);
        assert.equal(s.traceId, expectedTrace.get(s.spanId));
      } else {
        assert.equal(s.traceId, undefined);
      }
    }
    assert.deepEqual(got, expected);
    for (const set of out.profile.sampleLabelSets) {
      assert.ok(!('spanID' in set) && !('traceID' in set), `no ID label left in ${JSON.stringify(set)}`);
    }
    // Only `foo` and `function` remain, so the sets collapse to their combinations.
    const remaining = new Set(out.profile.sampleLabelSets.slice(1).map((s) => JSON.stringify(s)));
    assert.equal(remaining.size, out.profile.sampleLabelSets.length - 1, 'label sets are deduplicated');
    assert.ok(out.profile.sampleLabelSets.length <= 4, `sets: ${JSON.stringify(out.profile.sampleLabelSets)}`);
    assert.ok(out.profile.sampleLabelSets.slice(1).every((s) => s.foo === 'bar'));
    assert.deepEqual(out.labels, { service_name: 'app', __name__: 'process_cpu' });
    assert.equal(await invalid('span'), 0);
  });

  test('real Go profile with `span_id` from pprof.Do: the decoder already linked it, and spanlink keeps it', { skip: CORPUS_SKIP }, async () => {
    const bytes = corpusFile('grafana-pyroscope/single_group_with_optional_span_id.pb.gz');
    const independent = PprofProfile.decode(rawPprof(bytes));
    const s = (i: unknown) => independent.stringTable.strings[Number(i)];
    const withSpan = independent.sample.filter((x) => x.label.some((l) => s(l.key) === 'span_id'));
    assert.equal(withSpan.length, 33);

    const decoded = decodePprof(bytes);
    const batch = batchOf(decoded);
    const { processor } = create();
    const out = (await processor.process(batch))!;
    assert.equal(out, batch, 'nothing to move: the batch passes through untouched');
    const linked = out.profile.samples.filter((x) => x.spanId === '0000000000000239');
    assert.equal(linked.length, 33);
  });

  test('a span ID series label applies to every sample without its own; span_name stays a series label', async () => {
    const profile = tinyProfile(
      [{}, { span_id: 'AbCdEf0123456789', thread: 'a' }],
      [
        { stack: 0, values: [10], labelSet: 0 },
        { stack: 1, values: [20], labelSet: 1 },
        // An OTLP link: the receiver put the IDs in the fields already.
        { stack: 1, values: [40], labelSet: 0, spanId: '1111111111111111', traceId: '22222222222222222222222222222222' },
      ],
    );
    const { processor } = create();
    const out = (await processor.process(batchOf(profile, { span_id: 'abc', trace_id: 'F00D', span_name: 'GET /users' })))!;
    assert.deepEqual(out.labels, { service_name: 'app', __name__: 'process_cpu', span_name: 'GET /users' });
    assert.deepEqual(
      out.profile.samples.map((x) => [x.spanId, x.traceId, x.labelSet]),
      [
        ['0000000000000abc', '0000000000000000000000000000f00d', 0],
        ['abcdef0123456789', '0000000000000000000000000000f00d', 1],
        ['1111111111111111', '22222222222222222222222222222222', 0],
      ],
    );
    assert.deepEqual(out.profile.sampleLabelSets, [{}, { thread: 'a' }]);
    assert.deepEqual(totalsBySpan(out.profile), new Map([['0000000000000abc', 10], ['abcdef0123456789', 20], ['1111111111111111', 40]]));
  });

  test('invalid IDs stay labels and are counted', async () => {
    const profile = tinyProfile(
      [{}, { span_id: 'not-a-span' }, { trace_id: '0'.repeat(33), span_id: '01' }],
      [
        { stack: 0, values: [1], labelSet: 1 },
        { stack: 1, values: [2], labelSet: 2 },
      ],
    );
    const { processor, invalid } = create();
    const out = (await processor.process(batchOf(profile, { profile_id: 'xyz' })))!;
    assert.equal(out.labels.profile_id, 'xyz');
    assert.deepEqual(out.profile.sampleLabelSets, [{}, { span_id: 'not-a-span' }, { trace_id: '0'.repeat(33) }]);
    assert.deepEqual(out.profile.samples.map((x) => [x.spanId, x.traceId, x.labelSet]), [
      [undefined, undefined, 1],
      ['0000000000000001', undefined, 2],
    ]);
    assert.equal(await invalid('span'), 2);
    assert.equal(await invalid('trace'), 1);
  });

  test('label names are configurable', async () => {
    const profile = tinyProfile([{}, { span_id: '00000000000000aa', request_span: 'bb' }], [{ stack: 0, values: [5], labelSet: 1 }]);
    const { processor } = create({ span_id_labels: ['request_span'], trace_id_labels: [] });
    const out = (await processor.process(batchOf(profile)))!;
    assert.equal(out.profile.samples[0].spanId, '00000000000000bb');
    assert.deepEqual(out.profile.sampleLabelSets, [{}, { span_id: '00000000000000aa' }]);
  });

  test('config: defaults, and names that cannot carry IDs', () => {
    const d = factory.defaultConfig();
    assert.deepEqual(d.span_id_labels, ['span_id', 'profile_id', 'spanID', 'spanId']);
    assert.deepEqual(d.trace_id_labels, ['trace_id', 'traceID', 'traceId']);
    assert.ok(factory.schema.safeParse(d).success);
    for (const bad of [
      { span_id_labels: ['span_name'], trace_id_labels: [] },
      { span_id_labels: ['service_name'], trace_id_labels: [] },
      { span_id_labels: ['x'], trace_id_labels: ['x'] },
      { span_id_labels: [''], trace_id_labels: [] },
      { span_id_labels: [], trace_id_labels: [], extra: 1 },
    ]) {
      assert.equal(factory.schema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});

describe('spanlink in a running Hearth', () => {
  test('span IDs under other spellings, per sample or per series, are found by SelectMergeSpanProfile', { skip: CORPUS_SKIP }, async () => {
    const tmp = tempDir();
    const config = singleNodeConfig(tmp.dir)
      .replace('exporters:\n  clickhouse:', 'processors:\n  spanlink: {}\nexporters:\n  clickhouse:')
      .replace('      receivers: [pyroscope]\n', '      receivers: [pyroscope]\n      processors: [spanlink]\n');
    assert.match(config, /processors: \[spanlink\]/);
    const hearth = await startHearth(config, tmp.dir);
    try {
      const now = Date.now();
      const tenant = 'spanlink-e2e';
      const { bytes, expected, expectedTrace } = renamedGoProfile(BigInt(now - 60_000) * 1_000_000n);
      await ingestPprof(hearth.url, tenant, 'spanlinked.app', bytes);
      // A whole profile in one span, named by a series label in `/ingest?name=`.
      const whole = tinyProfile([{}], [
        { stack: 0, values: [70_000_000], labelSet: 0 },
        { stack: 1, values: [20_000_000], labelSet: 0 },
      ]);
      whole.timeNanos = BigInt(now - 30_000) * 1_000_000n;
      await ingestPprof(hearth.url, tenant, 'spanlinked.app{spanID=FF,span_name=checkout}', encodePprof(whole));

      const q = createClient(QuerierService, transportFor('Connect JSON', hearth.url));
      const h = { headers: { 'X-Scope-OrgID': tenant } };
      const base = {
        profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
        labelSelector: '{service_name="spanlinked.app"}',
        start: BigInt(now - 3_600_000),
        end: BigInt(now + 60_000),
      };
      const spans = [...expected.keys()].filter((k): k is string => k !== undefined);
      for (const id of spans.slice(0, 3)) {
        const one = await q.selectMergeSpanProfile({ ...base, spanSelector: [id] }, h);
        assert.equal(Number(one.flamegraph!.total), expected.get(id), id);
        const byTrace = await q.selectMergeStacktraces({ ...base, traceIdSelector: [expectedTrace.get(id)!] }, h);
        assert.equal(Number(byTrace.flamegraph!.total), expected.get(id), `trace of ${id}`);
      }
      const all = await q.selectMergeSpanProfile({ ...base, spanSelector: spans }, h);
      assert.equal(Number(all.flamegraph!.total), spans.reduce((n, id) => n + expected.get(id)!, 0));
      const series = await q.selectMergeSpanProfile({ ...base, spanSelector: ['00000000000000ff'] }, h);
      assert.equal(Number(series.flamegraph!.total), 90_000_000);

      const names = await q.labelNames({ matchers: [base.labelSelector], start: base.start, end: base.end }, h);
      assert.ok(names.names.includes('span_name'), names.names.join());
      for (const moved of ['spanID', 'traceID']) assert.ok(!names.names.includes(moved), `${moved} is not a label: ${names.names.join()}`);
    } finally {
      await hearth.stop();
      tmp.remove();
    }
  });
});
