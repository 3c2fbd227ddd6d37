/**
 * UI: the time from navigation to a drawn flame graph of about 50,000 nodes in Chromium, next
 * to the time the API takes to answer the same query (`/pyroscope/render`, the page's own
 * request). The profile is folded text with 37 × 37 × 37 distinct stacks (sent in a few
 * uploads), so every node is distinct; the page asks for max_nodes 60000, so none is folded
 * away. Medians over the rounds.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { singleNodeConfig, startHearth, tempDir } from '../test/support/hearth.ts';
import { CHROMIUM, launch, waitForGraph } from '../test/ui/browser.ts';

const ROUNDS = Number(process.env.BENCH_UI_ROUNDS ?? 5);
const FANOUT = 37;
const QUERY = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="bench-ui"}';

/** The stacks as folded text, in several uploads: the receiver limits samples per profile. */
function foldedChunks(perChunk = 9): string[] {
  const chunks: string[] = [];
  let seed = 1;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  for (let i0 = 0; i0 < FANOUT; i0 += perChunk) {
    const lines: string[] = [];
    for (let i = i0; i < Math.min(FANOUT, i0 + perChunk); i++)
      for (let j = 0; j < FANOUT; j++)
        for (let k = 0; k < FANOUT; k++) lines.push(`main;svc${i}.Handle;svc${i}/db${j}.Query;codec${k}.Decode ${1 + (next() % 100)}`);
    chunks.push(lines.join('\n'));
  }
  return chunks;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchUi(): Promise<{ name: string; lines: string[] }> {
  const name = 'UI: navigation to a drawn 50,000-node flame graph (Chromium)';
  if (!existsSync(CHROMIUM)) return { name, lines: [`skipped: Chromium is not installed at ${CHROMIUM}`] };
  const tmp = tempDir('hearth-bench-ui-');
  const hearth = await startHearth(singleNodeConfig(join(tmp.dir, 'data')), tmp.dir);
  const ui = await launch(tmp.dir);
  try {
    for (const body of foldedChunks()) {
      const r = await fetch(`${hearth.url}/ingest?name=${encodeURIComponent('bench-ui.cpu{}')}&from=now-10s&until=now&sampleRate=100`, { method: 'POST', body });
      if (!r.ok) throw new Error(`ingest failed: ${r.status} ${await r.text()}`);
    }
    const params = new URLSearchParams({ query: QUERY, from: 'now-1h', until: 'now', maxNodes: '60000' });
    const apiMs: number[] = [];
    let apiBytes = 0;
    for (let i = 0; i < ROUNDS + 1; i++) {
      const t0 = performance.now();
      const body = await (await fetch(`${hearth.url}/pyroscope/render?${params}`)).text();
      if (i > 0) apiMs.push(performance.now() - t0);
      apiBytes = body.length;
    }
    const pageMs: number[] = [];
    /** From the render answer's last byte to the drawn graph: parsing, the tree, the table, the canvas. */
    const afterAnswerMs: number[] = [];
    let nodes = 0;
    // The first round also builds the UI bundle on the server; it is not counted.
    for (let i = 0; i < ROUNDS + 1; i++) {
      const page = await ui.context.newPage();
      await page.goto(`${hearth.url}/?${params}`);
      await waitForGraph(page);
      const { drawnAt, count, answered } = await page.evaluate(() => ({
        drawnAt: (window as any).hearth.drawnAt as number,
        count: (window as any).hearth.flamegraphs.main.nodeCount as number,
        answered: (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find((e) => e.name.includes('/pyroscope/render'))!.responseEnd,
      }));
      nodes = count;
      if (i > 0) {
        pageMs.push(drawnAt);
        afterAnswerMs.push(drawnAt - answered);
      }
      await page.close();
    }
    return {
      name,
      lines: [
        `flame graph nodes: ${nodes.toLocaleString('en-US')} (render answer ${(apiBytes / 1e6).toFixed(1)} MB of JSON)`,
        `navigation → drawn flame graph: ${median(pageMs).toFixed(0)} ms median over ${ROUNDS} loads`,
        `API alone (/pyroscope/render, same query): ${median(apiMs).toFixed(0)} ms median over ${ROUNDS}`,
        `in the page after the answer arrived (JSON, tree, table, draw): ${median(afterAnswerMs).toFixed(0)} ms median`,
      ],
    };
  } finally {
    await ui.close();
    await hearth.stop();
    tmp.remove();
  }
}
