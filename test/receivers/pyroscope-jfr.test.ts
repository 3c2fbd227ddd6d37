/**
 * JFR through a real Hearth: `/ingest?format=jfr` with the corpus recordings (raw gzip and
 * multipart with a LabelsSnapshot), a recording made here by a real JVM, and bad input.
 * Stored flame graphs are read back through /pyroscope/render.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeJfr, decodeLabelsSnapshot } from '../../formats/jfr/index.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';
import { foldedFromFlamebearer, type Flamebearer } from '../support/flamebearer.ts';
import { singleNodeConfig, startHearth, tempDir, type HearthProcess } from '../support/hearth.ts';

const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const MAX_BYTES = 16 * 1024 * 1024;
const JDK_SKIP = spawnSync('javac', ['-version']).status === 0 && spawnSync('jfr', ['--version']).status === 0 ? false : 'no JDK (javac, jfr) installed';

let hearth: HearthProcess;
let tmp: { dir: string; remove(): void };

/**
 * The single-node pipeline, with room for the corpus' 12 MB multi-chunk recording: both the
 * receiver's own limit and the tenant's size limit (and its burst, which a larger profile
 * would exceed) are raised.
 */
function config(dataDir: string): string {
  const mb = Math.ceil(MAX_BYTES / (1024 * 1024));
  return singleNodeConfig(dataDir)
    .replace('pyroscope: {}', `pyroscope:\n    max_profile_bytes: ${MAX_BYTES}`)
    .replace('service:\n', `service:\n  limits:\n    defaults:\n      max_profile_size_bytes: ${MAX_BYTES}\n      ingestion_burst_size_mb: ${mb}\n`);
}

before(async () => {
  tmp = tempDir('hearth-jfr-');
  hearth = await startHearth(config(join(tmp.dir, 'data')), tmp.dir);
});

after(async () => {
  await hearth?.stop();
  tmp?.remove();
});

