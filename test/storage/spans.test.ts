/**
 * Spans in the store: written once however often a batch is delivered, kept as long as
 * profiles, and joined to profile samples by span ID when the samples do not carry the trace
 * ID, with per-span self and subtree totals.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { acquireStore, type Store } from '../../storage/store.ts';
import { buildSchema } from '../../storage/schema.ts';
import type { Writer } from '../../storage/writer.ts';
import { SpanWriter } from '../../storage/span-writer.ts';
import { spanTotals } from '../../storage/span-totals.ts';
import type { Batch, Span, SpanBatch } from '../../core/model.ts';
import { tempDir } from '../support/hearth.ts';

const tmp = tempDir();
const logger = pino({ level: 'silent' });
let store: Store;
let writer: Writer;
let spanWriter: SpanWriter;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const ALLOC_OBJECTS = 'memory:alloc_objects:count:space:bytes';
const ALLOC = 'memory:alloc_space:bytes:space:bytes';
const RETENTION_DAYS = 30;

before(async () => {
  store = await acquireStore({ path: join(tmp.dir, 'data'), database: 'hearth', retentionDays: RETENTION_DAYS }, logger);
  writer = store.createWriter({ flushIntervalMs: 20, maxRows: 10_000, maxConcurrentFlushes: 2 }, logger);
  spanWriter = new SpanWriter(store.connection, store.schema, { flushIntervalMs: 20, maxRows: 10_000 }, logger);
});
after(async () => {
  await Promise.all([writer.flush(), spanWriter.flush()]);
  await store.release();
  tmp.remove();
});

function span(traceId: string, spanId: string, parentSpanId: string, name: string, startMs: number, durationMs: number): Span {
  return {
    traceId,
    spanId,
    parentSpanId,
    serviceName: 'shop',
    name,
    kind: 2,
    startNanos: BigInt(startMs) * 1_000_000n,
    durationNanos: BigInt(durationMs) * 1_000_000n,
    statusCode: 0,
    statusMessage: '',
    attributes: { 'http.route': '/checkout' },
  };
}

function spanBatch(key: string, spans: Span[], tenant = 'anonymous'): SpanBatch {
  return { tenant, spans, idempotencyKey: key };
}

/**
 * A profile with one sample per (span, value) entry; stack main;<leaf>. CPU, or when asked a
 * memory profile (objects = value, bytes = twice that), so that totals come per profile type.
 */
function profile(key: string, timeMs: number, entries: Array<{ leaf: string; value: number; spanId?: string; traceId?: string }>, opts: { tenant?: string; alloc?: boolean } = {}): Batch {
  const names = ['', 'main', ...new Set(entries.map((e) => e.leaf))];
  const stacks = entries.map((e) => Uint32Array.of(names.indexOf(e.leaf), 1));
  const types = opts.alloc ? [{ type: 'alloc_objects', unit: 'count' }, { type: 'alloc_space', unit: 'bytes' }] : [{ type: 'cpu', unit: 'nanoseconds' }];
  return {
    tenant: opts.tenant ?? 'anonymous',
    labels: { __name__: opts.alloc ? 'memory' : 'process_cpu', service_name: 'shop' },
    idempotencyKey: key,
    profile: {
      sampleTypes: types,
      periodType: opts.alloc ? { type: 'space', unit: 'bytes' } : { type: 'cpu', unit: 'nanoseconds' },
      period: 10_000_000,
      timeNanos: BigInt(timeMs) * 1_000_000n,
      durationNanos: 10_000_000_000n,
      names,
      stacks,
      samples: entries.map((e, i) => ({ stack: i, values: opts.alloc ? [e.value, 2 * e.value] : [e.value], labelSet: 0, spanId: e.spanId, traceId: e.traceId })),
      sampleLabelSets: [{}],
    },
  };
}

