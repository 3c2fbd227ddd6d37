/**
 * `npx tsx soak/attacks.ts`: repeats the attacks of the hardening review against a real
 * single-node Hearth with its default limits and prints, for each, the answer, how long it took
 * and the server's RSS. One tenant (`big`) has no series limit, as an operator might set, so
 * that the query attacks run over as many series as the review's did (about 220,000).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { encodePprof } from '../formats/pprof/encode.ts';
import { syntheticProfile } from '../test/support/synthetic-profiles.ts';
import { labelledProfile, querier, startLimitsHearth } from '../test/limits/harness.ts';

const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const limited = await startLimitsHearth({}, { big: { max_global_series_per_tenant: 0 } });
const hearth = limited.hearth;
const port = Number(new URL(hearth.url).port);
const rssMb = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${hearth.child.pid}/status`, 'utf8'))![1]) / 1024);

async function timed<T>(what: string, fn: () => Promise<T>): Promise<void> {
  const before = rssMb();
  const t = Date.now();
  const result = await fn();
  console.log(`${what}: ${JSON.stringify(result)} in ${Date.now() - t} ms; RSS ${before} -> ${rssMb()} MB`);
}

// Finding 1: ten multipart uploads whose part has no Content-Disposition and 100 KB.
const b = 'attackboundary';
const noDisposition = Buffer.concat([Buffer.from(`--${b}\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.alloc(100_000, 0x61), Buffer.from(`\r\n--${b}--\r\n`)]);
await timed('finding 1: 10 multipart parts without Content-Disposition', async () => {
  const rs = await Promise.all(
    Array.from({ length: 10 }, () =>
      fetch(`${hearth.url}/ingest?name=attack`, { method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${b}` }, body: noDisposition, signal: AbortSignal.timeout(120_000) }).then(
        (r) => r.status,
        (e: Error) => e.name,
      ),
    ),
  );
  return rs;
});

// Finding 2: gzip push.v1 JSON of 200 MB whitespace, once and 8 at once.
const json = Buffer.alloc(200 * 1024 * 1024, 0x20);
json[0] = 0x7b;
json[json.length - 1] = 0x7d;
const bomb = gzipSync(json, { level: 9 });
console.log(`finding 2: the body is ${bomb.length} bytes compressed, ${json.length} inflated`);
const push = () =>
  fetch(`${hearth.url}/push.v1.PusherService/Push`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body: bomb }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 90)}`);
await timed('finding 2: one gzip push.v1 JSON bomb', push);
await timed('finding 2: 8 at once', () => Promise.all(Array.from({ length: 8 }, push)));
const ingestBomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20), { level: 9 });
await timed('finding 2: gzip /ingest bomb (200 MB)', () =>
  fetch(`${hearth.url}/ingest?name=attack&format=pprof`, { method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: ingestBomb }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 90)}`),
);

/** Opens a raw connection, writes the chunks one per `everyMs`, and reports when and how the server closed it. */
function slow(first: string, drip: string, everyMs: number, giveUpMs: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    sock.write(first);
    const timer = setInterval(() => !sock.destroyed && drip && sock.write(drip), everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      sock.destroy();
      resolve('still open when the client gave up');
    }, giveUpMs);
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(`closed by the server; answer: ${answer.split('\r\n')[0] || '(none)'}${/connection: close/i.test(answer) ? ' with Connection: close' : ''}`);
    });
  });
}

// Finding 7: stalled headers, stalled body, trickled body, idle connection.
await timed('finding 7: stalled headers', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\n', '', 1000, 330_000));
await timed('finding 7: stalled body', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc', '', 1000, 330_000));
await timed('finding 7: body trickled at 1 byte/s', () => slow('POST /ingest?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n', 'x', 1000, 330_000));
await timed('finding 7: idle connection that sends nothing', () => slow('', '', 1000, 330_000));

// Finding 8: a 431, then a second request on the same keep-alive socket.
await timed('finding 8: 431 and the next request on that socket', () =>
  new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    let error = '';
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('error', (e) => (error = e.message));
    sock.on('close', () => resolve({ head: answer.split('\r\n\r\n')[0].split('\r\n'), secondRequestError: error || 'none (the server closed the socket cleanly)' }));
    sock.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    setTimeout(() => !sock.destroyed && sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), 200);
  }),
);

