/**
 * querier.v1 over Connect JSON, Connect binary and gRPC (h2c on the shared port), against real
 * Go CPU profiles written by test/fixtures/goapp and, when present, the shared corpus. Every
 * total, per-span total and top function is checked against an independent decoding of the
 * same files (test/support/pprof-reference.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { toBinary } from '@bufbuild/protobuf';
import { QuerierService, ProfileFormat } from '../../gen/querier/v1/querier_pb.ts';
import { SettingsService } from '../../gen/settings/v1/setting_pb.ts';
import { ProfileSchema } from '../../gen/google/v1/profile_pb.ts';
import { ExemplarType, TimeSeriesAggregationType } from '../../gen/types/v1/types_pb.ts';
import { decodeTreeBytes } from '../../formats/flamegraph/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { referenceOf, samplesOf, selfWhere, sumWhere, topN, type ReferenceSamples } from '../support/pprof-reference.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { GO_SKIP, HAS_GO, TRANSPORT_NAMES, goProfiles, ingestPprof, selfOfFlameGraph, tenantHeader, transportFor } from './harness.ts';

const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';
const TENANT = 'team-go';
const GOAPP = '{service_name="goapp"}';

const tmp = tempDir('hearth-querier-');
let hearth: HearthProcess;
let refs: ReferenceSamples[] = [];
let start = 0;
let end = 0;
const h = tenantHeader(TENANT);

/** Index of the cpu/nanoseconds sample type in the Go profiles. */
const cpuIndex = () => refs[0].sampleTypes.findIndex((t) => t.type === 'cpu');
const total = (keep?: Parameters<typeof sumWhere>[2]) => refs.reduce((a, r) => a + sumWhere(r, cpuIndex(), keep), 0);
function self(keep?: Parameters<typeof selfWhere>[2]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of refs) for (const [k, v] of selfWhere(r, cpuIndex(), keep)) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}
/**
 * CPU time per value of a label. Samples without the label (the Go runtime's own work outside
 * any span) count under "" when `missing` is set, and are left out otherwise.
 */
function labelTotals(label: string, missing = false): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of refs)
    for (const s of r.samples) {
      const v = s.labels[label] ?? (missing ? '' : undefined);
      if (v !== undefined && s.values[cpuIndex()] !== 0) out.set(v, (out.get(v) ?? 0) + s.values[cpuIndex()]);
    }
  return out;
}
const spanNameOf = (s: { labels: Record<string, string> }) => s.labels.span_name ?? '';

async function rejects(p: Promise<unknown>, code: Code, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(e.code, code, `code of ${e.message}`);
    if (message) assert.match(e.rawMessage, message);
    return true;
  });
}

before(async () => {
  hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
  const now = Date.now();
  // Two hours: long enough for the engine to read whole minutes from the rollups.
  start = now - 3_600_000;
  end = now + 3_600_000;
  if (!HAS_GO) return;
  const files = await goProfiles(tmp.dir);
  refs = files.map((f) => samplesOf(f.bytes));
  for (const f of files) await ingestPprof(hearth.url, TENANT, 'goapp{env=ci}', f.bytes);
});
after(async () => {
  await hearth?.stop();
  tmp.remove();
});

