/** The Hearth that HTTP targets are sent to: single node, OTLP/HTTP on the shared port, in a temp dir. */
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';

export async function fuzzHearth(): Promise<{ url: string; stop(): Promise<void> }> {
  const tmp = tempDir('hearth-fuzz-');
  const config = singleNodeConfig(join(tmp.dir, 'data'))
    .replace('receivers:\n  pyroscope: {}', 'receivers:\n  pyroscope: {}\n  otlp:\n    protocols:\n      http: {}')
    .replace('receivers: [pyroscope]', 'receivers: [pyroscope, otlp]')
    .replace('      exporters: [clickhouse]', '      exporters: [clickhouse]\n    traces:\n      receivers: [otlp]\n      exporters: [clickhouse]');
  const h = await startHearth(config, tmp.dir);
  return {
    url: h.url,
    async stop() {
      await h.stop('SIGTERM');
      tmp.remove();
    },
  };
}
