/**
 * The Hearth that HTTP targets are sent to: the single-node pipeline with the embedded store,
 * OTLP/HTTP on the shared port, in a temp dir.
 */
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';

export interface FuzzHearthOptions {
  /**
   * The store's grouping window. Every accepted input waits for its insert to commit, so a
   * shorter window answers sooner; inputs sent at once still share one insert.
   */
  flushIntervalMs?: number;
  /** Extra node flags for the Hearth process, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

export interface FuzzHearth {
  url: string;
  /** Everything the process printed so far. */
  output(): string;
  /** The process's exit code once it has exited by itself, else null. */
  exitCode(): number | null;
  stop(): Promise<void>;
}

export async function fuzzHearth(opts: FuzzHearthOptions = {}): Promise<FuzzHearth> {
  const tmp = tempDir('hearth-fuzz-');
  let config = singleNodeConfig(join(tmp.dir, 'data'))
    .replace('receivers:\n  pyroscope: {}', 'receivers:\n  pyroscope: {}\n  otlp:\n    protocols:\n      http: {}')
    .replace('receivers: [pyroscope]', 'receivers: [pyroscope, otlp]')
    .replace('      exporters: [clickhouse]', '      exporters: [clickhouse]\n    traces:\n      receivers: [otlp]\n      exporters: [clickhouse]');
  if (opts.flushIntervalMs !== undefined) config = config.replace(/(\n {4}path: .*\n)/, `$1    flush_interval_ms: ${opts.flushIntervalMs}\n`);
  const h = await startHearth(config, tmp.dir, {}, opts.nodeArgs ?? []);
  return {
    url: h.url,
    output: h.output,
    exitCode: () => h.child.exitCode,
    async stop() {
      await h.stop('SIGTERM');
      tmp.remove();
    },
  };
}