describe('querier.v1 with real Go profiles', { skip: GO_SKIP }, () => {
  test('the fixture produced CPU time in every span', () => {
    assert.equal(refs.length, 3);
    assert.ok(total() > 0);
    for (const name of ['checkout', 'search', 'render']) assert.ok((labelTotals('span_name').get(name) ?? 0) > 0, name);
  });

  for (const transportName of TRANSPORT_NAMES) {
    describe(transportName, () => {
      let q: Client<typeof QuerierService>;
      before(() => {
        q = createClient(QuerierService, transportFor(transportName, hearth.url));
      });

      const select = (extra: Record<string, unknown> = {}) =>
        q.selectMergeStacktraces({ profileTypeID: CPU, labelSelector: GOAPP, start: BigInt(start), end: BigInt(end), maxNodes: 1_048_576n, ...extra }, h);

      test('ProfileTypes lists the stored types', async () => {
        const r = await q.profileTypes({ start: BigInt(start), end: BigInt(end) }, h);
        const ids = r.profileTypes.map((t) => t.ID);
        assert.ok(ids.includes(CPU) && ids.includes(SAMPLES), JSON.stringify(ids));
        const cpu = r.profileTypes.find((t) => t.ID === CPU)!;
        assert.deepEqual([cpu.name, cpu.sampleType, cpu.sampleUnit, cpu.periodType, cpu.periodUnit], ['process_cpu', 'cpu', 'nanoseconds', 'cpu', 'nanoseconds']);
      });

      test('LabelNames and LabelValues: sample labels are series labels, span and trace IDs are not', async () => {
        const names = (await q.labelNames({ matchers: [GOAPP], start: BigInt(start), end: BigInt(end) }, h)).names;
        for (const n of ['env', 'service_name', 'span_name', '__profile_type__', '__name__']) assert.ok(names.includes(n), `${n} in ${names}`);
        assert.ok(!names.includes('span_id') && !names.includes('trace_id'));
        const values = (await q.labelValues({ name: 'span_name', matchers: [GOAPP], start: BigInt(start), end: BigInt(end) }, h)).names;
        assert.deepEqual(values, [...labelTotals('span_name').keys()].sort());
        const types = (await q.labelValues({ name: '__profile_type__', matchers: [`{service_name="goapp", span_name="render"}`] }, h)).names;
        assert.deepEqual(types, [CPU, SAMPLES]);
      });

      test('Series lists label sets, narrowed to label_names on request', async () => {
        const few = await q.series({ matchers: [GOAPP], labelNames: ['service_name', '__profile_type__'], start: BigInt(start), end: BigInt(end) }, h);
        assert.deepEqual(
          few.labelsSet.map((l) => l.labels.map((p) => `${p.name}=${p.value}`)),
          [[`__profile_type__=${CPU}`, 'service_name=goapp'], [`__profile_type__=${SAMPLES}`, 'service_name=goapp']],
        );
        const all = await q.series({ matchers: [`{service_name="goapp", __profile_type__="${CPU}"}`] }, h);
        const spanNames = all.labelsSet.map((l) => l.labels.find((p) => p.name === 'span_name')?.value ?? '').sort();
        assert.deepEqual(spanNames, [...labelTotals('span_name', true).keys()].sort());
        for (const l of all.labelsSet) assert.ok(l.labels.some((p) => p.name === 'env' && p.value === 'ci'));
      });

      test('SelectMergeStacktraces FLAMEGRAPH: total and top functions match the files', async () => {
        const fg = (await select()).flamegraph!;
        assert.equal(Number(fg.total), total());
        const got = topN(selfOfFlameGraph(fg.names, fg.levels), 5);
        assert.deepEqual(got, topN(self(), 5));
      });

      test('SelectMergeStacktraces TREE decodes to the same stacks', async () => {
        const r = await select({ format: ProfileFormat.TREE });
        const merged = decodeTreeBytes(r.tree);
        assert.equal(merged.values.reduce((a, b) => a + b, 0), total());
      });

      test('SelectMergeStacktraces PPROF and SelectMergeProfile are pprof with the same totals', async () => {
        const r = await select({ format: ProfileFormat.PPROF });
        const viaFormat = referenceOf(toBinary(ProfileSchema, r.pprof!.profile!));
        assert.equal(viaFormat.totals[0], total());
        assert.deepEqual(topN(viaFormat.self[0], 5), topN(self(), 5));
        const merged = await q.selectMergeProfile({ profileTypeID: CPU, labelSelector: GOAPP, start: BigInt(start), end: BigInt(end) }, h);
        const ref = referenceOf(toBinary(ProfileSchema, merged));
        assert.deepEqual(ref.sampleTypes, [{ type: 'cpu', unit: 'nanoseconds' }]);
        assert.equal(ref.totals[0], total());
      });

      test('max_nodes keeps the nodes at or above the max_nodes-th largest total and folds the rest into other', async () => {
        const full = (await select()).flamegraph!;
        const totals: number[] = [];
        for (let d = 1; d < full.levels.length; d++) for (let i = 0; i < full.levels[d].values.length; i += 4) totals.push(Number(full.levels[d].values[i + 1]));
        const maxNodes = 6;
        assert.ok(totals.length > maxNodes, 'the fixture graph is larger than the limit');
        const threshold = [...totals].sort((a, b) => b - a)[maxNodes - 1];
        const cut = (await select({ maxNodes: BigInt(maxNodes) })).flamegraph!;
        assert.equal(Number(cut.total), Number(full.total));
        let real = 0;
        let others = 0;
        for (let d = 1; d < cut.levels.length; d++) {
          const l = cut.levels[d].values;
          for (let i = 0; i < l.length; i += 4) {
            if (cut.names[Number(l[i + 3])] === 'other') others++;
            else {
              real++;
              assert.ok(Number(l[i + 1]) >= threshold, 'a kept node is below the threshold');
            }
          }
        }
        assert.equal(real, totals.filter((t) => t >= threshold).length);
        // Whatever fell below the threshold went into `other` (ties at it are kept, as in Pyroscope).
        assert.equal(others > 0, totals.some((t) => t < threshold));
      });

      test('stack_trace_selector keeps the stacks under a call site', async () => {
        const sample = refs.flatMap((r) => r.samples).find((s) => s.frames.includes('main.spinCheckout'))!;
        const site = sample.frames.slice(0, sample.frames.indexOf('main.spinCheckout') + 1);
        const under = (s: { frames: string[] }) => site.every((f, i) => s.frames[i] === f);
        const expected = total(under);
        assert.ok(expected > 0 && expected < total());
        const selector = { callSite: site.map((name) => ({ name })) };
        const fg = (await select({ stackTraceSelector: selector })).flamegraph!;
        assert.equal(Number(fg.total), expected);
        const series = await q.selectSeries({ profileTypeID: CPU, labelSelector: GOAPP, start: BigInt(start), end: BigInt(end), step: 86_400, stackTraceSelector: selector }, h);
        assert.equal(series.series.flatMap((s) => s.points).reduce((a, p) => a + p.value, 0), expected);
      });

      test('span_selector and SelectMergeSpanProfile select the samples of spans', async () => {
        const bySpan = labelTotals('span_id');
        const [a, b] = [...bySpan.keys()];
        const one = (await select({ spanSelector: [a] })).flamegraph!;
        assert.equal(Number(one.total), bySpan.get(a));
        const two = (await select({ spanSelector: [a, b] })).flamegraph!;
        assert.equal(Number(two.total), bySpan.get(a)! + bySpan.get(b)!);
        const span = await q.selectMergeSpanProfile({ profileTypeID: CPU, labelSelector: '{}', spanSelector: [a], start: BigInt(start), end: BigInt(end) }, h);
        assert.equal(Number(span.flamegraph!.total), bySpan.get(a));
        const leaf = topN(selfOfFlameGraph(span.flamegraph!.names, span.flamegraph!.levels), 1)[0][0];
        assert.deepEqual(leaf, topN(self((s) => s.labels.span_id === a), 1)[0][0]);
      });

      test('trace_id_selector selects the samples of a trace; span and trace filters do not combine', async () => {
        const byTrace = labelTotals('trace_id');
        for (const [trace, expected] of byTrace) {
          const fg = (await select({ traceIdSelector: [trace] })).flamegraph!;
          assert.equal(Number(fg.total), expected, trace);
        }
        await rejects(select({ traceIdSelector: [[...byTrace.keys()][0]], spanSelector: ['0000000000000101'] }), Code.InvalidArgument, /cannot be combined/);
        await rejects(select({ traceIdSelector: ['not-a-trace'] }), Code.InvalidArgument, /32 hex/);
      });

      test('profile_id_selector selects one stored profile, as listed by /pyroscope/profiles', async () => {
        const r = await fetch(`${hearth.url}/pyroscope/profiles?query=${encodeURIComponent(`${CPU}${GOAPP}`)}&from=${start}&until=${end}&limit=1000`, h);
        assert.equal(r.status, 200);
        const { profiles } = (await r.json()) as { profiles: Array<{ id: string; time: number; total: number }> };
        const byId = new Map<string, number>();
        for (const p of profiles) byId.set(p.id, (byId.get(p.id) ?? 0) + p.total);
        const perFile = refs.map((ref) => sumWhere(ref, cpuIndex())).sort((x, y) => x - y);
        assert.deepEqual([...byId.values()].sort((x, y) => x - y), perFile);
        const [id, expected] = [...byId][0];
        const fg = (await select({ profileIdSelector: [id] })).flamegraph!;
        assert.equal(Number(fg.total), expected);
      });

      test('SelectSeries: step, group_by, limit, AVERAGE and individual exemplars', async () => {
        const base = { profileTypeID: CPU, labelSelector: GOAPP, start: BigInt(start), end: BigInt(end) };
        // A year-long step puts everything in one bucket.
        const year = 365 * 86_400;
        const all = await q.selectSeries({ ...base, step: 60 }, h);
        assert.equal(all.series.length, 1);
        assert.equal(all.series[0].points.reduce((a, p) => a + p.value, 0), total());
        for (const p of all.series[0].points) assert.equal(Number(p.timestamp) % 60_000, 0);

        const byName = labelTotals('span_name', true);
        const nameOf = (s: { labels: Array<{ name: string; value: string }> }) => s.labels.find((l) => l.name === 'span_name')?.value ?? '';
        const grouped = await q.selectSeries({ ...base, step: year, groupBy: ['span_name'] }, h);
        const got = new Map(grouped.series.map((s) => [nameOf(s), s.points[0].value]));
        assert.deepEqual(got, byName);

        const top = await q.selectSeries({ ...base, step: year, groupBy: ['span_name'], limit: 1n }, h);
        assert.equal(top.series.length, 1);
        const largest = [...byName].sort((x, y) => y[1] - x[1])[0][0];
        assert.equal(nameOf(top.series[0]), largest);

        const avg = await q.selectSeries({ ...base, step: year, groupBy: ['span_name'], aggregation: TimeSeriesAggregationType.AVERAGE }, h);
        for (const s of avg.series) {
          const name = nameOf(s);
          const files = refs.filter((r) => sumWhere(r, cpuIndex(), (x) => spanNameOf(x) === name) !== 0).length;
          assert.ok(Math.abs(s.points[0].value - byName.get(name)! / files) < 1e-6, name);
        }

        const ex = await q.selectSeries({ ...base, step: year, groupBy: ['span_name'], exemplarType: ExemplarType.INDIVIDUAL }, h);
        for (const s of ex.series) {
          const name = nameOf(s);
          const e = s.points[0].exemplars;
          assert.equal(e.length, 1);
          assert.match(e[0].profileId, /^[0-9a-f]{16}$/);
          const best = Math.max(...refs.map((r) => sumWhere(r, cpuIndex(), (x) => spanNameOf(x) === name)));
          assert.equal(Number(e[0].value), best);
        }
        await rejects(q.selectSeries({ ...base, step: 0 }, h), Code.InvalidArgument, /step/);
        await rejects(q.selectSeries({ ...base, step: 60, exemplarType: ExemplarType.SPAN }, h), Code.Unimplemented);
      });

      test('Diff of a selection against itself shows no change; two spans differ by their totals', async () => {
        const sel = { profileTypeID: CPU, labelSelector: GOAPP, start: BigInt(start), end: BigInt(end) };
        const d = (await q.diff({ left: sel, right: sel }, h)).flamegraph!;
        assert.equal(Number(d.leftTicks), total());
        assert.equal(Number(d.rightTicks), total());
        for (const l of d.levels) {
          for (let i = 0; i < l.values.length; i += 7) {
            assert.equal(l.values[i + 1], l.values[i + 4]);
            assert.equal(l.values[i + 2], l.values[i + 5]);
          }
        }
        const bySpan = labelTotals('span_id');
        const [a, b] = [...bySpan.keys()];
        const ab = (await q.diff({ left: { ...sel, spanSelector: [a] }, right: { ...sel, spanSelector: [b] } }, h)).flamegraph!;
        assert.equal(Number(ab.leftTicks), bySpan.get(a));
        assert.equal(Number(ab.rightTicks), bySpan.get(b));
        await rejects(q.diff({ left: sel, right: { ...sel, profileTypeID: SAMPLES } }, h), Code.InvalidArgument, /same profile type/);
      });

      test('GetProfileStats reports the oldest and newest profile of the tenant', async () => {
        const stats = await q.getProfileStats({}, h);
        assert.equal(stats.dataIngested, true);
        const times = refs.map((r) => Number(r.timeNanos / 1_000_000n));
        assert.equal(Number(stats.oldestProfileTime), Math.min(...times));
        assert.equal(Number(stats.newestProfileTime), Math.max(...times));
        const none = await q.getProfileStats({}, tenantHeader('nobody-here'));
        assert.equal(none.dataIngested, false);
      });

      test('AnalyzeQuery counts what the query reads', async () => {
        const a = await q.analyzeQuery({ query: GOAPP, start: BigInt(start), end: BigInt(end) }, h);
        const scope = a.queryScopes[0];
        const series = await q.series({ matchers: [GOAPP], start: BigInt(start), end: BigInt(end) }, h);
        assert.equal(Number(scope.seriesCount), series.labelsSet.length);
        assert.equal(Number(a.queryImpact!.totalQueriedSeries), series.labelsSet.length);
        let rows = 0;
        for (const type of [CPU, SAMPLES]) {
          const r = await fetch(`${hearth.url}/pyroscope/profiles?query=${encodeURIComponent(`${type}${GOAPP}`)}&from=${start}&until=${end}&limit=1000`, h);
          rows += ((await r.json()) as { profiles: unknown[] }).profiles.length;
        }
        assert.equal(Number(scope.profileCount), rows);
        assert.ok(Number(scope.sampleCount) > 0 && Number(scope.profileBytes) > 0 && Number(scope.symbolBytes) > 0);
        assert.ok(Number(a.queryImpact!.totalBytesInTimeRange) > 0);
      });

      test('settings.v1 Get answers an empty list', async () => {
        const s = createClient(SettingsService, transportFor(transportName, hearth.url));
        assert.deepEqual((await s.get({}, h)).settings, []);
      });

      test('another tenant sees nothing', async () => {
        const other = tenantHeader('team-other');
        assert.equal(Number((await q.selectMergeStacktraces({ profileTypeID: CPU, labelSelector: '{}', start: BigInt(start), end: BigInt(end) }, other)).flamegraph!.total), 0);
        assert.deepEqual((await q.profileTypes({}, other)).profileTypes, []);
        assert.deepEqual((await q.labelValues({ name: 'service_name', matchers: [] }, other)).names, []);
        assert.deepEqual((await q.series({ matchers: [] }, other)).labelsSet, []);
        await rejects(q.profileTypes({}, tenantHeader('bad tenant!')), Code.InvalidArgument, /X-Scope-OrgID/);
      });

      test('hostile selectors are InvalidArgument or a correct empty result', async () => {
        for (const v of [`') OR 1=1 --`, `\\' OR '1'='1`, `\\\\`, `"; DROP TABLE hearth.samples; --`]) {
          const sel = `{service_name="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"}`;
          const fg = (await q.selectMergeStacktraces({ profileTypeID: CPU, labelSelector: sel, start: BigInt(start), end: BigInt(end) }, h)).flamegraph!;
          assert.equal(Number(fg.total), 0, sel);
          assert.deepEqual((await q.labelValues({ name: 'service_name', matchers: [sel] }, h)).names, [], sel);
        }
        assert.equal(Number((await select({ labelSelector: '{service_name=~"(a*)*b"}' })).flamegraph!.total), 0);
        assert.equal(Number((await select({ profileTypeID: `${CPU}' OR 1=1 --` })).flamegraph!.total), 0);
        assert.deepEqual((await q.labelValues({ name: `x') OR 1=1 --`, matchers: [] }, h)).names, []);
        await rejects(select({ labelSelector: '{service_name="goapp"' }), Code.InvalidArgument, /position 22/);
        await rejects(select({ labelSelector: `{service_name=~"${'(a+)+'.repeat(1000)}"}` }), Code.InvalidArgument, /regex longer/);
        await rejects(select({ labelSelector: '{service_name=~"a("}' }), Code.InvalidArgument, /invalid regex/);
        await rejects(select({ labelSelector: '{"x"="y"}' }), Code.InvalidArgument, /label name/);
        await rejects(select({ profileTypeID: 'cpu' }), Code.InvalidArgument, /profile type/);
        await rejects(select({ maxNodes: -1n }), Code.InvalidArgument, /max_nodes/);
        await rejects(select({ start: BigInt(end), end: BigInt(start) }), Code.InvalidArgument, /end must be after start/);
      });
    });
  }
});

