/**
 * Creates a JetStream stream, or brings an existing one to the configured settings. Safe to
 * run from every collector at every (re)connect: nothing is sent when the stream already
 * matches, and concurrent creators converge on the same configuration.
 */
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import type { Logger } from 'pino';

export type WantedStream = Partial<StreamConfig> & { name: string; subjects: string[] };

/** The settings Hearth manages; anything else an operator set on the stream is left alone. */
const MANAGED = ['subjects', 'retention', 'storage', 'max_age', 'max_bytes', 'discard', 'num_replicas', 'duplicate_window'] as const;

export async function ensureStream(jsm: JetStreamManager, wanted: WantedStream, logger: Logger): Promise<void> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(wanted.name)).config;
  } catch (e) {
    if (!isNotFound(e)) throw e;
    try {
      await jsm.streams.add(wanted);
      logger.info({ stream: wanted.name, subjects: wanted.subjects }, 'created JetStream stream');
      return;
    } catch (addError) {
      // Another process may have created it in the meantime; check it like an existing one.
      current = (await jsm.streams.info(wanted.name).catch(() => Promise.reject(addError))).config;
    }
  }
  const changed = MANAGED.filter((k) => wanted[k] !== undefined && !same(current[k], wanted[k]));
  if (changed.length === 0) return;
  const update = { ...current } as Record<string, unknown>;
  for (const k of changed) update[k] = wanted[k];
  await jsm.streams.update(wanted.name, update as Partial<StreamConfig>);
  logger.info({ stream: wanted.name, changed }, 'updated JetStream stream settings');
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  return a === b;
}

export function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 10059 || code === 10014 || /not found/i.test((e as Error)?.message ?? '');
}