const pprofBody = (p: Parameters<typeof encodePprof>[0]) => new Blob([encodePprof(p) as Uint8Array<ArrayBuffer>]);
const ingestAs = (name: string, body: Blob, tenant: string, query = '') =>
  fetch(`${hearth.url}/ingest?name=${encodeURIComponent(name)}&format=pprof${query}`, { method: 'POST', headers: { 'X-Scope-OrgID': tenant }, body }).then(async (r) => `${r.status} ${(await r.text()).slice(0, 110)}`);
const short = (a: { status: number; body: string }) => `${a.status} ${a.body.slice(0, 110)}`;

// Finding 3: cardinality, under the default limits.
await timed('finding 3: 100,000 distinct values of one sample label', () => ingestAs('card', pprofBody(labelledProfile(Array.from({ length: 100_000 }, (_, i) => ({ request_id: `r${i}` })))), 'anonymous'));
await timed('finding 3: 100,000 distinct sample label names', () => ingestAs('card', pprofBody(labelledProfile(Array.from({ length: 100_000 }, (_, i) => ({ [`name_${i}`]: 'v' })))), 'anonymous'));
await timed('finding 3: LabelNames afterwards', async () => {
  const r = await querier(hearth.url, 'LabelNames', {});
  return r.status === 200 ? `200, ${JSON.parse(r.body).names?.length ?? 0} names` : short(r);
});
await timed('finding 3: one sample with 1,000 labels of 10 KB names and values', () =>
  ingestAs('card', pprofBody(labelledProfile([Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${i}_${'n'.repeat(10_000)}`, 'v'.repeat(10_000)]))])), 'anonymous'),
);

// Finding 4: query attacks over about 220,000 series (tenant `big` has no series limit).
for (let k = 0; k < 3; k++) {
  await timed(`finding 4 setup: 75,000 series in one upload (${k + 1}/3)`, () =>
    ingestAs('big', pprofBody(labelledProfile(Array.from({ length: 75_000 }, (_, i) => ({ request_id: `b${k}-${i}` })), Date.now() - k * 1000)), 'big'),
  );
}
/** Runs `fn` while polling /healthz every 50 ms; reports the slowest health answer too. */
async function withHealth<T>(fn: () => Promise<T>): Promise<{ result: T; slowestHealthMs: number }> {
  let done = false;
  let slowest = 0;
  const poll = (async () => {
    while (!done) {
      const t = Date.now();
      await fetch(`${hearth.url}/healthz`).then((r) => r.arrayBuffer());
      slowest = Math.max(slowest, Date.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const result = await fn();
  done = true;
  await poll;
  return { result, slowestHealthMs: slowest };
}
await timed('finding 4: Series {"matchers":["{}"]} over ~225,000 series', () => withHealth(async () => short(await querier(hearth.url, 'Series', { matchers: ['{}'] }, 'big'))));
await timed('finding 4: render over ±250,000 years', () =>
  withHealth(async () => {
    const r = await fetch(`${hearth.url}/pyroscope/render?${new URLSearchParams({ query: `${CPU}{}`, from: 'now-250000y', until: 'now+250000y' })}`, { headers: { 'X-Scope-OrgID': 'big' } });
    return `${r.status} ${(await r.text()).slice(0, 110)}`;
  }),
);
await timed('finding 4: LabelNames with 100 copies of {}', () =>
  withHealth(async () => {
    const r = await querier(hearth.url, 'LabelNames', { matchers: Array(100).fill('{}') }, 'big');
    return r.status === 200 ? `200, ${JSON.parse(r.body).names.length} names` : short(r);
  }),
);
await timed('finding 4: flame graph of all 225,000 series over 1 h', () =>
  withHealth(async () => {
    const now = Date.now();
    const r = await querier(hearth.url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: String(now - 3_600_000), end: String(now + 60_000) }, 'big');
    return r.status === 200 ? `200, ${r.body.length} bytes` : short(r);
  }),
);
await timed('finding 4: a client that goes away 300 ms into Series {}', async () => {
  const c = new AbortController();
  setTimeout(() => c.abort(), 300);
  return querier(hearth.url, 'Series', { matchers: ['{}'] }, 'big', c.signal).then(short, (e: Error) => `client: ${e.name}`);
});

// Finding 5: retries stored once.
await timed('finding 5: push.v1 with time_nanos 0, sent 3 times; stored total', async () => {
  const p = syntheticProfile(11, 0, 8, false);
  const raw = Buffer.from(encodePprof({ ...p, timeNanos: 0n })).toString('base64');
  const body = JSON.stringify({ series: [{ labels: [{ name: 'service_name', value: 'attack-retry' }], samples: [{ ID: '', rawProfile: raw }] }] });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await fetch(`${hearth.url}/push.v1.PusherService/Push`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })).status);
  const r = await fetch(`${hearth.url}/pyroscope/render?${new URLSearchParams({ query: `${CPU}{service_name="attack-retry"}`, from: 'now-1h', until: 'now+1m' })}`);
  const sent = p.samples.reduce((a, x) => a + x.values[0], 0);
  return { statuses, stored: ((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks, sentOnce: sent };
});
await timed('finding 5: /ingest without from/until, sent 3 times; stored total', async () => {
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await fetch(`${hearth.url}/ingest?name=attack-noform.cpu&sampleRate=100`, { method: 'POST', body: 'main;work 3\nmain;idle 2\n' })).status);
  const r = await fetch(`${hearth.url}/pyroscope/render?${new URLSearchParams({ query: `${CPU}{service_name="attack-noform"}`, from: 'now-1h', until: 'now+1m' })}`);
  return { statuses, stored: ((await r.json()) as { flamebearer: { numTicks: number } }).flamebearer.numTicks, sentOnce: 5 * 10_000_000 };
});

// Finding 6: bad input must be a 4xx.
const now = Date.now();
const sixes: Array<[string, () => Promise<string>]> = [
  ['=~"\\Qx"', async () => short(await querier(hearth.url, 'LabelNames', { matchers: ['{service_name=~"\\\\Qx"}'] }))],
  ['int64 extremes', async () => short(await querier(hearth.url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: '-9223372036854775808', end: '9223372036854775807' }))],
  ['times beyond 2^53 ms', async () => short(await querier(hearth.url, 'SelectMergeStacktraces', { profileTypeID: CPU, labelSelector: '{}', start: '0', end: String(2 ** 53 + 10) }))],
  ['step 1e20', async () => short(await querier(hearth.url, 'SelectSeries', { profileTypeID: CPU, labelSelector: '{}', start: String(now - 3_600_000), end: String(now), step: 1e20 }))],
  ['render from=now-1000000y', async () => { const r = await fetch(`${hearth.url}/pyroscope/render?${new URLSearchParams({ query: `${CPU}{}`, from: 'now-1000000y' })}`); return `${r.status} ${(await r.text()).slice(0, 110)}`; }],
  ['malformed binary Connect body', async () => { const r = await fetch(`${hearth.url}/querier.v1.QuerierService/SelectMergeStacktraces`, { method: 'POST', headers: { 'Content-Type': 'application/proto' }, body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]) }); return `${r.status} ${(await r.text()).slice(0, 110)}`; }],
];
for (const [what, fn] of sixes) await timed(`finding 6: ${what}`, fn);

// Finding 9: AnalyzeQuery.
await timed('finding 9: AnalyzeQuery query "}"', async () => short(await querier(hearth.url, 'AnalyzeQuery', { query: '}', start: String(now - 3_600_000), end: String(now + 60_000) })));
await timed('finding 9: AnalyzeQuery bytes of tenant "anonymous" (tenant "big" holds far more)', async () => {
  const r = await querier(hearth.url, 'AnalyzeQuery', { query: '{}', start: String(now - 3_600_000), end: String(now + 60_000) });
  return r.status === 200 ? JSON.parse(r.body).queryImpact : short(r);
});

const t = Date.now();
const code = await hearth.stop('SIGTERM');
console.log(`SIGTERM: exit ${code} after ${Date.now() - t} ms`);
await limited.close();
