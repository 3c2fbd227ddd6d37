/**
 * The writer's seen-caches of functions, stacks and series start over on every UTC day, so that
 * whatever is still in use is written again at least once a day (and its last_seen refreshed).
 * The store is replaced by a recorder of the inserts and the clock by a test clock, so that a
 * write can cross midnight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import pino from 'pino';
import type { Batch } from '../../core/model.ts';
import type { Connection } from '../../storage/connection.ts';
import { buildSchema } from '../../storage/schema.ts';
import { Writer } from '../../storage/writer.ts';
import { syntheticProfile } from '../support/synthetic-profiles.ts';

interface Recorded {
  table: string;
  bytes: Buffer;
}

/** A server-mode connection that records each insert and finds nothing stored. */
function recordingConnection(): { conn: Connection; inserts: Recorded[]; holdNextInsert: () => () => void } {
  const inserts: Recorded[] = [];
  let hold: Promise<void> | undefined;
  const client = {
    async query() {
      return { json: async () => [] };
    },
    async exec(params: { query: string; values: Readable }) {
      const chunks: Buffer[] = [];
      for await (const c of params.values) chunks.push(Buffer.from(c));
      const gate = hold;
      hold = undefined;
      if (gate) await gate;
      const table = /INSERT INTO \S+\.`(\w+)`/.exec(params.query)?.[1] ?? '?';
      inserts.push({ table, bytes: Buffer.concat(chunks) });
      return {};
    },
  };
  const holdNextInsert = () => {
    let release!: () => void;
    hold = new Promise((r) => (release = r));
    return release;
  };
  return { conn: { client: client as unknown as Connection['client'], kind: 'http', key: 'test', spoolDir: '', dir: '' }, inserts, holdNextInsert };
}

const schema = buildSchema({ database: 'day', retentionDays: 0 });
const logger = pino({ level: 'silent' });

function batch(key: string, timeMs: number): Batch {
  // The same seed: the same functions and stacks every time; a new key and time: a new profile.
  return { tenant: 'anonymous', labels: { __name__: 'process_cpu', service_name: 'day' }, profile: syntheticProfile(7, timeMs, 8, false), idempotencyKey: key };
}

const tables = (rs: Recorded[]) => rs.map((r) => r.table).sort();

test('functions, stacks and series are written once a day while in use, again after midnight UTC', async () => {
  let now = Date.UTC(2026, 0, 1, 23, 58, 0);
  const { conn, inserts } = recordingConnection();
  const writer = new Writer(conn, schema, { flushIntervalMs: 10_000, maxRows: 1_000, maxConcurrentFlushes: 1, now: () => now }, logger);

  await writer.write(batch('a', now), true);
  assert.deepEqual(tables(inserts), ['functions', 'samples', 'series', 'stacks']);
  const firstDay = new Map(inserts.map((r) => [r.table, r.bytes]));

  inserts.length = 0;
  now += 60_000;
  await writer.write(batch('b', now), true);
  assert.deepEqual(tables(inserts), ['samples'], 'known the same day: only the samples are written');

  inserts.length = 0;
  now = Date.UTC(2026, 0, 2, 0, 0, 30);
  await writer.write(batch('c', now - 60_000), true);
  assert.deepEqual(tables(inserts), ['functions', 'samples', 'series', 'stacks'], 'a new day: everything in use is written again');
  for (const t of ['functions', 'stacks']) {
    assert.deepEqual(inserts.find((r) => r.table === t)?.bytes, firstDay.get(t), `${t}: the same IDs and content as the day before`);
  }
});

test('a batch taken in before midnight and written after it writes its functions and stacks on the new day', async () => {
  let now = Date.UTC(2026, 0, 3, 23, 59, 0);
  const { conn, inserts } = recordingConnection();
  const writer = new Writer(conn, schema, { flushIntervalMs: 60_000, maxRows: 1_000, maxConcurrentFlushes: 1, now: () => now }, logger);
  await writer.write(batch('a', now), true);

  inserts.length = 0;
  // Known when it arrives, so its rows list no functions or stacks; the flush happens on the next day.
  const late = writer.write(batch('b', now));
  now = Date.UTC(2026, 0, 4, 0, 0, 1);
  await writer.flush();
  await late;
  assert.deepEqual(tables(inserts), ['functions', 'samples', 'series', 'stacks']);
});

test('an insert that began before midnight and committed after it does not count as written on the new day', async () => {
  let now = Date.UTC(2026, 0, 5, 23, 59, 59);
  const { conn, inserts, holdNextInsert } = recordingConnection();
  const writer = new Writer(conn, schema, { flushIntervalMs: 60_000, maxRows: 1_000, maxConcurrentFlushes: 1, now: () => now }, logger);
  const release = holdNextInsert();
  const first = writer.write(batch('a', now), true);
  await new Promise((r) => setTimeout(r, 20));
  // A write arriving after midnight while the insert runs starts the new day's caches.
  now = Date.UTC(2026, 0, 6, 0, 0, 1);
  const second = writer.write(batch('b', now), true);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(tables(inserts), ['functions', 'functions', 'samples', 'samples', 'series', 'series', 'stacks', 'stacks'], 'each day wrote them');
});
