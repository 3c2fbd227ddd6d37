/**
 * Self-tracing: a real Hearth sends spans of its own ingest and query work, as OTLP/HTTP
 * protobuf, to a collector that the test runs and decodes with types generated from the
 * OpenTelemetry protos (not with anything of Hearth's).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { fromBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.ts';
import type { AnyValue } from '../../gen/opentelemetry/proto/common/v1/common_pb.ts';
import { encodePprof } from '../../formats/pprof/index.ts';
import type { Profile } from '../../core/model.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';
import { builtinComponents } from '../../components.ts';
import { ConfigError, parseConfig } from '../../core/config.ts';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  serviceName: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function plain(v: AnyValue | undefined): string | number | boolean {
  const x = v?.value;
  if (!x) return '';
  if (x.case === 'intValue') return Number(x.value);
  if (x.case === 'stringValue' || x.case === 'boolValue' || x.case === 'doubleValue') return x.value;
  return String(x.value);
}

/** A stand-in OTLP/HTTP traces endpoint. */
async function startCollector(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; contentTypes: Set<string> }> {
  const spans: ReceivedSpan[] = [];
  const contentTypes = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      const request = fromBinary(ExportTraceServiceRequestSchema, Buffer.concat(chunks));
      for (const rs of request.resourceSpans) {
        const serviceName = String(plain(rs.resource?.attributes.find((a) => a.key === 'service.name')?.value));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: hex(s.traceId),
              spanId: hex(s.spanId),
              parentSpanId: hex(s.parentSpanId),
              name: s.name,
              kind: s.kind,
              attributes: Object.fromEntries(s.attributes.map((a) => [a.key, plain(a.value)])),
              serviceName,
            });
          }
        }
      }
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/v1/traces`, spans, contentTypes };
}

function cpuProfile(): Profile {
  return {
    sampleTypes: [{ type: 'samples', unit: 'count' }, { type: 'cpu', unit: 'nanoseconds' }],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    timeNanos: BigInt(Date.now() - 60_000) * 1_000_000n,
    durationNanos: 10_000_000_000n,
    names: ['', 'main', 'work'],
    stacks: [Uint32Array.of(2, 1), Uint32Array.of(1)],
    samples: [
      { stack: 0, values: [3, 30_000_000], labelSet: 0 },
      { stack: 1, values: [1, 10_000_000], labelSet: 0 },
    ],
    sampleLabelSets: [{}],
  };
}

/** Retries what a real client would retry (503/429 while Hearth is busy). */
async function send(url: string, init?: RequestInit): Promise<Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(url, init);
    if ((res.status !== 503 && res.status !== 429) || Date.now() > deadline) return res;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitFor<T>(what: string, find: () => T | undefined, seen: () => string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} arrived; spans seen:\n${seen()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Adds a service.telemetry.traces block next to the logs block of a config. */
function withSelfTracing(config: string, endpoint: string, serviceName: string): string {
  const out = config.replace(
    /( +)logs:\n +level: info\n/,
    (m, indent: string) =>
      `${m}${indent}traces:\n${indent}  endpoint: ${endpoint}\n${indent}  batch_delay_ms: 100\n${indent}  service_name: ${serviceName}\n`,
  );
  assert.notEqual(out, config, 'the config has a service.telemetry.logs block to put traces beside');
  return out;
}

describe('self-tracing', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let hearth: HearthProcess;
  let tmp: ReturnType<typeof tempDir>;

  before(async () => {
    collector = await startCollector();
    tmp = tempDir();
    const config = withSelfTracing(singleNodeConfig(tmp.dir), collector.url, 'hearth-under-test');
    assert.match(config, /traces:\n\s+endpoint: http/);
    hearth = await startHearth(config, tmp.dir);
  });

  after(async () => {
    await hearth?.stop();
    await new Promise((r) => collector?.server.close(r));
    tmp?.remove();
  });

  const list = () => collector.spans.map((s) => `${s.traceId}/${s.spanId}<-${s.parentSpanId} ${s.name} ${JSON.stringify(s.attributes)}`).join('\n');

  test('an ingest request and a query each get a server span with route and status; their storage work is nested in them', async () => {
    // A caller's traceparent makes Hearth's span part of the caller's trace.
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const ingest = await send(`${hearth.url}/ingest?name=traced.app&format=pprof`, {
      method: 'POST',
      body: Buffer.from(encodePprof(cpuProfile())),
      headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` },
    });
    assert.equal(ingest.status, 200, await ingest.text());

    const query = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="traced.app"}';
    const render = await send(`${hearth.url}/pyroscope/render?query=${encodeURIComponent(query)}&from=now-1h&until=now`);
    assert.equal(render.status, 200);
    const body = (await render.json()) as { flamebearer: { numTicks: number } };
    assert.equal(body.flamebearer.numTicks, 40_000_000);

    const ingestSpan = await waitFor('ingest span', () => collector.spans.find((s) => s.name === 'POST /ingest'), list);
    assert.equal(ingestSpan.kind, 2, 'SPAN_KIND_SERVER');
    assert.equal(ingestSpan.traceId, callerTrace);
    assert.equal(ingestSpan.parentSpanId, callerSpan);
    assert.equal(ingestSpan.serviceName, 'hearth-under-test');
    assert.equal(ingestSpan.attributes['http.request.method'], 'POST');
    assert.equal(ingestSpan.attributes['http.route'], '/ingest');
    assert.equal(ingestSpan.attributes['url.path'], '/ingest');
    assert.equal(ingestSpan.attributes['http.response.status_code'], 200);

    // The insert that made the ingest durable: the request waits for it, so it runs in its trace.
    const flush = await waitFor('storage.flush span', () => collector.spans.find((s) => s.name === 'storage.flush' && s.traceId === callerTrace), list);
    assert.ok(Number(flush.attributes['hearth.batches']) >= 1);
    assert.ok(Number(flush.attributes['hearth.rows']) >= 1);

    const renderSpan = await waitFor('render span', () => collector.spans.find((s) => s.name === 'GET /pyroscope/render'), list);
    assert.equal(renderSpan.attributes['http.route'], '/pyroscope/render');
    assert.equal(renderSpan.attributes['http.response.status_code'], 200);
    assert.equal(renderSpan.parentSpanId, '', 'a request without traceparent starts a trace');
    const queries = await waitFor(
      'query spans of the render request',
      () => {
        const q = collector.spans.filter((s) => s.name === 'clickhouse.query' && s.parentSpanId === renderSpan.spanId);
        return q.length > 0 ? q : undefined;
      },
      list,
    );
    for (const q of queries) {
      assert.equal(q.traceId, renderSpan.traceId);
      assert.equal(q.attributes['db.system.name'], 'clickhouse');
      assert.match(String(q.attributes['db.query.text']), /SELECT/);
    }
    assert.ok([...collector.contentTypes].every((t) => t === 'application/x-protobuf'), [...collector.contentTypes].join());
  });

  test('a request that fails gets its status; the trace intake path gets no span at all', async () => {
    const bad = await send(`${hearth.url}/ingest?format=pprof`, { method: 'POST', body: 'not a profile' });
    assert.equal(bad.status, 400);
    // Whatever Hearth answers here, a request to the path its own spans go to is never traced.
    await (await fetch(`${hearth.url}/v1/traces`, { method: 'POST', body: new Uint8Array(0), headers: { 'content-type': 'application/x-protobuf' } })).arrayBuffer();
    const marker = await send(`${hearth.url}/ready`);
    assert.equal(marker.status, 200);

    const failed = await waitFor(
      'span of the failed ingest',
      () => collector.spans.find((s) => s.name === 'POST /ingest' && s.attributes['http.response.status_code'] === 400),
      list,
    );
    assert.equal(failed.attributes['http.route'], '/ingest');
    // Spans are exported in end order, so once /ready's span is in, the intake request's would be too.
    await waitFor('ready span', () => collector.spans.find((s) => s.name === 'GET /ready'), list);
    assert.equal(collector.spans.filter((s) => s.attributes['url.path'] === '/v1/traces').length, 0, list());
  });
});

