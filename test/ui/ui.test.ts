/**
 * The web UI in a real browser (Chromium through playwright-core) against a real Hearth that
 * holds CPU profiles of the Go fixture at two loads and a trace sent over OTLP/HTTP. What the
 * page shows is compared with the API's own answers, fetched here: the top table with
 * /pyroscope/render, the diff table with two render answers, the trace's spans with
 * /api/v1/traces/{id}. Every page fails the test on a console error, a failed request, a 5xx or
 * a request that leaves Hearth; screenshots of each view go under the test's temp directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { referenceOf, selfFromLevels } from '../support/pprof-reference.ts';
import { startHearth, tempDir, traceToProfileConfig, type HearthProcess } from '../support/hearth.ts';
import { GO_SKIP, goProfiles, ingestPprof } from '../api/harness.ts';
import { CHROMIUM_SKIP, launch, pixelAt, rectsOf, screenshot, waitForGraph, watchedPage, type UiBrowser, type WatchedPage } from './browser.ts';

const TENANT = 'team-ui';
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const SKIP = GO_SKIP || CHROMIUM_SKIP;
const LOW = `${CPU}{service_name="goapp", load="low"}`;
const HIGH = `${CPU}{service_name="goapp", load="high"}`;
const ALL = `${CPU}{service_name="goapp"}`;

const tmp = tempDir('hearth-ui-');
let hearth: HearthProcess;
let ui: UiBrowser;
const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const rootSpan = '1000000000000001';
const childSpans = ['2000000000000001', '2000000000000002', '2000000000000003'];


async function api(path: string, params: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${hearth.url}${path}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': TENANT } });
  return { status: r.status, body: await r.json() };
}

/** The spans of one trace as OTLP/HTTP JSON: a request span and one child per span the Go program runs. */
function otlpTrace(startNs: bigint): unknown {
  const span = (spanId: string, parentSpanId: string, name: string, offsetMs: number, ms: number) => ({
    traceId,
    spanId,
    parentSpanId,
    name,
    kind: parentSpanId ? 1 : 2,
    startTimeUnixNano: String(startNs + BigInt(offsetMs) * 1_000_000n),
    endTimeUnixNano: String(startNs + BigInt(offsetMs + ms) * 1_000_000n),
  });
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'goapp-frontend' } }] },
        scopeSpans: [
          {
            scope: { name: 'ui-test' },
            spans: [
              span(rootSpan, '', 'GET /work', 0, 1500),
              span(childSpans[0], rootSpan, 'checkout', 200, 600),
              span(childSpans[1], rootSpan, 'search', 800, 400),
              span(childSpans[2], rootSpan, 'render', 1200, 200),
            ],
          },
        ],
      },
    ],
  };
}

