import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { compressionGzip, createConnectTransport } from '@connectrpc/connect-node';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import {
  Function as PFunction,
  Line,
  Location,
  Profile as PProfile,
  Sample as PSample,
  StringTable,
  ValueType as PValueType,
} from 'pprof-format';
import { Registry } from 'prom-client';
import type { Consumer, Host, Receiver } from '../../core/component.ts';
import { BadRequestError, UnavailableError } from '../../core/errors.ts';
import { createHttpServer } from '../../core/http.ts';
import { profileTypeId, type Batch, type Profile } from '../../core/model.ts';
import { PusherService } from '../../gen/push/v1/push_pb.ts';
import { defaultConfig, factory, schema } from '../../receivers/pyroscope/index.ts';
import { parseSampleRate } from '../../receivers/pyroscope/ingest.ts';
import { parseAtTime } from '../../core/attime.ts';
import { normalizeSampleTypeNames, parseAppName, profileNamesFor, splitByName } from '../../receivers/pyroscope/labels.ts';
import { parseFolded, parseLines, textProfileType } from '../../receivers/pyroscope/text-formats.ts';

const logger = pino({ level: 'silent' });

// ---------------------------------------------------------------------------------------------
// helpers

interface PprofSpec {
  sampleTypes: [string, string][];
  /** Stacks are leaf first, as in pprof. */
  samples: { stack: string[]; values: number[]; labels?: Record<string, string> }[];
  timeNanos?: bigint;
  periodType?: [string, string];
  period?: number;
}

function makePprof(spec: PprofSpec): Uint8Array {
  const st = new StringTable();
  const fnIds = new Map<string, number>();
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  const locOf = (name: string): number => {
    let id = fnIds.get(name);
    if (id === undefined) {
      id = functions.length + 1;
      fnIds.set(name, id);
      functions.push(new PFunction({ id, name: st.dedup(name), systemName: st.dedup(name), filename: st.dedup('main.go') }));
      locations.push(new Location({ id, line: [new Line({ functionId: id, line: 1 })] }));
    }
    return id;
  };
  const samples = spec.samples.map(
    (s) => new PSample({ locationId: s.stack.map(locOf), value: s.values }),
  );
  const p = new PProfile({
    sampleType: spec.sampleTypes.map(([t, u]) => new PValueType({ type: st.dedup(t), unit: st.dedup(u) })),
    sample: samples,
    location: locations,
    function: functions,
    stringTable: st,
    timeNanos: spec.timeNanos ?? 0n,
    periodType: spec.periodType ? new PValueType({ type: st.dedup(spec.periodType[0]), unit: st.dedup(spec.periodType[1]) }) : undefined,
    period: spec.period ?? 0,
  });
  return p.encode();
}

const GO_CPU: PprofSpec = {
  sampleTypes: [
    ['samples', 'count'],
    ['cpu', 'nanoseconds'],
  ],
  samples: [
    { stack: ['leaf', 'mid', 'main'], values: [3, 30_000_000] },
    { stack: ['other', 'main'], values: [1, 10_000_000] },
  ],
  periodType: ['cpu', 'nanoseconds'],
  period: 10_000_000,
  timeNanos: 1_700_000_000_000_000_000n,
};

const GO_BLOCK: PprofSpec = {
  sampleTypes: [
    ['contentions', 'count'],
    ['delay', 'nanoseconds'],
  ],
  samples: [{ stack: ['chanrecv', 'worker'], values: [5, 12345] }],
  periodType: ['contentions', 'count'],
  period: 1,
  timeNanos: 1_700_000_000_000_000_000n,
};

