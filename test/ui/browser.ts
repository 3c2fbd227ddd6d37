/**
 * A real browser for the UI tests: Debian's Chromium driven by playwright-core, headless, with
 * a fresh profile directory. Every page records console errors, failed requests and 5xx
 * answers, so that a test can fail on any of them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_SKIP = existsSync(CHROMIUM) ? false : `Chromium is not installed at ${CHROMIUM}`;

export interface UiBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(dir: string, opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<UiBrowser> {
  const userDataDir = join(dir, `chromium-profile-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(userDataDir, { recursive: true });
  // A persistent context is how playwright takes a user-data dir of the test's own.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    colorScheme: opts.colorScheme ?? 'light',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return { context, close: () => context.close() };
}

export interface WatchedPage {
  page: Page;
  /** Console errors, page errors, failed requests and 5xx answers seen so far. */
  problems: string[];
  /** Requests to hosts other than Hearth's (the page must need no network). */
  foreign: string[];
}

/**
 * A page that records what went wrong. `expected` lists console messages a test provokes on
 * purpose (the browser logs a 400 answer it asked for as a console error).
 */
export async function watchedPage(ui: UiBrowser, baseUrl: string, expected: RegExp[] = []): Promise<WatchedPage> {
  const page = await ui.context.newPage();
  const problems: string[] = [];
  const foreign: string[] = [];
  const origin = new URL(baseUrl).origin;
  // A busy Hearth answers 429 or 503 with Retry-After; the page retries those, as a client
  // should, so they are not failures (the browser still logs each as a console error).
  const retryable = /status of (429|503)\b/;
  page.on('console', (m) => {
    if (m.type() === 'error' && !retryable.test(m.text()) && !expected.some((re) => re.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A request the page itself abandoned (a newer selection replaced it) is not a failure.
    if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  page.on('response', (r) => {
    if (r.status() >= 500 && r.status() !== 503) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { page, problems, foreign };
}

/**
 * Waits until the page has drawn a flame graph (`n` graphs in total since it loaded); fails at
 * once, with what the page says, when it shows an empty state or an error instead.
 */
export async function waitForGraph(page: Page, n = 1): Promise<void> {
  const handle = await page.waitForFunction(
    (k) => {
      if (Number(document.body.dataset.ready ?? 0) >= k) return 'ready';
      const status = document.querySelector('.panel [data-state="empty"], .panel [data-state="error"], main > [data-state="error"]');
      return status ? `${(status as HTMLElement).dataset.state}: ${status.textContent}` : false;
    },
    n,
    { timeout: 120_000 },
  );
  const state = await handle.jsonValue();
  if (state !== 'ready') throw new Error(`no flame graph on ${page.url()}: ${state}`);
}

export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  mkdirSync(join(dir, 'screenshots'), { recursive: true });
  const path = join(dir, 'screenshots', `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The color drawn at a client point of a canvas. */
export async function pixelAt(page: Page, role: string, x: number, y: number): Promise<[number, number, number]> {
  return page.evaluate(
    ([role, x, y]) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`canvas[data-role="${role}"]`)!;
      const box = canvas.getBoundingClientRect();
      const dpr = canvas.width / box.width;
      const d = canvas.getContext('2d')!.getImageData(Math.floor((x - box.left) * dpr), Math.floor((y - box.top) * dpr), 1, 1).data;
      return [d[0], d[1], d[2]] as [number, number, number];
    },
    [role, x, y] as const,
  );
}

/** Where a function is drawn in a flame graph, in client coordinates. */
export async function rectsOf(page: Page, role: string, name: string): Promise<Array<{ x: number; y: number; width: number; height: number }>> {
  return page.evaluate(([role, name]) => (window as any).hearth.flamegraphs[role].rectsOf(name), [role, name] as const);
}