/** Posts JSON, retrying a 429/503 as a real client would. */
async function postJson(path: string, body: unknown): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await fetch(hearth.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': TENANT }, body: JSON.stringify(body) });
    if (r.ok) return;
    if ((r.status !== 429 && r.status !== 503) || Date.now() > deadline) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

before(async () => {
  if (SKIP) return;
  hearth = await startHearth(traceToProfileConfig(join(tmp.dir, 'data')), tmp.dir);
  // The same service at two loads: the render span's share grows from 1 in 7 to 6 in 12.
  for (const [load, shares] of [['low', '3,2,1'], ['high', '3,2,6']]) {
    const dir = join(tmp.dir, load);
    mkdirSync(dir);
    for (const p of await goProfiles(dir, 2, ['-shares', shares])) await ingestPprof(hearth.url, TENANT, `goapp{load=${load}}`, p.bytes);
  }
  const traced = join(tmp.dir, 'traced');
  mkdirSync(traced);
  const start = BigInt(Date.now()) * 1_000_000n;
  const [profile] = await goProfiles(traced, 1, ['-trace-id', '-', ...childSpans.flatMap((id) => ['-span-id', id])]);
  await postJson('/v1/traces', otlpTrace(start));
  await ingestPprof(hearth.url, TENANT, 'goapp-traced{}', profile.bytes);
  ui = await launch(tmp.dir);
  await ui.context.addInitScript((t) => localStorage.setItem('hearth.tenant', t), TENANT);
});

after(async () => {
  await ui?.close();
  await hearth?.stop();
  if (process.env.KEEP_UI_SCREENSHOTS) console.log(`screenshots in ${join(tmp.dir, 'screenshots')}`);
  else tmp.remove();
});

function assertClean(w: WatchedPage): void {
  assert.deepEqual(w.problems, [], 'no console error, failed request or 5xx');
  assert.deepEqual(w.foreign, [], 'every request goes to Hearth');
}

const url = (path: string, params: Record<string, string>) => `${hearth.url}${path}?${new URLSearchParams(params)}`;

/** The totals of the nodes named `name` (the fixture's functions do not recurse). */
function totalOf(names: string[], levels: number[][], name: string): number {
  let total = 0;
  for (let d = 1; d < levels.length; d++) for (let i = 0; i < levels[d].length; i += 4) if (names[levels[d][i + 3]] === name) total += levels[d][i + 1];
  return total;
}

test('explore: the hottest function leads the top table with the render self; search highlights it; click zooms', { skip: SKIP }, async () => {
  const render = await api('/pyroscope/render', { query: ALL, from: 'now-1h', until: 'now' });
  assert.equal(render.status, 200);
  const { names, levels, numTicks } = render.body.flamebearer;
  const self = selfFromLevels(names, levels);
  const hottestSelf = Math.max(...self.values());
  assert.ok(hottestSelf > 0);

  const w = await watchedPage(ui, hearth.url);
  const { page } = w;
  await page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now' }));
  await waitForGraph(page);
  const first = page.locator('[data-role="top"] tbody tr').first();
  // Two functions could tie at the sampling granularity; either is then the hottest.
  const hottest = (await first.getAttribute('data-name'))!;
  assert.equal(self.get(hottest), hottestSelf, `${hottest} has the largest self value of the render answer`);
  assert.equal(Number(await first.locator('td[data-col="self"]').getAttribute('data-value')), hottestSelf);
  assert.match((await first.locator('td[data-col="self"]').textContent())!, /^\d+(\.\d+)? (ms|s)$/, 'CPU time printed in its unit');
  await screenshot(page, tmp.dir, 'explore');

  // `/` focuses the search; the match is highlighted and its share shown.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('search')), true);
  await page.keyboard.type(hottest);
  const info = page.locator('.match-info');
  await page.waitForFunction(() => (document.querySelector('.match-info') as HTMLElement).dataset.matched !== '0');
  const matched = totalOf(names, levels, hottest);
  assert.equal(Number(await info.getAttribute('data-matched')), matched);
  assert.match((await info.textContent())!, new RegExp(`${((100 * matched) / numTicks).toFixed(1)}\\d?% of total`));
  const rows = await page.locator('[data-role="top"] tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.name));
  assert.deepEqual(rows, [hottest], 'the table is filtered by the search');
  const [hit] = await rectsOf(page, 'main', hottest);
  const hitColor = await pixelAt(page, 'main', hit.x + hit.width / 2, hit.y + 3);
  const [other] = await rectsOf(page, 'main', 'main.main');
  const otherColor = await pixelAt(page, 'main', other.x + other.width - 4, other.y + 3);
  const spread = (c: number[]) => Math.max(...c) - Math.min(...c);
  assert.ok(spread(hitColor) > 60, `the match keeps its color: ${hitColor}`);
  assert.ok(spread(otherColor) < 20, `other frames are dimmed to gray: ${otherColor}`);
  await screenshot(page, tmp.dir, 'explore-search');

  // Clicking the frame zooms into it: it then spans the whole width; Esc resets.
  const canvasWidth = await page.locator('canvas[data-role="main"]').evaluate((c) => c.getBoundingClientRect().width);
  assert.ok(hit.width < canvasWidth * 0.9);
  await page.mouse.click(hit.x + hit.width / 2, hit.y + 5);
  const [zoomed] = await rectsOf(page, 'main', hottest);
  assert.ok(Math.abs(zoomed.width - canvasWidth) < 1, `zoomed width ${zoomed.width} of ${canvasWidth}`);
  await screenshot(page, tmp.dir, 'explore-zoom');
  await page.keyboard.press('Escape');
  const [reset] = await rectsOf(page, 'main', hottest);
  assert.ok(Math.abs(reset.width - hit.width) < 1, 'Esc resets the zoom');

  // The sandwich of the hottest function: its callers and callees.
  await page.locator('[data-role="top"] tbody tr').first().click();
  await page.locator('canvas[data-role="callers"]').waitFor();
  assert.ok((await rectsOf(page, 'callers', 'main.main')).length > 0, 'main.main calls it, through the span work');
  await screenshot(page, tmp.dir, 'explore-sandwich');

  // Download pprof: the merged selection, whose CPU total is the render's.
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download pprof' }).click()]);
  const ref = referenceOf(readFileSync((await file.path())!));
  assert.equal(ref.totals[ref.sampleTypes.findIndex((t) => t.type === 'cpu')], numTicks);
  assert.match(file.suggestedFilename(), /\.pb\.gz$/);
  assertClean(w);
  await page.close();
});

test('explore: label filters from LabelNames/LabelValues, groupBy lines, and the brush narrows the range', { skip: SKIP }, async () => {
  const high = await api('/pyroscope/render', { query: HIGH, from: 'now-1h', until: 'now' });
  const highSelf = selfFromLevels(high.body.flamebearer.names, high.body.flamebearer.levels);
  const w = await watchedPage(ui, hearth.url);
  const { page } = w;
  await page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now' }));
  await waitForGraph(page);
  // Label names and values are suggested from the API.
  await page.locator('.label-name').focus();
  await page.waitForFunction(() => [...document.querySelectorAll('datalist[id^="label-names"] option')].some((o) => (o as HTMLOptionElement).value === 'load'));
  await page.locator('.label-name').fill('load');
  await page.locator('.label-name').dispatchEvent('change');
  await page.locator('.label-value').focus();
  await page.waitForFunction(() => {
    const values = [...document.querySelectorAll('datalist[id^="label-values"] option')].map((o) => (o as HTMLOptionElement).value);
    return values.includes('low') && values.includes('high');
  });
  await page.locator('.label-value').fill('high');
  await page.getByRole('button', { name: 'Add filter' }).click();
  await waitForGraph(page, 2);
  assert.equal(new URL(page.url()).searchParams.get('query'), `${CPU}{service_name="goapp", load="high"}`);
  const spin = page.locator('[data-role="top"] tbody tr[data-name="main.spinRender"] td[data-col="self"]');
  assert.equal(Number(await spin.getAttribute('data-value')), highSelf.get('main.spinRender'));
  await screenshot(page, tmp.dir, 'explore-filter');

  // groupBy: one line per value, named in the legend.
  await page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now', groupBy: 'load' }));
  await waitForGraph(page);
  assert.deepEqual((await page.locator('.legend-item').allTextContents()).sort(), ['high', 'low']);
  await screenshot(page, tmp.dir, 'explore-group-by');

  // Dragging across the timeline narrows the range to what was brushed.
  const box = (await page.locator('.timeline-canvas').boundingBox())!;
  const before = Date.now();
  await page.mouse.move(box.x + box.width * 0.5, box.y + 40);
  await page.mouse.down();
  // Past the right edge, so that the brush holds the newest profiles.
  await page.mouse.move(box.x + box.width + 20, box.y + 40, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL(/from=\d{13}/);
  await waitForGraph(page, 2);
  const q = new URL(page.url()).searchParams;
  const [from, until] = [Number(q.get('from')), Number(q.get('until'))];
  assert.ok(from > before - 3_600_000 && from < until && until <= before + 60_000, `brushed ${from}..${until}`);
  assert.equal(q.get('groupBy'), 'load');
  assertClean(w);
  await page.close();
});

test('diff: the function that grew is red, and its change equals the two render answers', { skip: SKIP }, async () => {
  const [left, right] = await Promise.all([LOW, HIGH].map((query) => api('/pyroscope/render', { query, from: 'now-1h', until: 'now' })));
  const l = selfFromLevels(left.body.flamebearer.names, left.body.flamebearer.levels);
  const r = selfFromLevels(right.body.flamebearer.names, right.body.flamebearer.levels);
  const lt = left.body.flamebearer.numTicks;
  const rt = right.body.flamebearer.numTicks;
  const change = (name: string) => (r.get(name) ?? 0) / rt - (l.get(name) ?? 0) / lt;
  // The render span runs 6 shares of 12 on the right instead of 1 of 7; preemption samples
  // (runtime.asyncPreempt under it) take some of its self time, more on a busy machine.
  const grown = 'main.spinRender';
  assert.ok(change(grown) > 0.1, `${grown} grew from ${l.get(grown)} of ${lt} to ${r.get(grown)} of ${rt}`);

  const w = await watchedPage(ui, hearth.url);
  const { page } = w;
  await page.goto(url('/diff', { leftQuery: LOW, leftFrom: 'now-1h', leftUntil: 'now', rightQuery: HIGH, rightFrom: 'now-1h', rightUntil: 'now' }));
  await waitForGraph(page);
  const row = page.locator(`[data-role="changes"] tbody tr[data-name="${grown}"]`);
  assert.equal(Number(await row.locator('td[data-col="change"]').getAttribute('data-value')), (r.get(grown) ?? 0) - (l.get(grown) ?? 0));
  assert.ok(Math.abs(Number(await row.locator('td[data-col="shareChange"]').getAttribute('data-value')) - change(grown)) < 1e-12);
  assert.match((await row.locator('td[data-col="shareChange"]').getAttribute('class'))!, /\bgrew\b/);
  // A function can be drawn more than once (a few samples under another caller, more on a busy
  // machine); its main occurrence, the widest, carries the change the test is about.
  const widest = async (name: string) => (await rectsOf(page, 'main', name)).sort((a, b) => b.width - a.width)[0];
  const rect = await widest(grown);
  const [red, green, blue] = await pixelAt(page, 'main', rect.x + rect.width / 2, rect.y + 3);
  assert.ok(red > green + 60 && red > blue + 60, `drawn in red: ${[red, green, blue]}`);
  // And the span whose share fell is green.
  const shrunk = await widest('main.spinCheckout');
  const c = await pixelAt(page, 'main', shrunk.x + shrunk.width / 2, shrunk.y + 3);
  assert.ok(c[1] > c[0] + 30, `main.spinCheckout drawn in green: ${c}`);
  await screenshot(page, tmp.dir, 'diff');
  // Either side downloads as pprof: the right one holds the right render's total.
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download after' }).click()]);
  const ref = referenceOf(readFileSync((await file.path())!));
  assert.equal(ref.totals[ref.sampleTypes.findIndex((t) => t.type === 'cpu')], rt);
  assertClean(w);
  await page.close();
});

test('trace: the spans with the totals of /api/v1/traces/{id}, and the trace flame graph', { skip: SKIP }, async () => {
  const t = await api(`/api/v1/traces/${traceId}`);
  assert.equal(t.status, 200);
  assert.equal(t.body.spans.length, 4);
  const w = await watchedPage(ui, hearth.url);
  const { page } = w;
  await page.goto(`${hearth.url}/trace/${traceId}`);
  await waitForGraph(page);
  const rows = page.locator('.spans-table tbody tr');
  assert.equal(await rows.count(), t.body.spans.length);
  let linked = 0;
  for (const s of t.body.spans) {
    const want = s.profiles[CPU] ?? { self: 0, total: 0 };
    const row = page.locator(`.spans-table tr[data-span-id="${s.spanId}"]`);
    assert.equal(Number(await row.locator('td[data-col="self"]').getAttribute('data-value')), want.self, `${s.name} self`);
    assert.equal(Number(await row.locator('td[data-col="total"]').getAttribute('data-value')), want.total, `${s.name} total`);
    linked += want.self;
  }
  assert.ok(linked > 0, 'the spans have CPU samples');
  const graph = await api(`/api/v1/traces/${traceId}/flamegraph`, { profile_type: CPU });
  assert.equal(await page.evaluate(() => (window as any).hearth.flamegraphs.main.matched().total), graph.body.flamebearer.numTicks);
  await screenshot(page, tmp.dir, 'trace');
  assertClean(w);
  await page.close();
});

test('a selection with no data shows an empty state; a malformed matcher shows the API 400 message', { skip: SKIP }, async () => {
  const w = await watchedPage(ui, hearth.url, [/status of 400/]);
  const { page } = w;
  await page.goto(url('/', { query: `${CPU}{service_name="no-such-service"}`, from: 'now-1h', until: 'now' }));
  const empty = page.locator('[data-state="empty"]');
  await empty.waitFor();
  assert.match((await empty.textContent())!, /No data matches/);
  await screenshot(page, tmp.dir, 'empty');

  await page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now' }));
  await waitForGraph(page);
  const malformed = `${CPU}{service_name="goapp", load=~}`;
  const direct = await api('/pyroscope/render', { query: malformed, from: 'now-1h', until: 'now' });
  assert.equal(direct.status, 400);
  await page.locator('.query-input').fill(malformed);
  await page.locator('.query-input').press('Enter');
  const error = page.locator('.panel [data-state="error"]');
  await error.waitFor();
  assert.equal(await error.textContent(), direct.body.message);
  await screenshot(page, tmp.dir, 'error');
  assertClean(w);
  await page.close();
});

test('profiles: the stored profiles of a selection; one opens, two diff', { skip: SKIP }, async () => {
  const list = await api('/pyroscope/profiles', { query: LOW, from: 'now-1h', until: 'now' });
  assert.ok(list.body.profiles.length >= 2, 'two runs of the program, each a profile per series');
  const w = await watchedPage(ui, hearth.url);
  const { page } = w;
  await page.goto(url('/profiles', { query: LOW, from: 'now-1h', until: 'now' }));
  const rows = page.locator('.profiles tbody tr');
  await rows.first().waitFor();
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.id)), list.body.profiles.map((p: any) => p.id));
  await screenshot(page, tmp.dir, 'profiles');
  await rows.nth(0).locator('input[type="checkbox"]').check();
  await rows.nth(1).locator('input[type="checkbox"]').check();
  await page.getByRole('button', { name: 'Diff the two checked' }).click();
  await waitForGraph(page);
  assert.match(page.url(), /\/diff\?.*leftProfile=/);
  // Each side is one listed entry: a profile's samples of one series.
  const [a, b] = list.body.profiles.slice(0, 2).sort((x: any, y: any) => x.time - y.time);
  assert.equal(await page.evaluate(() => (window as any).hearth.flamegraphs.main.matched().total), a.total + b.total);
  await screenshot(page, tmp.dir, 'profiles-diff');
  await page.goto(`${hearth.url}/profile/${list.body.profiles[0].id}?${new URLSearchParams({ query: LOW })}`);
  await waitForGraph(page);
  const one = await api(`/pyroscope/profiles/${list.body.profiles[0].id}`, { query: LOW });
  assert.equal(await page.evaluate(() => (window as any).hearth.flamegraphs.main.matched().total), one.body.flamebearer.numTicks);
  await screenshot(page, tmp.dir, 'profile');
  assertClean(w);
  await page.close();
});