function multipart(parts: Record<string, Uint8Array | string>, boundary = 'XhearthBoundaryX'): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(parts)) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
    );
    chunks.push(Buffer.from(value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

class CapturingConsumer implements Consumer<'profiles'> {
  batches: Batch[] = [];
  failWith?: unknown;
  /** When set, consume waits for this promise before storing. */
  gate?: Promise<void>;
  /** How many consume calls have started. */
  entered = 0;
  async consume(batch: Batch): Promise<void> {
    this.entered++;
    if (this.gate) await this.gate;
    if (this.failWith !== undefined) throw this.failWith;
    this.batches.push(batch);
  }
}

interface Server {
  url: string;
  app: FastifyInstance;
  receiver: Receiver;
  consumer: CapturingConsumer;
  close(): Promise<void>;
}

async function startServer(config = defaultConfig()): Promise<Server> {
  const app = createHttpServer({ endpoint: '127.0.0.1:0', maxBodyBytes: 32 * 1024 * 1024, logger });
  const consumer = new CapturingConsumer();
  const receiver = factory.create({ id: 'pyroscope', logger, metrics: new Registry() }, config, { profiles: consumer });
  const host: Host = { http: app, logger, metrics: new Registry(), extension: () => undefined };
  await receiver.start(host);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    app,
    receiver,
    consumer,
    close: async () => {
      await receiver.shutdown();
      await app.close();
    },
  };
}

function ingest(url: string, query: Record<string, string>, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  const qs = new URLSearchParams(query).toString();
  return fetch(`${url}/ingest?${qs}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : new Uint8Array(body),
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
}

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function typeIdsOf(b: Batch): string[] {
  return b.profile.sampleTypes.map((t) => profileTypeId(b.labels.__name__, t, b.profile.periodType));
}

/** Leaf-first frame names of every sample, with its values. */
function stacksOf(p: Profile): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of p.samples) out.set([...p.stacks[s.stack]].map((i) => p.names[i]).join(';'), s.values);
  return out;
}

// ---------------------------------------------------------------------------------------------
// pure parsing

describe('name parameter', () => {
  test('app name alone', () => {
    assert.deepEqual(parseAppName('my-app.cpu'), { appName: 'my-app.cpu', labels: {} });
  });

  test('labels with dotted names, spaces trimmed, empty values dropped, trailing comma', () => {
    const r = parseAppName(' shop/api.cpu { env = prod , otel.scope.name=x y,region=,} ');
    assert.equal(r.appName, 'shop/api.cpu');
    assert.deepEqual(r.labels, { env: 'prod', 'otel.scope.name': 'x y' });
  });

  test('values may contain "=" and the session label is allowed', () => {
    assert.deepEqual(parseAppName('a{q=a=b,__session_id__=abc}').labels, { q: 'a=b', __session_id__: 'abc' });
  });

  for (const [input, fragment] of [
    ['', 'required'],
    ['{env=prod}', 'required'],
    ['app{env=prod', "missing its closing '}'"],
    ['app{env}', "has no '=value'"],
    ['app{env=prod}x', "after '}'"],
    ['app{=prod}', 'empty label name'],
    ['app{a-b=1}', 'invalid label name'],
    ['app{__name__=x}', 'reserved'],
    ['app{__hidden=x}', 'reserved'],
    ['app{a=1,a=2}', 'duplicate'],
    ['app{a={b}', "unexpected '{'"],
    ['my app{a=1}', 'not allowed in application name'],
  ] as const) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseAppName(input),
        (err: unknown) => err instanceof BadRequestError && err.message.includes(fragment),
      );
    });
  }
});

describe('attime', () => {
  const now = 1_700_000_000_123_000_000n;
  test('unix timestamps by digit count', () => {
    assert.equal(parseAtTime('1577836800', now), 1_577_836_800_000_000_000n);
    assert.equal(parseAtTime('1577836800001', now), 1_577_836_800_001_000_000n);
    assert.equal(parseAtTime('1577836800000001', now), 1_577_836_800_000_001_000n);
    assert.equal(parseAtTime('1577836800000000001', now), 1_577_836_800_000_000_001n);
  });
  test('YYYYMMDD is UTC midnight', () => {
    assert.equal(parseAtTime('20200101', now), 1_577_836_800_000_000_000n);
  });
  test('now and relative offsets', () => {
    assert.equal(parseAtTime('now', now), now);
    assert.equal(parseAtTime('now-1h', now), now - 3600n * 1_000_000_000n);
    assert.equal(parseAtTime('now-1h30m', now), now - 5400n * 1_000_000_000n);
    assert.equal(parseAtTime('now+10s', now), now + 10n * 1_000_000_000n);
    assert.equal(parseAtTime('-2d', now), now - 2n * 86400n * 1_000_000_000n);
    assert.equal(parseAtTime('now-1M', now), now - 30n * 86400n * 1_000_000_000n);
    assert.equal(parseAtTime('now-1min', now), now - 60n * 1_000_000_000n);
  });
  for (const bad of ['yesterday', 'now-1', 'now-1fortnight', '12345678901234567890', 'now-h']) {
    test(`rejects ${bad}`, () => assert.throws(() => parseAtTime(bad, now, 'from'), BadRequestError));
  }
});

test('sampleRate: default 100, invalid or negative means 100, 0 is kept', () => {
  assert.equal(parseSampleRate(undefined), 100);
  assert.equal(parseSampleRate('97'), 97);
  assert.equal(parseSampleRate('0'), 0);
  assert.equal(parseSampleRate('-5'), 100);
  assert.equal(parseSampleRate('abc'), 100);
  assert.equal(parseSampleRate('1.5'), 100);
});

describe('text formats', () => {
  const timing = { timeNanos: 1_000n, durationNanos: 10_000_000_000n };

  test('folded: frames leaf first, duplicate stacks summed, cpu scaled to nanoseconds', () => {
    const type = textProfileType('myapp.cpu', 100);
    assert.equal(type.serviceName, 'myapp');
    const p = parseFolded('main;work;leaf 3\nmain;idle 2\n\nmain;work;leaf 1\r\n', type, timing);
    assert.deepEqual(p.sampleTypes, [{ type: 'cpu', unit: 'nanoseconds' }]);
    assert.deepEqual(p.periodType, { type: 'cpu', unit: 'nanoseconds' });
    assert.equal(p.period, 10_000_000);
    assert.equal(profileTypeId(type.name, p.sampleTypes[0], p.periodType), 'process_cpu:cpu:nanoseconds:cpu:nanoseconds');
    const stacks = stacksOf(p);
    assert.deepEqual(stacks.get('leaf;work;main'), [40_000_000]);
    assert.deepEqual(stacks.get('idle;main'), [20_000_000]);
    assert.equal(p.names[0], '');
    assert.equal(p.stacks.length, 2);
    assert.deepEqual(p.sampleLabelSets, [{}]);
    assert.equal(p.timeNanos, 1_000n);
  });

  test('an app name without a dot is cpu; sampleRate scales the period', () => {
    const type = textProfileType('myapp', 250);
    assert.equal(type.name, 'process_cpu');
    assert.equal(type.serviceName, 'myapp');
    assert.equal(type.period, 4_000_000);
    const p = parseFolded('a;b 2', type, timing);
    assert.deepEqual(p.samples[0].values, [8_000_000]);
  });

  test('wall keeps Pyroscope\'s profile type ID', () => {
    const type = textProfileType('svc.wall', 100);
    assert.equal(
      profileTypeId(type.name, type.sampleType, type.periodType),
      'wall:wall:nanoseconds:cpu:nanoseconds',
    );
  });

  test('sampleRate 0 keeps raw sample counts', () => {
    const type = textProfileType('svc.cpu', 0);
    const p = parseFolded('a;b 2', type, timing);
    assert.equal(profileTypeId(type.name, p.sampleTypes[0], p.periodType), 'process_cpu:samples:count::');
    assert.deepEqual(p.samples[0].values, [2]);
  });

  test('suffix table', () => {
    const id = (name: string) => {
      const t = textProfileType(name, 100);
      return profileTypeId(t.name, t.sampleType, t.periodType);
    };
    assert.equal(id('a.b.alloc_space'), 'memory:alloc_space:bytes::');
    assert.equal(id('svc.inuse_objects'), 'memory:inuse_objects:count::');
    assert.equal(id('svc.goroutines'), 'goroutine:goroutines:count::');
    assert.equal(id('svc.mutex_duration'), 'mutex:delay:nanoseconds::');
    assert.equal(id('svc.block_count'), 'block:contentions:count::');
    assert.equal(id('svc.lock_duration'), 'block:delay:nanoseconds::');
    assert.equal(textProfileType('a.b.alloc_space', 100).serviceName, 'a.b');
    assert.throws(() => textProfileType('svc.heap', 100), /unknown profile type "heap"/);
  });

  test('lines: one stack per line, each worth one', () => {
    const type = textProfileType('svc.alloc_objects', 100);
    const p = parseLines('main;alloc\nmain;alloc\nmain;other\n', type, timing);
    const stacks = stacksOf(p);
    assert.deepEqual(stacks.get('alloc;main'), [2]);
    assert.deepEqual(stacks.get('other;main'), [1]);
  });

  test('bad counts name the line', () => {
    const type = textProfileType('svc.cpu', 100);
    assert.throws(() => parseFolded('a;b 1\n\na;c x\n', type, timing), /line 3: the count "x"/);
    assert.throws(() => parseFolded('a;b 1\nnocount\n', type, timing), /line 2: expected "stack count"/);
    assert.throws(() => parseFolded('a;b -4\n', type, timing), /line 1/);
  });
});

describe('__name__ derivation', () => {
  const vt = (...names: string[]) => names.map((n) => ({ type: n, unit: 'x' }));
  test('Go profiles get one name per profile, as in Pyroscope', () => {
    assert.deepEqual(profileNamesFor(vt('samples', 'cpu')), ['process_cpu', 'process_cpu']);
    assert.deepEqual(profileNamesFor(vt('alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space')), Array(4).fill('memory'));
    assert.deepEqual(profileNamesFor(vt('goroutine')), ['goroutines']);
    // Without a config, contentions/delay are taken for a mutex profile.
    assert.deepEqual(profileNamesFor(vt('contentions', 'delay')), ['mutex', 'mutex']);
  });
  test('display names from sample_type_config decide block vs mutex', () => {
    const config = { contentions: { 'display-name': 'block_count' }, delay: { 'display-name': 'block_duration' } };
    assert.deepEqual(profileNamesFor(vt('contentions', 'delay'), config), ['block', 'block']);
  });
  test('wall wins over everything', () => {
    assert.deepEqual(profileNamesFor(vt('samples', 'wall', 'cpu')), ['wall', 'wall', 'wall']);
  });
  test('Node.js heap', () => {
    assert.deepEqual(profileNamesFor(vt('objects', 'space')), ['memory', 'memory']);
  });
  test('sample types of different families get different names', () => {
    // `exception` is recognised as nothing, so it keeps the profile's first name.
    assert.deepEqual(profileNamesFor(vt('cpu', 'alloc_samples', 'alloc_size', 'exception')), [
      'process_cpu',
      'memory',
      'memory',
      'process_cpu',
    ]);
  });
  test('dash-named sample types are normalized before naming', () => {
    const p = normalizeSampleTypeNames({
      sampleTypes: [
        { type: 'alloc-samples', unit: 'count' },
        { type: 'cpu', unit: 'nanoseconds' },
      ],
      periodType: { type: '', unit: '' },
      period: 0,
      timeNanos: 0n,
      durationNanos: 0n,
      names: [''],
      stacks: [],
      samples: [],
      sampleLabelSets: [{}],
    });
    assert.deepEqual(p.sampleTypes.map((t) => t.type), ['alloc_samples', 'cpu']);
    assert.deepEqual(profileNamesFor(p.sampleTypes), ['memory', 'process_cpu']);
  });
  test('fallback is the last sample type, made a valid name', () => {
    assert.deepEqual(profileNamesFor(vt('events', 'lock-wait')), ['lock_wait', 'lock_wait']);
  });
});

test('splitByName keeps only each name\'s values and shares the tables', () => {
  const p: Profile = {
    sampleTypes: [
      { type: 'cpu', unit: 'nanoseconds' },
      { type: 'alloc_space', unit: 'bytes' },
    ],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 1,
    timeNanos: 1n,
    durationNanos: 0n,
    names: ['', 'a', 'b'],
    stacks: [Uint32Array.of(1), Uint32Array.of(2, 1)],
    samples: [
      { stack: 0, values: [5, 0], labelSet: 0 },
      { stack: 1, values: [0, 7], labelSet: 0 },
    ],
    sampleLabelSets: [{}],
  };
  const parts = splitByName(p, ['process_cpu', 'memory']);
  assert.equal(parts.length, 2);
  const [cpu, mem] = parts;
  assert.equal(cpu.name, 'process_cpu');
  assert.deepEqual(cpu.profile.sampleTypes, [{ type: 'cpu', unit: 'nanoseconds' }]);
  assert.deepEqual(cpu.profile.samples, [{ stack: 0, values: [5], labelSet: 0 }]);
  assert.deepEqual(mem.profile.samples, [{ stack: 1, values: [7], labelSet: 0 }]);
  assert.equal(cpu.profile.names, p.names);
  assert.equal(mem.profile.stacks, p.stacks);
  assert.equal(splitByName(p, ['x', 'x'])[0].profile, p);
});

test('config schema: defaults are valid, unknown keys are rejected', () => {
  assert.equal(factory.type, 'pyroscope');
  assert.equal(factory.kind, 'receiver');
  assert.deepEqual(factory.signals, ['profiles']);
  assert.ok(schema.safeParse(defaultConfig()).success);
  assert.equal(schema.safeParse({ ...defaultConfig(), bogus: 1 }).success, false);
  assert.equal(schema.safeParse({ ...defaultConfig(), paths: { ingest: ['/x'], other: [] } }).success, false);
  assert.equal(schema.safeParse({ ...defaultConfig(), max_profile_bytes: -1 }).success, false);
});

// ---------------------------------------------------------------------------------------------
// over HTTP

describe('/ingest', () => {
  let s: Server;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.close();
  });
  beforeEach(() => {
    s.consumer.batches = [];
    s.consumer.failWith = undefined;
    s.consumer.gate = undefined;
    s.consumer.entered = 0;
  });

  test('folded text becomes one batch with Pyroscope\'s labels', async () => {
    const res = await ingest(
      s.url,
      { name: 'shop.cpu{env=prod,otel.scope.name=x}', from: '1700000000', until: '1700000010', sampleRate: '100', spyName: 'ebpfspy' },
      'main;work 3\nmain;idle 1\n',
      { 'content-type': 'text/plain', 'x-scope-orgid': 'team-a' },
    );
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches.length, 1);
    const b = s.consumer.batches[0];
    assert.equal(b.tenant, 'team-a');
    assert.deepEqual(b.labels, {
      __name__: 'process_cpu',
      service_name: 'shop',
      env: 'prod',
      'otel.scope.name': 'x',
      pyroscope_spy: 'ebpfspy',
    });
    assert.deepEqual(typeIdsOf(b), ['process_cpu:cpu:nanoseconds:cpu:nanoseconds']);
    assert.equal(b.profile.timeNanos, 1_700_000_000_000_000_000n);
    assert.equal(b.profile.durationNanos, 10_000_000_000n);
    assert.deepEqual(stacksOf(b.profile).get('work;main'), [30_000_000]);
    assert.match(b.idempotencyKey, /^[0-9a-f]{64}$/);
  });

  test('the /pyroscope/ingest alias and the lines format', async () => {
    const res = await fetch(`${s.url}/pyroscope/ingest?name=svc.alloc_objects&format=lines`, {
      method: 'POST',
      body: 'a;b\na;b\na;c\n',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(res.status, 200);
    const b = s.consumer.batches[0];
    assert.equal(b.labels.__name__, 'memory');
    assert.equal(b.labels.service_name, 'svc');
    assert.equal(b.labels.pyroscope_spy, 'unknown');
    assert.equal(b.tenant, 'anonymous');
    assert.deepEqual(stacksOf(b.profile).get('b;a'), [2]);
  });

  test('a service_name label moves the app name to app_name', async () => {
    const res = await ingest(s.url, { name: 'legacy.cpu{service_name=real}' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches[0].labels.service_name, 'real');
    assert.equal(s.consumer.batches[0].labels.app_name, 'legacy');
  });

  test('the same upload twice gets the same idempotency key', async () => {
    const q = { name: 'svc.cpu', from: '1700000000', until: '1700000010' };
    await ingest(s.url, q, 'a;b 1', { 'content-type': 'text/plain' });
    await ingest(s.url, q, 'a;b 1', { 'content-type': 'text/plain' });
    await ingest(s.url, q, 'a;b 2', { 'content-type': 'text/plain' });
    const keys = s.consumer.batches.map((b) => b.idempotencyKey);
    assert.equal(keys[0], keys[1]);
    assert.notEqual(keys[0], keys[2]);
  });

  test('text uploads with a profile_id label are dropped silently', async () => {
    const res = await ingest(s.url, { name: 'svc.cpu{profile_id=abc}' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches.length, 0);
  });

  test('malformed folded text is a 400 naming the line', async () => {
    const res = await ingest(s.url, { name: 'svc.cpu' }, 'a;b 1\na;b one\n', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { message: string };
    assert.match(body.message, /line 2/);
    assert.equal(s.consumer.batches.length, 0);
  });

  test('unknown app-name suffix for text is a 400', async () => {
    const res = await ingest(s.url, { name: 'svc.heap' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
  });

  test('missing or malformed name is a 400', async () => {
    assert.equal((await ingest(s.url, {}, 'a 1')).status, 400);
    assert.equal((await ingest(s.url, { name: 'svc{a=1' }, 'a 1')).status, 400);
    assert.equal((await ingest(s.url, { name: 'svc', from: 'garbage' }, 'a 1')).status, 400);
  });

  test('jfr, speedscope, trie and tree bodies that are not what they claim are a 400', async () => {
    for (const format of ['jfr', 'speedscope', 'trie', 'tree']) {
      const res = await ingest(s.url, { name: 'svc', format }, 'xyz');
      assert.equal(res.status, 400, format);
      assert.match(((await res.json()) as { message: string }).message, new RegExp(format === 'tree' ? 'tree' : format));
    }
    const res = await ingest(s.url, { name: 'svc' }, 'xyz', { 'content-type': 'binary/octet-stream+trie' });
    assert.equal(res.status, 400);
  });

  test('raw gzip pprof: service_name is the whole name, time 0 is replaced by from', async () => {
    const body = gzipSync(makePprof({ ...GO_CPU, timeNanos: 0n }));
    const res = await ingest(s.url, { name: 'my.app{pod=p1}', format: 'pprof', from: '1700000100', until: '1700000115', spyName: 'gospy' }, body);
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches.length, 1);
    const b = s.consumer.batches[0];
    assert.deepEqual(b.labels, { __name__: 'process_cpu', service_name: 'my.app', pod: 'p1', pyroscope_spy: 'gospy' });
    assert.deepEqual(typeIdsOf(b), [
      'process_cpu:samples:count:cpu:nanoseconds',
      'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
    ]);
    assert.equal(b.profile.timeNanos, 1_700_000_100_000_000_000n);
    assert.deepEqual(stacksOf(b.profile).get('leaf;mid;main'), [3, 30_000_000]);
  });

  test('a pprof time in 1970 is replaced too, a real one is kept', async () => {
    await ingest(s.url, { name: 'a', format: 'pprof', from: '1700000100' }, makePprof({ ...GO_CPU, timeNanos: 1_000_000n }));
    await ingest(s.url, { name: 'a', format: 'pprof', from: '1700000100' }, makePprof(GO_CPU));
    assert.equal(s.consumer.batches[0].profile.timeNanos, 1_700_000_100_000_000_000n);
    assert.equal(s.consumer.batches[1].profile.timeNanos, GO_CPU.timeNanos);
  });

  test('a pprof mixing families is split into one batch per __name__', async () => {
    const body = makePprof({
      sampleTypes: [
        ['cpu', 'nanoseconds'],
        ['alloc_space', 'bytes'],
      ],
      samples: [
        { stack: ['compute', 'main'], values: [100, 0] },
        { stack: ['alloc', 'main'], values: [0, 4096] },
      ],
      timeNanos: 1_700_000_000_000_000_000n,
    });
    const res = await ingest(s.url, { name: 'java-app', format: 'pprof' }, body);
    assert.equal(res.status, 200);
    const byName = new Map(s.consumer.batches.map((b) => [b.labels.__name__, b]));
    assert.deepEqual([...byName.keys()].sort(), ['memory', 'process_cpu']);
    assert.deepEqual([...stacksOf(byName.get('process_cpu')!.profile)], [['compute;main', [100]]]);
    assert.deepEqual([...stacksOf(byName.get('memory')!.profile)], [['alloc;main', [4096]]]);
    assert.notEqual(byName.get('memory')!.idempotencyKey, byName.get('process_cpu')!.idempotencyKey);
  });

  test('multipart pprof with sample_type_config names a block profile', async () => {
    const { body, contentType } = multipart({
      profile: gzipSync(makePprof(GO_BLOCK)),
      sample_type_config: JSON.stringify({
        contentions: { 'display-name': 'block_count', units: 'lock_samples' },
        delay: { 'display-name': 'block_duration', units: 'lock_nanoseconds' },
      }),
    });
    const res = await ingest(s.url, { name: 'svc{x=1}', spyName: 'gospy' }, body, { 'content-type': contentType });
    assert.equal(res.status, 200, await res.text());
    const b = s.consumer.batches[0];
    assert.equal(b.labels.__name__, 'block');
    assert.deepEqual(typeIdsOf(b), ['block:contentions:count:contentions:count', 'block:delay:nanoseconds:contentions:count']);
    assert.deepEqual(stacksOf(b.profile).get('chanrecv;worker'), [5, 12345]);
  });

  test('multipart without sample_type_config uses Pyroscope\'s defaults', async () => {
    const { body, contentType } = multipart({ profile: makePprof(GO_BLOCK), prev_profile: '' });
    const res = await ingest(s.url, { name: 'svc' }, body, { 'content-type': contentType });
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches[0].labels.__name__, 'mutex');
  });

  test('a non-empty prev_profile is rejected', async () => {
    const { body, contentType } = multipart({ profile: makePprof(GO_BLOCK), prev_profile: makePprof(GO_BLOCK) });
    const res = await ingest(s.url, { name: 'svc' }, body, { 'content-type': contentType });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /unsupported client version/);
  });

  test('multipart errors: no profile part, bad JSON config, broken framing', async () => {
    let m = multipart({ other: 'x' });
    assert.equal((await ingest(s.url, { name: 'svc' }, m.body, { 'content-type': m.contentType })).status, 400);
    m = multipart({ profile: makePprof(GO_CPU), sample_type_config: '{not json' });
    assert.equal((await ingest(s.url, { name: 'svc' }, m.body, { 'content-type': m.contentType })).status, 400);
    m = multipart({ profile: makePprof(GO_CPU), sample_type_config: '{"cpu": {"sampled": "yes"}}' });
    assert.equal((await ingest(s.url, { name: 'svc' }, m.body, { 'content-type': m.contentType })).status, 400);
    const truncated = m.body.subarray(0, m.body.length - 40);
    assert.equal((await ingest(s.url, { name: 'svc' }, truncated, { 'content-type': m.contentType })).status, 400);
    assert.equal((await ingest(s.url, { name: 'svc' }, 'junk', { 'content-type': 'multipart/form-data' })).status, 400);
    assert.equal(s.consumer.batches.length, 0);
  });

  test('an empty pprof upload stores nothing', async () => {
    const res = await ingest(s.url, { name: 'svc', format: 'pprof' }, new Uint8Array(0));
    assert.equal(res.status, 200);
    assert.equal(s.consumer.batches.length, 0);
  });

  test('malformed pprof is a 400', async () => {
    const res = await ingest(s.url, { name: 'svc', format: 'pprof' }, Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
    assert.equal(res.status, 400);
  });

  test('Content-Encoding gzip on a folded body', async () => {
    const res = await ingest(s.url, { name: 'svc.cpu' }, gzipSync('a;b 2\n'), { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    assert.equal(res.status, 200);
    assert.deepEqual(stacksOf(s.consumer.batches[0].profile).get('b;a'), [20_000_000]);
    const bad = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-encoding': 'br' });
    assert.equal(bad.status, 415);
  });

  test('label limits are enforced', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `l${i}=v`).join(',');
    let res = await ingest(s.url, { name: `svc.cpu{${many}}` }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /max_label_names_per_series exceeded/);
    res = await ingest(s.url, { name: `svc.cpu{k=${'v'.repeat(2049)}}` }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
    res = await ingest(s.url, { name: `svc.cpu{${'k'.repeat(1025)}=v}` }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
    const ok = Array.from({ length: 26 }, (_, i) => `l${i}=v`).join(',');
    res = await ingest(s.url, { name: `svc.cpu{${ok}}` }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 200, 'service_name, __name__, pyroscope_spy and 26 labels make 29');
    assert.equal(s.consumer.batches.length, 1);
  });

  test('an invalid tenant is a 400', async () => {
    const res = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'x-scope-orgid': 'bad tenant/..' });
    assert.equal(res.status, 400);
  });

  test('a retryable pipeline error is passed through with Retry-After', async () => {
    s.consumer.failWith = new UnavailableError('nats is down', 3);
    const res = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '3');
    assert.equal(((await res.json()) as { message: string }).message, 'nats is down');
  });

  test('any other pipeline error becomes a 503', async () => {
    s.consumer.failWith = new Error('socket hang up');
    const res = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
  });

  test('a pipeline 4xx reaches the client', async () => {
    s.consumer.failWith = new BadRequestError('too old');
    const res = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(res.status, 400);
  });

  test('the reply waits for every batch to be durable', async () => {
    let release!: () => void;
    s.consumer.gate = new Promise((r) => (release = r));
    let settled = false;
    const pending = ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' }).then((r) => {
      settled = true;
      return r;
    });
    await waitFor(() => s.consumer.entered > 0);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false);
    release();
    assert.equal((await pending).status, 200);
  });
});

describe('size limits', () => {
  let s: Server;
  before(async () => {
    s = await startServer({ ...defaultConfig(), max_profile_bytes: 1024 });
  });
  after(async () => {
    await s.close();
  });

  test('an oversized profile is a 400 on /ingest (as Pyroscope validates it) and InvalidArgument on push', async () => {
    const big = makePprof({
      sampleTypes: [['cpu', 'nanoseconds']],
      samples: Array.from({ length: 200 }, (_, i) => ({ stack: [`fn_${i}_${'x'.repeat(20)}`, 'main'], values: [i + 1] })),
    });
    assert.ok(big.length > 1024);
    const res = await ingest(s.url, { name: 'svc', format: 'pprof' }, gzipSync(big));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /exceeds 1024 bytes/);
    const text = await ingest(s.url, { name: 'svc.cpu' }, 'a;b 1\n'.repeat(300), { 'content-type': 'text/plain' });
    assert.equal(text.status, 400);

    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    await assert.rejects(
      client.push({ series: [{ labels: [{ name: 'service_name', value: 'svc' }], samples: [{ rawProfile: big }] }] }),
      (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument,
    );
    assert.equal(s.consumer.batches.length, 0);
  });
});

describe('push.v1 over Connect', () => {
  let s: Server;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.close();
  });
  beforeEach(() => {
    s.consumer.batches = [];
    s.consumer.failWith = undefined;
  });

  test('binary protobuf with gzip request compression', async () => {
    const transport = createConnectTransport({
      baseUrl: s.url,
      httpVersion: '1.1',
      useBinaryFormat: true,
      sendCompression: compressionGzip,
      compressMinBytes: 0,
    });
    const client = createClient(PusherService, transport);
    await client.push(
      {
        series: [
          {
            labels: [
              { name: '__name__', value: 'process_cpu' },
              { name: 'service_name', value: 'checkout' },
              { name: '__delta__', value: 'false' },
              { name: 'env', value: 'prod' },
            ],
            samples: [{ rawProfile: gzipSync(makePprof(GO_CPU)), ID: '0f8fad5b-d9cb-469f-a165-70867728950e' }],
            annotations: [{ key: 'ignored', value: 'x' }],
          },
        ],
      },
      { headers: { 'X-Scope-OrgID': 'tenant-1' } },
    );
    assert.equal(s.consumer.batches.length, 1);
    const b = s.consumer.batches[0];
    assert.equal(b.tenant, 'tenant-1');
    assert.deepEqual(b.labels, { __name__: 'process_cpu', service_name: 'checkout', env: 'prod' });
    assert.deepEqual(typeIdsOf(b), ['process_cpu:samples:count:cpu:nanoseconds', 'process_cpu:cpu:nanoseconds:cpu:nanoseconds']);
    assert.equal(b.profile.timeNanos, GO_CPU.timeNanos);
  });

  test('the sample ID makes the idempotency key; without one the content does', async () => {
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    const labels = [{ name: 'service_name', value: 'svc' }, { name: '__name__', value: 'process_cpu' }];
    const a = makePprof(GO_CPU);
    const b = makePprof({ ...GO_CPU, timeNanos: GO_CPU.timeNanos! + 1n });
    await client.push({ series: [{ labels, samples: [{ rawProfile: a, ID: 'id-1' }] }] });
    await client.push({ series: [{ labels, samples: [{ rawProfile: b, ID: 'id-1' }] }] });
    await client.push({ series: [{ labels, samples: [{ rawProfile: a }] }] });
    await client.push({ series: [{ labels, samples: [{ rawProfile: a }] }] });
    await client.push({ series: [{ labels, samples: [{ rawProfile: b }] }] });
    const k = s.consumer.batches.map((x) => x.idempotencyKey);
    assert.equal(k[0], k[1]);
    assert.equal(k[2], k[3]);
    assert.notEqual(k[2], k[4]);
    assert.notEqual(k[0], k[2]);
  });

  test('JSON over fetch, gzip-encoded, with derived names and the unknown_service default', async () => {
    const raw = Buffer.from(makePprof(GO_BLOCK)).toString('base64');
    const cpu = Buffer.from(gzipSync(makePprof(GO_CPU))).toString('base64');
    const body = JSON.stringify({
      series: [
        { labels: [{ name: 'job', value: 'j' }], samples: [{ rawProfile: raw, ID: 'x' }] },
        { labels: [{ name: 'service_name', value: 'api' }], samples: [{ rawProfile: cpu }] },
      ],
    });
    const res = await fetch(`${s.url}/push.v1.PusherService/Push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-scope-orgid': 't2' },
      body: gzipSync(body),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), {});
    assert.equal(s.consumer.batches.length, 2);
    const [block, cpuBatch] = s.consumer.batches;
    assert.deepEqual(block.labels, { job: 'j', service_name: 'unknown_service', __name__: 'mutex' });
    assert.deepEqual(cpuBatch.labels, { service_name: 'api', __name__: 'process_cpu' });
    assert.equal(cpuBatch.tenant, 't2');
  });

  test('a profile mixing families is split when __name__ is not given', async () => {
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    const raw = makePprof({
      sampleTypes: [
        ['cpu', 'nanoseconds'],
        ['alloc_space', 'bytes'],
      ],
      samples: [{ stack: ['f', 'main'], values: [1, 2] }],
      timeNanos: 5n * 10n ** 18n,
    });
    await client.push({ series: [{ labels: [{ name: 'service_name', value: 's' }], samples: [{ rawProfile: raw, ID: 'p' }] }] });
    assert.deepEqual(s.consumer.batches.map((b) => b.labels.__name__).sort(), ['memory', 'process_cpu']);
    const keys = new Set(s.consumer.batches.map((b) => b.idempotencyKey));
    assert.equal(keys.size, 2);
  });

  test('dashes in sample type names become underscores', async () => {
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    const raw = makePprof({
      sampleTypes: [
        ['cpu-time', 'nanoseconds'],
        ['alloc-samples', 'count'],
      ],
      samples: [{ stack: ['f', 'main'], values: [1, 2] }],
      timeNanos: 5n * 10n ** 18n,
    });
    await client.push({ series: [{ labels: [{ name: 'service_name', value: 's' }], samples: [{ rawProfile: raw }] }] });
    assert.deepEqual(s.consumer.batches.flatMap(typeIdsOf).sort(), ['memory:alloc_samples:count::', 'process_cpu:cpu_time:nanoseconds::']);
  });

  test('a zero profile time means now', async () => {
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    const before = BigInt(Date.now()) * 1_000_000n;
    await client.push({
      series: [{ labels: [{ name: 'service_name', value: 's' }], samples: [{ rawProfile: makePprof({ ...GO_CPU, timeNanos: 0n }) }] }],
    });
    assert.ok(s.consumer.batches[0].profile.timeNanos >= before);
  });

  test('bad input is InvalidArgument (HTTP 400) and nothing is stored', async () => {
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    const ok = makePprof(GO_CPU);
    const cases = [
      // the second sample is not a pprof: the first must not be stored either
      { series: [{ labels: [{ name: 'service_name', value: 's' }], samples: [{ rawProfile: ok }, { rawProfile: Uint8Array.of(0xff, 0xff, 0xff) }] }] },
      { series: [{ labels: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }], samples: [{ rawProfile: ok }] }] },
      { series: [{ labels: [{ name: '__hidden__', value: '1' }], samples: [{ rawProfile: ok }] }] },
      { series: [{ labels: [{ name: '__name__', value: 'not valid!' }], samples: [{ rawProfile: ok }] }] },
      {
        series: [
          {
            labels: Array.from({ length: 31 }, (_, i) => ({ name: `l${i}`, value: 'v' })),
            samples: [{ rawProfile: ok }],
          },
        ],
      },
    ];
    for (const req of cases) {
      await assert.rejects(client.push(req), (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument);
    }
    assert.equal(s.consumer.batches.length, 0);

    const res = await fetch(`${s.url}/push.v1.PusherService/Push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ series: [{ labels: [{ name: '', value: 'x' }], samples: [{ rawProfile: Buffer.from(ok).toString('base64') }] }] }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'invalid_argument');
  });

  test('pipeline failures map to Unavailable (503) with Retry-After', async () => {
    const body = JSON.stringify({
      series: [{ labels: [{ name: 'service_name', value: 's' }], samples: [{ rawProfile: Buffer.from(makePprof(GO_CPU)).toString('base64') }] }],
    });
    for (const failure of [new UnavailableError('clickhouse is down', 2), new Error('boom')]) {
      s.consumer.failWith = failure;
      const res = await fetch(`${s.url}/push.v1.PusherService/Push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), failure instanceof UnavailableError ? '2' : '1');
      const json = (await res.json()) as { code: string; message: string };
      assert.equal(json.code, 'unavailable');
      assert.ok(!json.message.includes('boom'), 'internal error text must not leak');
    }
  });
});