/** Posts with the retries a real client makes on a retryable status. */
async function ingest(query: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await fetch(`${hearth.url}/ingest?${query}`, { method: 'POST', body, headers });
    if ((r.status !== 503 && r.status !== 429) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function render(query: string): Promise<Flamebearer> {
  const r = await fetch(`${hearth.url}/pyroscope/render?query=${encodeURIComponent(query)}&from=now-1h&until=now%2B1m&maxNodes=1048576`);
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { flamebearer: Flamebearer }).flamebearer;
}

async function labelValues(label: string): Promise<string[]> {
  const r = await fetch(`${hearth.url}/pyroscope/label-values?label=${encodeURIComponent(label)}`);
  assert.equal(r.status, 200);
  return (await r.json()) as string[];
}

function profileTypeIds(p: { name: string; profile: { sampleTypes: { type: string; unit: string }[]; periodType: { type: string; unit: string } } }): string[] {
  return p.profile.sampleTypes.map((t) => `${p.name}:${t.type}:${t.unit}:${p.profile.periodType.type}:${p.profile.periodType.unit}`);
}

/** What Pyroscope's own tests expect from each corpus recording (profile type IDs). */
const EXPECTED_TYPES: Record<string, string[]> = {
  'example.jfr.gz': [
    CPU,
    'memory:alloc_in_new_tlab_objects:count:space:bytes',
    'memory:alloc_in_new_tlab_bytes:bytes:space:bytes',
    'memory:alloc_outside_tlab_objects:count:space:bytes',
    'memory:alloc_outside_tlab_bytes:bytes:space:bytes',
    'mutex:contentions:count:mutex:count',
    'mutex:delay:nanoseconds:mutex:count',
  ],
  'cortex-dev-01__kafka-0__cpu_lock0_alloc0__0.jfr.gz': [
    CPU,
    'memory:alloc_in_new_tlab_objects:count:space:bytes',
    'memory:alloc_outside_tlab_bytes:bytes:space:bytes',
    'mutex:delay:nanoseconds:mutex:count',
    'block:contentions:count:block:count',
    'block:delay:nanoseconds:block:count',
  ],
  'dump2.jfr.gz': [CPU, 'wall:wall:nanoseconds:wall:nanoseconds', 'memory:alloc_in_new_tlab_bytes:bytes:space:bytes', 'memory:live:count:objects:count'],
  'goland-multichunk.jfr.gz': [CPU, 'block:delay:nanoseconds:block:count', 'mutex:contentions:count:mutex:count', 'memory:alloc_outside_tlab_objects:count:space:bytes'],
  'object-allocation-sample.jfr.gz': [CPU, 'memory:alloc_sample_objects:count:space:bytes', 'memory:alloc_sample_bytes:bytes:space:bytes', 'block:delay:nanoseconds:block:count'],
};

describe('corpus recordings through /ingest?format=jfr', { skip: CORPUS_SKIP }, () => {
  for (const [file, expected] of Object.entries(EXPECTED_TYPES)) {
    test(`${file}: every profile type is stored with the decoded totals`, async () => {
      const service = `jfr-${file.replace(/[^a-z0-9]/gi, '-').toLowerCase()}`;
      const gz = corpusFile(`grafana-jfr-parser/${file}`);
      const r = await ingest(`name=${service}&format=jfr&from=now-10s&until=now`, new Uint8Array(gz));
      assert.equal(r.status, 200, await r.text());

      const decoded = decodeJfr(gz, { maxBytes: MAX_BYTES });
      const types = new Map<string, number>();
      for (const p of decoded.profiles) {
        profileTypeIds(p).forEach((id, i) => types.set(id, (types.get(id) ?? 0) + p.profile.samples.reduce((a, s) => a + s.values[i], 0)));
      }
      for (const id of expected) assert.ok(types.has(id), `${file}: ${id} decoded`);
      for (const [id, total] of types) {
        const fb = await render(`${id}{service_name="${service}"}`);
        assert.equal(fb.numTicks, total, `${file}: stored total of ${id}`);
      }
    });
  }

  test('example.jfr.gz: the stored CPU flame graph equals Pyroscope\'s expected stacks', async () => {
    const fb = await render(`${CPU}{service_name="jfr-example-jfr-gz"}`);
    const expected = new Map<string, number>();
    const text = gunzipSync(corpusFile('grafana-jfr-parser/example_3_process_cpu_cpu__nanoseconds_expected_collapsed.txt.gz')).toString();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const m = /^(.*) \[(\d+)\]$/.exec(line);
      assert.ok(m, line);
      // The golden file names frames `function:line`; a flame graph has functions.
      const stack = m[1].split(';').map((f) => f.replace(/:\d+$/, '')).join(';');
      expected.set(stack, (expected.get(stack) ?? 0) + Number(m[2]));
    }
    assert.deepEqual(new Map([...foldedFromFlamebearer(fb)].sort()), new Map([...expected].sort()));
    assert.equal(fb.numTicks, 10_310_000_000);
  });

  test('dump2 as multipart with its LabelsSnapshot: context labels become series labels, profile IDs span IDs', async () => {
    const labelsGz = corpusFile('grafana-jfr-parser/dump2.labels.pb.gz');
    const form = new FormData();
    form.append('jfr', new Blob([new Uint8Array(corpusFile('grafana-jfr-parser/dump2.jfr.gz'))]), 'jfr');
    form.append('labels', new Blob([new Uint8Array(labelsGz)]), 'labels');
    const r = await ingest('name=jfr-dump2-labels{env=test}&format=jfr&from=now-10s&until=now', form);
    assert.equal(r.status, 200, await r.text());

    // Independent reading of the snapshot: the thread names and profile IDs it holds.
    const snapshot = readSnapshot(gunzipSync(labelsGz));
    const threadNames = new Set<string>();
    const profileIds = new Set<string>();
    for (const ctx of snapshot.contexts.values()) {
      for (const [k, v] of ctx) {
        if (snapshot.strings.get(k) === 'thread_name') threadNames.add(snapshot.strings.get(v)!);
        // Span IDs are hex numbers: one of this snapshot's lost its leading zero.
        if (snapshot.strings.get(k) === 'profile_id') profileIds.add(snapshot.strings.get(v)!.toLowerCase().padStart(16, '0'));
      }
    }
    assert.ok(threadNames.size > 0 && profileIds.size > 0);
    const stored = await labelValues('thread_name');
    const seen = stored.filter((v) => threadNames.has(v));
    assert.ok(seen.length > 0, `thread_name values ${stored.join(', ')}`);
    // Span IDs are per sample, never series labels.
    assert.deepEqual(await labelValues('profile_id'), []);
    assert.deepEqual(await labelValues('span_id'), []);

    // The span total stored equals that of the decoded samples carrying those IDs.
    const decoded = decodeJfr(corpusFile('grafana-jfr-parser/dump2.jfr.gz'), { labels: decodeLabelsSnapshot(gunzipSync(labelsGz)), maxBytes: MAX_BYTES });
    const wall = decoded.profiles.find((p) => p.name === 'wall')!.profile;
    const expectedSpanTotal = wall.samples.filter((s) => s.spanId !== undefined && profileIds.has(s.spanId)).reduce((a, s) => a + s.values[0], 0);
    assert.ok(expectedSpanTotal > 0);
    const now = Date.now();
    const resp = await fetch(`${hearth.url}/querier.v1.QuerierService/SelectMergeSpanProfile`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        profileTypeID: 'wall:wall:nanoseconds:wall:nanoseconds',
        labelSelector: '{service_name="jfr-dump2-labels"}',
        spanSelector: [...profileIds],
        start: String(now - 3_600_000),
        end: String(now + 60_000),
        maxNodes: 100000,
      }),
    });
    assert.equal(resp.status, 200, await resp.clone().text());
    const spanTotal = Number(((await resp.json()) as { flamegraph?: { total?: string } }).flamegraph?.total ?? 0);
    const all = await render(`wall:wall:nanoseconds:wall:nanoseconds{service_name="jfr-dump2-labels"}`);
    assert.equal(spanTotal, expectedSpanTotal);
    assert.ok(spanTotal < all.numTicks, 'some wall samples carry no span');
    // The series carries the user's labels and the profiler's event setting.
    assert.ok((await labelValues('jfr_event')).includes('wall'));
  });
});

