/**
 * Top functions by self time of a V8 CPU profile (`node --cpu-prof`), as the ingest benchmark
 * takes of the Hearth process it loads. Prints percentages of all sampled time.
 *
 *   tsx bench/cpu-top.ts FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export function topFunctions(file: string, n = 15): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x.callFrame]));
  const self = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!f) continue;
    // The last two path parts name the file well enough, without the machine's directories.
    const where = f.url ? `${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    all += dt;
  }
  const idle = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  const busy = all - idle;
  return [
    `main thread idle ${((100 * idle) / all).toFixed(1)}% of ${(all / 1e6).toFixed(1)} s; busy time by function:`,
    ...[...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, t]) => `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const l of topFunctions(process.argv[2], Number(process.argv[3] ?? 20))) console.log(l);
}