async function count(query: string): Promise<number> {
  const rs = await store.connection.client.query({ query, format: 'JSONEachRow' });
  return Number((await rs.json<{ c: string }>())[0].c);
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ROOT = '00f067aa0ba902b7';
const CHILD_A = '1111111111111111';
const CHILD_B = '2222222222222222';
const GRANDCHILD = '3333333333333333';

test('a span batch is stored once, however often and however concurrently it is delivered', async () => {
  const trace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const b = spanBatch('twice', [span(trace, 'a000000000000001', '', 'root', T0, 100), span(trace, 'a000000000000002', 'a000000000000001', 'child', T0 + 10, 50)]);
  await Promise.all([spanWriter.write(b), spanWriter.write(b)]);
  await spanWriter.write(b);
  // A new writer (another process after a restart) sees it is stored, too.
  const other = new SpanWriter(store.connection, store.schema, { flushIntervalMs: 5, maxRows: 10 }, logger);
  await other.write(b);
  assert.equal(await count(`SELECT count() AS c FROM hearth.spans WHERE trace_id = unhex('${trace}')`), 2);
  assert.ok(spanWriter.stats.duplicates + other.stats.duplicates >= 1);
  const spans = await store.query.traceSpans('anonymous', trace);
  assert.deepEqual(
    spans.map((s) => [s.spanId, s.parentSpanId, s.name, s.service, s.startNanos, s.durationNanos, s.kind, s.attributes['http.route']]),
    [
      ['a000000000000001', '', 'root', 'shop', (BigInt(T0) * 1_000_000n).toString(), '100000000', 2, '/checkout'],
      ['a000000000000002', 'a000000000000001', 'child', 'shop', (BigInt(T0 + 10) * 1_000_000n).toString(), '50000000', 2, '/checkout'],
    ],
  );
});

test('spans with IDs that cannot link anything are left out', async () => {
  const trace = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  await spanWriter.write(
    spanBatch('bad-ids', [
      span(trace, 'b000000000000001', '', 'ok', T0, 1),
      span(trace, '0000000000000000', '', 'zero span', T0, 1),
      span(trace, 'xyz', '', 'not hex', T0, 1),
      span('00000000000000000000000000000000', 'b000000000000002', '', 'zero trace', T0, 1),
    ]),
  );
  assert.deepEqual((await store.query.traceSpans('anonymous', trace)).map((s) => s.name), ['ok']);
});

test('the spans table keeps data as long as profiles do (TTL on its day partitions)', async () => {
  const ddl = buildSchema({ database: 'hearth', retentionDays: 7 }).statements.find((s) => s.includes('`spans`'));
  assert.ok(ddl, 'the schema creates a spans table');
  assert.match(ddl, /TTL toDate\(start\) \+ INTERVAL 7 DAY/);
  assert.match(ddl, /ttl_only_drop_parts = 1/);
  const samples = buildSchema({ database: 'hearth', retentionDays: 7 }).statements.find((s) => s.includes('`samples`'))!;
  assert.match(samples, /INTERVAL 7 DAY/);
  assert.doesNotMatch(buildSchema({ database: 'hearth', retentionDays: 0 }).statements.find((s) => s.includes('`spans`'))!, /TTL/);
  // And the table this store created has it.
  const rs = await store.connection.client.query({ query: `SELECT create_table_query AS q FROM system.tables WHERE database = 'hearth' AND name = 'spans'`, format: 'JSONEachRow' });
  const [{ q }] = await rs.json<{ q: string }>();
  assert.match(q, new RegExp(`TTL toDate\\(start\\) \\+ toIntervalDay\\(${RETENTION_DAYS}\\)`));
});

test('self and subtree totals per span and profile type; samples found by span ID when their trace ID is unknown', async () => {
  // root → a → grandchild, root → b
  await spanWriter.write(
    spanBatch('tree', [
      span(TRACE, ROOT, '', 'GET /checkout', T0, 1000),
      span(TRACE, CHILD_A, ROOT, 'charge', T0 + 100, 500),
      span(TRACE, CHILD_B, ROOT, 'render', T0 + 700, 200),
      span(TRACE, GRANDCHILD, CHILD_A, 'sign', T0 + 200, 100),
    ]),
  );
  await writer.write(
    profile('p1', T0, [
      { leaf: 'serve', value: 5, spanId: ROOT }, // span ID only: joined through the spans table
      { leaf: 'charge', value: 7, spanId: CHILD_A, traceId: TRACE },
      { leaf: 'sign', value: 11, spanId: GRANDCHILD },
      { leaf: 'draw', value: 13, spanId: CHILD_B },
      { leaf: 'other', value: 17, traceId: TRACE }, // the trace's, but no span of it
      { leaf: 'idle', value: 100 }, // no span at all
      { leaf: 'foreign', value: 1000, spanId: '9999999999999999' }, // a span of no known trace
    ]),
  );
  await writer.write(profile('p2', T0 + 10_000, [{ leaf: 'charge', value: 3, spanId: CHILD_A }], { alloc: true }));

  const spans = await store.query.traceSpans('anonymous', TRACE);
  assert.deepEqual(spans.map((s) => s.name), ['GET /checkout', 'charge', 'sign', 'render']);
  const totals = await store.query.traceTotals('anonymous', TRACE, spans, T0 - 60_000, T0 + 60_000);
  const byType = new Map(totals.map((t) => [t.profileType, t]));
  assert.deepEqual([...byType.keys()].sort(), [ALLOC_OBJECTS, ALLOC, CPU].sort());
  const cpu = byType.get(CPU)!;
  assert.equal(cpu.total, 5 + 7 + 11 + 13 + 17);
  assert.equal(cpu.unattributed, 17);
  assert.deepEqual(Object.fromEntries(cpu.spans), {
    [ROOT]: { self: 5, total: 5 + 7 + 11 + 13 },
    [CHILD_A]: { self: 7, total: 18 },
    [GRANDCHILD]: { self: 11, total: 11 },
    [CHILD_B]: { self: 13, total: 13 },
  });
  const alloc = byType.get(ALLOC)!;
  assert.equal(alloc.total, 6);
  assert.deepEqual(alloc.spans.get(CHILD_A), { self: 6, total: 6 });
  assert.deepEqual(alloc.spans.get(ROOT), { self: 0, total: 6 });
  assert.equal(byType.get(ALLOC_OBJECTS)!.total, 3);

  // The flame graph of the trace has the same samples, whichever way each is linked.
  const sel = { tenant: 'anonymous', profileType: CPU, matchers: [], start: T0 - 60_000, end: T0 + 60_000 };
  const merged = await store.query.mergeStacks({ ...sel, traceIds: [TRACE] });
  assert.equal(merged.total, cpu.total);
  const leaves = new Map(merged.stacks.map((s, i) => [merged.names[s[0]], merged.values[i]]));
  assert.deepEqual(Object.fromEntries(leaves), { serve: 5, charge: 7, sign: 11, draw: 13, other: 17 });
  // Span selection agrees with each span's self value.
  for (const s of spans) assert.equal((await store.query.mergeStacks({ ...sel, spanIds: [s.spanId] })).total, cpu.spans.get(s.spanId)!.self, s.name);
  // Another tenant sees neither the spans nor the samples.
  assert.deepEqual(await store.query.traceSpans('other', TRACE), []);
  assert.deepEqual(await store.query.traceTotals('other', TRACE, [], T0 - 60_000, T0 + 60_000), []);
  assert.equal((await store.query.mergeStacks({ ...sel, tenant: 'other', traceIds: [TRACE] })).total, 0);
});

test('span totals: roots without a stored parent, and a cycle counted once', () => {
  const self = new Map([
    ['a', 1],
    ['b', 2],
    ['c', 4],
    ['d', 8],
    ['e', 16],
  ]);
  const t = spanTotals(
    [
      { spanId: 'a', parentSpanId: 'missing' },
      { spanId: 'b', parentSpanId: 'a' },
      { spanId: 'c', parentSpanId: 'b' },
      // d and e point at each other: bad data, but every value is still counted once.
      { spanId: 'd', parentSpanId: 'e' },
      { spanId: 'e', parentSpanId: 'd' },
    ],
    self,
  );
  assert.deepEqual(t.get('a'), { self: 1, total: 7 });
  assert.deepEqual(t.get('b'), { self: 2, total: 6 });
  assert.deepEqual(t.get('c'), { self: 4, total: 4 });
  assert.equal(t.get('d')!.total + t.get('e')!.total - Math.min(t.get('d')!.total, t.get('e')!.total), 24);
});