/** A minimal protobuf reader for the LabelsSnapshot, independent of the receiver's. */
function readSnapshot(buf: Uint8Array): { contexts: Map<number, Map<number, number>>; strings: Map<number, string> } {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let m = 1;
    for (;;) {
      const b = buf[pos++];
      v += (b & 0x7f) * m;
      if (b < 0x80) return v;
      m *= 128;
    }
  };
  const fields = (end: number, fn: (field: number, wire: number) => void): void => {
    while (pos < end) {
      const key = varint();
      fn(key >>> 3, key & 7);
    }
  };
  const contexts = new Map<number, Map<number, number>>();
  const strings = new Map<number, string>();
  fields(buf.length, (f) => {
    const end = varint() + pos;
    let id = 0;
    if (f === 1) {
      const labels = new Map<number, number>();
      fields(end, (g) => {
        if (g === 1) id = varint();
        else {
          const cend = varint() + pos;
          fields(cend, () => {
            const eend = varint() + pos;
            let k = 0;
            let v = 0;
            fields(eend, (h) => (h === 1 ? (k = varint()) : (v = varint())));
            labels.set(k, v);
          });
        }
      });
      contexts.set(id, labels);
    } else {
      let s = '';
      fields(end, (g) => {
        if (g === 1) id = varint();
        else {
          const n = varint();
          s = Buffer.from(buf.subarray(pos, pos + n)).toString('utf8');
          pos += n;
        }
      });
      strings.set(id, s);
    }
  });
  return { contexts, strings };
}