/** A port nothing listens on right now; the OTLP receiver must know its port before Hearth starts. */
async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

interface StoredTrace {
  traceId: string;
  spans: Array<{ spanId: string; parentSpanId: string; service: string; name: string; kind: number; durationNanos: number | string }>;
}

describe('self-tracing into Hearth itself', () => {
  test('Hearth stores its own spans through its OTLP receiver, and its request is found by trace ID', async () => {
    const tmp = tempDir();
    let hearth: HearthProcess | undefined;
    try {
      const otlpPort = await freePort();
      // The single-node config plus the OTLP receiver on a port of its own, feeding a traces pipeline.
      const config = singleNodeConfig(tmp.dir, '    traces:\n      receivers: [otlp]\n      exporters: [clickhouse]\n').replace(
        'receivers:\n  pyroscope: {}\n',
        `receivers:\n  pyroscope: {}\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:${otlpPort}\n`,
      );
      hearth = await startHearth(withSelfTracing(config, `http://127.0.0.1:${otlpPort}/v1/traces`, 'hearth-self'), tmp.dir);
      const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
      const ingest = await send(`${hearth.url}/ingest?name=self.traced&format=pprof`, {
        method: 'POST',
        body: Buffer.from(encodePprof(cpuProfile())),
        headers: { traceparent: `00-${traceId}-1122334455667788-01` },
      });
      assert.equal(ingest.status, 200, await ingest.text());

      // The span reaches the store after the export interval and a flush: poll, as a user would.
      let trace: StoredTrace | undefined;
      let last = '';
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const res: Response = await fetch(`${hearth.url}/api/v1/traces/${traceId}`);
        last = `${res.status} ${await res.clone().text()}`;
        if (res.status === 200) {
          const t = (await res.json()) as StoredTrace;
          if (t.spans.some((s) => s.name === 'POST /ingest') && t.spans.some((s) => s.name === 'storage.flush')) {
            trace = t;
            break;
          }
        } else {
          assert.equal(res.status, 404, last);
          await res.arrayBuffer();
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(trace, `Hearth's own request never showed up under its trace ID; last answer: ${last}\n${hearth.output().slice(-3000)}`);
      const server = trace.spans.find((s) => s.name === 'POST /ingest')!;
      assert.equal(server.service, 'hearth-self');
      assert.equal(server.kind, 2);
      assert.equal(server.parentSpanId, '1122334455667788');
      assert.ok(Number(server.durationNanos) > 0);
      const flush = trace.spans.find((s) => s.name === 'storage.flush')!;
      assert.equal(flush.service, 'hearth-self');
      // Taking the spans in is not traced, so no span of the trace intake ever joins a trace.
      assert.ok(trace.spans.every((s) => !s.name.includes('/v1/traces')), JSON.stringify(trace.spans));
    } finally {
      await hearth?.stop();
      tmp.remove();
    }
  });
});

describe('service.telemetry.traces config', () => {
  const withTraces = (block: string) => `
receivers:
  pyroscope: {}
exporters:
  debug: {}
service:
  telemetry:
    traces:
${block}
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [debug]
`;
  const parse = (block: string, env: Record<string, string> = {}) => parseConfig(withTraces(block), 'p.yaml', builtinComponents(), env);

  test('off by default, and with an empty endpoint', () => {
    const none = parseConfig(withTraces('      {}').replace('    traces:\n      {}\n', ''), 'p.yaml', builtinComponents(), {});
    assert.equal(none.service.traces, undefined);
    assert.equal(parse('      endpoint: ${env:TRACES_URL:-}').service.traces, undefined);
  });

  test('keys and defaults', () => {
    assert.deepEqual(parse('      endpoint: http://collector:4318/v1/traces').service.traces, {
      endpoint: 'http://collector:4318/v1/traces',
      samplerRatio: 1,
      headers: {},
      batchDelayMs: 5000,
      serviceName: 'hearth',
    });
    const t = parse(
      '      endpoint: ${env:TRACES_URL}\n      sampler_ratio: 0.25\n      headers: { authorization: "Bearer x" }\n      batch_delay_ms: 250\n      service_name: hearth-eu',
      { TRACES_URL: 'https://otel.example:4318/v1/traces' },
    ).service.traces;
    assert.deepEqual(t, { endpoint: 'https://otel.example:4318/v1/traces', samplerRatio: 0.25, headers: { authorization: 'Bearer x' }, batchDelayMs: 250, serviceName: 'hearth-eu' });
  });

  test('mistakes name the file, line and key', () => {
    for (const [block, key] of [
      ['      endpoint: grpc://collector:4317', 'service.telemetry.traces.endpoint'],
      ['      endpoint: http://c:4318/v1/traces\n      sampler_ratio: 2', 'service.telemetry.traces.sampler_ratio'],
      ['      endpoint: http://c:4318/v1/traces\n      sample_ratio: 0.5', 'service.telemetry.traces'],
    ] as const) {
      assert.throws(() => parse(block), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, new RegExp(`p\\.yaml:\\d+: ${key.replaceAll('.', '\\.')}`), err.message);
        return true;
      });
    }
  });
});