test('paths.ingest chooses the legacy routes; push.v1 stays', async () => {
  const s = await startServer({ ...defaultConfig(), paths: { ingest: ['/custom/ingest'] } });
  try {
    assert.equal((await ingest(s.url, { name: 'svc.cpu' }, 'a 1')).status, 404);
    const res = await fetch(`${s.url}/custom/ingest?name=svc.cpu`, { method: 'POST', body: 'a 1', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    await client.push({ series: [] });
    assert.equal(s.consumer.batches.length, 1);
  } finally {
    await s.close();
  }
});

describe('shutdown', () => {
  test('waits for in-flight requests, then answers 503', async () => {
    const s = await startServer();
    let release!: () => void;
    s.consumer.gate = new Promise((r) => (release = r));
    const pending = ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' });
    await waitFor(() => s.consumer.entered > 0);
    let shutDown = false;
    const stopping = s.receiver.shutdown().then(() => (shutDown = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(shutDown, false, 'shutdown must wait for the in-flight request');

    const refused = await ingest(s.url, { name: 'svc.cpu' }, 'a 1', { 'content-type': 'text/plain' });
    assert.equal(refused.status, 503);
    const client = createClient(PusherService, createConnectTransport({ baseUrl: s.url, httpVersion: '1.1' }));
    await assert.rejects(
      client.push({ series: [] }),
      (err: unknown) => err instanceof ConnectError && err.code === Code.Unavailable,
    );

    release();
    assert.equal((await pending).status, 200);
    await stopping;
    assert.equal(shutDown, true);
    assert.equal(s.consumer.batches.length, 1);
    await s.app.close();
  });
});
