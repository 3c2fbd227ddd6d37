import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch, decodeBatchHeader, encodeBatch } from '../../formats/batch/index.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { BadRequestError } from '../../core/errors.ts';
import type { Batch, Profile } from '../../core/model.ts';
import { CORPUS_SKIP, corpusFile } from '../support/corpus.ts';

function synthetic(): Batch {
  const profile: Profile = {
    sampleTypes: [
      { type: 'cpu', unit: 'nanoseconds' },
      { type: 'samples', unit: 'count' },
    ],
    periodType: { type: 'cpu', unit: 'nanoseconds' },
    period: 10_000_000,
    timeNanos: 1_700_000_000_123_456_789n,
    durationNanos: 10_000_000_000n,
    names: ['', 'main', 'handler', 'ünïcødé ✓ 🔥', 'x'.repeat(300)],
    stacks: [Uint32Array.of(2, 1), Uint32Array.of(3, 2, 1), Uint32Array.of(4), new Uint32Array(0)],
    samples: [
      { stack: 0, values: [10_000_000, 1], labelSet: 0 },
      { stack: 1, values: [-20_000_000, 2], labelSet: 1, spanId: '0123456789abcdef' },
      { stack: 2, values: [2 ** 52, -(2 ** 52)], labelSet: 2, spanId: '0123456789abcdef', traceId: '0123456789abcdef0123456789abcdef' },
      { stack: 3, values: [0, 0], labelSet: 0, traceId: 'NOT-HEX' },
    ],
    sampleLabelSets: [{}, { thread: 'worker-1' }, { thread: 'main', route: '/api/v1/x', __proto__x: 'y' }],
  };
  return { tenant: 'team-a', labels: { service_name: 'checkout', __name__: 'process_cpu', env: 'prod' }, profile, idempotencyKey: 'a'.repeat(64) };
}