describe('querier.v1 with the shared corpus', { skip: CORPUS_SKIP }, () => {
  const tenant = tenantHeader('corpus');
  // Real SDK profiles: span IDs come as `profile_id` labels (older otel-profiling-go) or `span_id`.
  const FILES = [
    { file: 'grafana-pyroscope/go.cpu.labels.pprof', label: 'profile_id', series: 'labels' },
    { file: 'grafana-pyroscope/single_group_with_optional_span_id.pb.gz', label: 'span_id', series: 'single_group' },
  ];
  const refsByFile = new Map<string, ReferenceSamples>();
  const range = () => ({ start: 0n, end: BigInt(Date.now() + 86_400_000) });
  before(async () => {
    for (const f of FILES) {
      const bytes = corpusFile(f.file);
      refsByFile.set(f.file, samplesOf(bytes));
      await ingestPprof(hearth.url, 'corpus', `corpus{file=${f.series}}`, bytes);
    }
  });

  for (const transportName of TRANSPORT_NAMES) {
    test(`${transportName}: totals, top functions and span profiles match the files`, async () => {
      const client = createClient(QuerierService, transportFor(transportName, hearth.url));
      for (const f of FILES) {
        const ref = refsByFile.get(f.file)!;
        const cpu = ref.sampleTypes.findIndex((t) => t.type === 'cpu');
        const base = { profileTypeID: CPU, labelSelector: `{file="${f.series}"}`, ...range() };
        const fg = (await client.selectMergeStacktraces({ ...base, maxNodes: 1_048_576n }, tenant)).flamegraph!;
        assert.equal(Number(fg.total), sumWhere(ref, cpu), f.file);
        assert.deepEqual(topN(selfOfFlameGraph(fg.names, fg.levels), 5), topN(selfWhere(ref, cpu), 5), f.file);

        const spans = new Map<string, number>();
        for (const s of ref.samples) if (s.labels[f.label]) spans.set(s.labels[f.label], (spans.get(s.labels[f.label]) ?? 0) + s.values[cpu]);
        const [span, expected] = [...spans].sort((a, b) => b[1] - a[1])[0];
        const r = await client.selectMergeSpanProfile({ ...base, spanSelector: [span] }, tenant);
        assert.equal(Number(r.flamegraph!.total), expected, `${f.file} span ${span}`);

        const whole = await client.selectMergeProfile(base, tenant);
        assert.equal(referenceOf(toBinary(ProfileSchema, whole)).totals[0], sumWhere(ref, cpu), f.file);
      }
    });
  }
});