describe('a recording made here by a real JVM', { skip: JDK_SKIP }, () => {
  test('its CPU flame graph counts every jdk.ExecutionSample and shows the hot method on top', async () => {
    const src = join(tmp.dir, 'HearthBurner.java');
    writeFileSync(
      src,
      `public class HearthBurner {
  static volatile long sink;
  static long burnHearthCpu(long n) { long x = 1; for (long i = 0; i < n; i++) { x = x * 6364136223846793005L + i; } return x; }
  public static void main(String[] args) {
    long end = System.currentTimeMillis() + Long.parseLong(args[0]);
    while (System.currentTimeMillis() < end) sink += burnHearthCpu(2_000_000);
  }
}
`,
    );
    execFileSync('javac', ['-d', tmp.dir, src]);
    const rec = join(tmp.dir, 'burner.jfr');
    execFileSync(
      'java',
      ['-XX:CompileCommand=quiet', '-XX:CompileCommand=dontinline,HearthBurner::burnHearthCpu', `-XX:StartFlightRecording=filename=${rec},settings=profile`, '-cp', tmp.dir, 'HearthBurner', '3000'],
      { stdio: 'ignore' },
    );
    // Counted by the JDK's own reader: CPU samples are the execution samples with a stack, not sleeping.
    const printed = JSON.parse(execFileSync('jfr', ['print', '--json', '--events', 'jdk.ExecutionSample', rec], { maxBuffer: 256 << 20 }).toString());
    const events = (printed.recording.events as { values: { stackTrace: unknown; state: string } }[]).filter(
      (e) => e.values.stackTrace !== null && e.values.state !== 'STATE_SLEEPING',
    );
    assert.ok(events.length > 10, `${events.length} execution samples`);

    const r = await ingest('name=jfr-real-jvm&format=jfr&from=now-10s&until=now&sampleRate=100', new Uint8Array(gzipSync(readFileSync(rec))));
    assert.equal(r.status, 200, await r.text());
    const fb = await render(`${CPU}{service_name="jfr-real-jvm"}`);
    assert.equal(fb.numTicks, events.length * 10_000_000);
    const self = new Map<string, number>();
    for (const [stack, v] of foldedFromFlamebearer(fb)) {
      const leaf = stack.slice(stack.lastIndexOf(';') + 1);
      self.set(leaf, (self.get(leaf) ?? 0) + v);
    }
    const hottest = [...self].sort((a, b) => b[1] - a[1])[0];
    assert.equal(hottest[0], 'HearthBurner.burnHearthCpu');
  });
});

describe('bad JFR input is a 400', { skip: CORPUS_SKIP }, () => {
  test('truncated, corrupt, empty-part and oversized recordings', async () => {
    const raw = gunzipSync(corpusFile('grafana-jfr-parser/example.jfr.gz'));
    const cases: [string, Uint8Array | FormData, Record<string, string>?][] = [
      ['header only', raw.subarray(0, 40)],
      ['half a chunk', raw.subarray(0, raw.length >> 1)],
      ['all but the last byte', raw.subarray(0, raw.length - 1)],
      ['not JFR', Buffer.from('this is not a flight recording')],
      ['bad magic', Buffer.concat([Buffer.from('XLR\0'), raw.subarray(4)])],
      ['truncated gzip', corpusFile('grafana-jfr-parser/example.jfr.gz').subarray(0, 1000)],
    ];
    const corrupt = Buffer.from(raw);
    corrupt.writeBigInt64BE(12345678n, 24); // metadata offset into the middle of events
    cases.push(['metadata offset pointing at garbage', corrupt]);
    const form = new FormData();
    form.append('labels', new Blob([Buffer.from([1, 2, 3])]), 'labels');
    cases.push(['multipart without a jfr part', form]);
    const badLabels = new FormData();
    badLabels.append('jfr', new Blob([new Uint8Array(raw)]), 'jfr');
    badLabels.append('labels', new Blob([Buffer.from([0x0a, 0xff, 0xff, 0xff])]), 'labels');
    cases.push(['labels that are not a LabelsSnapshot', badLabels]);
    for (const [what, body, headers] of cases) {
      const r = await ingest('name=jfr-bad&format=jfr', body instanceof Uint8Array ? new Uint8Array(body) : body, headers);
      const text = await r.text();
      assert.equal(r.status, 400, `${what}: ${r.status} ${text}`);
      assert.match(text, /jfr|gzip|multipart|labels|LabelsSnapshot/i, what);
    }
    // Above the configured limit once inflated: refused while inflating.
    const big = gzipSync(Buffer.alloc(MAX_BYTES + 1));
    const r = await ingest('name=jfr-bad&format=jfr', new Uint8Array(big));
    assert.equal(r.status, 400);
    assert.match(await r.text(), /exceeds|limit/);
  });
});