describe('batch codec', () => {
  test('round trip of a synthetic batch, plain and compressed', () => {
    const b = synthetic();
    for (const compressAbove of [undefined, 0]) {
      const bytes = encodeBatch(b, { compressAbove });
      assert.deepEqual(decodeBatch(bytes), b);
      assert.deepEqual(decodeBatchHeader(bytes), { tenant: b.tenant, idempotencyKey: b.idempotencyKey, labels: b.labels });
    }
  });

  test('encodings are independent of each other: a later batch does not change an earlier result', () => {
    const a = synthetic();
    const b = synthetic();
    b.tenant = 'team-b';
    b.profile.names = [...b.profile.names, 'y'.repeat(100_000)];
    const first = encodeBatch(a);
    const copy = Uint8Array.from(first);
    const compressed = encodeBatch(b, { compressAbove: 0 });
    encodeBatch(b);
    assert.deepEqual(first, copy);
    assert.deepEqual(decodeBatch(first), a);
    assert.deepEqual(decodeBatch(compressed), b);
    assert.deepEqual(decodeBatch(encodeBatch(a, { compressAbove: 0 })), a);
  });

  test('IDs that are not lower-case hex of the right length, next to ones that are, survive as strings', () => {
    const b = synthetic();
    const span = '0123456789abcdef';
    const trace = '0123456789abcdef0123456789abcdef';
    b.profile.samples = [
      { stack: 0, values: [1, 1], labelSet: 0, spanId: span, traceId: 'NOT-HEX' },
      { stack: 0, values: [2, 2], labelSet: 0, spanId: '0123456789ABCDEF', traceId: trace },
      { stack: 0, values: [3, 3], labelSet: 0, spanId: '0123456789abcdeé' },
      { stack: 0, values: [4, 4], labelSet: 0, spanId: span.slice(1) },
      { stack: 0, values: [5, 5], labelSet: 0, traceId: `${trace}0` },
      { stack: 0, values: [6, 6], labelSet: 0, spanId: span, traceId: trace },
    ];
    assert.deepEqual(decodeBatch(encodeBatch(b)), b);
  });

  test('short strings that turn non-ASCII partway, and strings around the short-string length, survive', () => {
    const b = synthetic();
    b.profile.names = ['', 'abcé', 'main.(*T).run✓', 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(65), `${'a'.repeat(63)}é`, 'é'.repeat(64)];
    b.labels = { ...b.labels, région: 'eu-ouest-é' };
    assert.deepEqual(decodeBatch(encodeBatch(b)), b);
  });

  test('non-integer and huge values switch to float64 and survive', () => {
    const b = synthetic();
    b.profile.samples[0].values = [0.5, 2 ** 60];
    b.profile.samples[1].values = [-1e300, Number.MAX_SAFE_INTEGER];
    assert.deepEqual(decodeBatch(encodeBatch(b)), b);
  });

  test('labels named like Object.prototype members survive', () => {
    const b = synthetic();
    const set: Record<string, string> = {};
    Object.defineProperty(set, '__proto__', { value: 'p', enumerable: true, writable: true, configurable: true });
    Object.assign(set, { constructor: 'c' });
    b.profile.sampleLabelSets.push(set);
    const out = decodeBatch(encodeBatch(b));
    assert.deepEqual(Object.entries(out.profile.sampleLabelSets[3]), [['__proto__', 'p'], ['constructor', 'c']]);
  });

  test('round trip of real corpus profiles', { skip: CORPUS_SKIP }, () => {
    for (const f of ['google-pprof/large.cpu', 'grafana-pyroscope/go.cpu.labels.pprof', 'grafana-pyroscope/go-heap.pb.gz', 'grafana-pyroscope/dotnet.labels.pprof']) {
      const profile = decodePprof(corpusFile(f), { maxBytes: 16 << 20 });
      const b: Batch = { tenant: 'anonymous', labels: { service_name: f, __name__: 'x' }, profile, idempotencyKey: f };
      const plain = encodeBatch(b);
      const packed = encodeBatch(b, { compressAbove: 1024 });
      assert.ok(packed.length < plain.length, `${f}: compression made ${plain.length} → ${packed.length}`);
      assert.deepEqual(decodeBatch(plain), b, f);
      assert.deepEqual(decodeBatch(packed), b, f);
    }
  });

  test('garbage is a BadRequestError that says what is wrong', () => {
    const good = encodeBatch(synthetic());
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(0), /too short/],
      ['text', new TextEncoder().encode('hello, world, this is not a batch'), /bad magic/],
      ['newer version', Uint8Array.from([...good.subarray(0, 4), 99, ...good.subarray(5)]), /unsupported version 99/],
      ['unknown flag', Uint8Array.from([...good.subarray(0, 5), 0x80, ...good.subarray(6)]), /unknown flags/],
      ['truncated', good.subarray(0, good.length - 3), /truncated|exceeds the remaining/],
      ['trailing bytes', Uint8Array.from([...good, 0]), /unexpected bytes after/],
      ['bad deflate', Uint8Array.from([...good.subarray(0, 5), 1, ...good.subarray(6)]), /inflate|inflates|exceeds|invalid/],
    ];
    for (const [what, bytes, re] of cases) {
      assert.throws(() => decodeBatch(bytes), (e: unknown) => e instanceof BadRequestError && e.status === 400 && re.test(e.message), what);
    }
  });

  test('an index out of its table is refused', () => {
    const b = synthetic();
    b.profile.samples[0].stack = 7;
    assert.throws(() => decodeBatch(encodeBatch(b)), /stack 7 out of range/);
    const c = synthetic();
    c.profile.stacks[0] = Uint32Array.of(9);
    assert.throws(() => decodeBatch(encodeBatch(c)), /frame refers to name 9/);
  });

  test('fuzz: thousands of mutations decode to a batch or fail with a BadRequestError, quickly', () => {
    const seeds = [encodeBatch(synthetic()), encodeBatch(synthetic(), { compressAbove: 0 })];
    let state = 0x2545f491;
    const rand = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    let rejected = 0;
    let decoded = 0;
    const started = performance.now();
    for (let i = 0; i < 5000; i++) {
      const seed = seeds[i % seeds.length];
      const m = Uint8Array.from(seed);
      const edits = 1 + rand(4);
      let bytes: Uint8Array = m;
      for (let e = 0; e < edits; e++) {
        switch (rand(4)) {
          case 0:
            bytes[rand(bytes.length)] = rand(256);
            break;
          case 1:
            bytes[rand(bytes.length)] ^= 1 << rand(8);
            break;
          case 2:
            bytes = bytes.subarray(0, rand(bytes.length));
            break;
          default: {
            const at = rand(bytes.length + 1);
            bytes = Uint8Array.from([...bytes.subarray(0, at), 0xff, 0xff, 0xff, 0x7f, ...bytes.subarray(at)]);
          }
        }
        if (bytes.length === 0) break;
      }
      try {
        const b = decodeBatch(bytes);
        for (const s of b.profile.samples) assert.ok(s.stack < b.profile.stacks.length && s.labelSet < b.profile.sampleLabelSets.length);
        decoded++;
      } catch (e) {
        if (!(e instanceof BadRequestError)) throw new Error(`mutation ${i} threw ${(e as Error)?.stack ?? e}`);
        rejected++;
      }
    }
    assert.ok(rejected > 2500, `only ${rejected} of 5000 mutations were rejected`);
    assert.equal(rejected + decoded, 5000);
    assert.ok(performance.now() - started < 20_000);
  });
});