/** Bytes on the wire, as a browser asking for gzip receives them. */
function gzippedSize(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${hearth.url}${path}`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the first load is under 1 MB gzipped, served by Hearth alone, in the system theme', { skip: SKIP }, async () => {
  const page = (await fetch(`${hearth.url}/`)).headers;
  assert.match(page.get('content-type') ?? '', /text\/html/);
  const html = await (await fetch(`${hearth.url}/`)).text();
  const assets = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]);
  assert.equal(assets.length, 2, 'a script and a stylesheet');
  let total = await gzippedSize('/');
  for (const a of assets) total += await gzippedSize(a);
  assert.ok(total < 1_000_000, `first load ${total} bytes gzipped`);

  const dark = await launch(tmp.dir, { colorScheme: 'dark' });
  try {
    await dark.context.addInitScript((t) => localStorage.setItem('hearth.tenant', t), TENANT);
    const w = await watchedPage(dark, hearth.url);
    await w.page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now' }));
    await waitForGraph(w.page);
    const bg = await w.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g)!.map(Number);
    assert.ok(r + g + b < 150, `dark background: ${bg}`);
    await screenshot(w.page, tmp.dir, 'explore-dark');
    assertClean(w);
  } finally {
    await dark.close();
  }
  // `/` alone opens the CPU profile of the first service.
  const home = await watchedPage(ui, hearth.url);
  await home.page.goto(`${hearth.url}/`);
  await waitForGraph(home.page);
  assert.equal(new URL(home.page.url()).searchParams.get('query'), `${CPU}{service_name="goapp"}`);
  assertClean(home);
  await home.page.close();

  // Another tenant sees none of this data through the page.
  const w = await watchedPage(ui, hearth.url);
  await w.page.goto(url('/', { query: ALL, from: 'now-1h', until: 'now', tenant: 'someone-else' }));
  await w.page.locator('[data-state="empty"]').waitFor();
  assertClean(w);
  await w.page.close();
});
