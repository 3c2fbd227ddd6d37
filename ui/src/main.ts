/**
 * The page: a header (views, trace ID, tenant) and the view that the URL names. Links marked
 * `data-nav` and the views' own navigation change the URL without reloading.
 */
import './style.css';
import { saveTenant, saveToken, tenant, token } from './api.ts';
import { h } from './dom.ts';
import { NAVIGATE, navigate, param } from './state.ts';
import type { View } from './views/view.ts';
import { diffView } from './views/diff.ts';
import { exploreView } from './views/explore.ts';
import { profilesView, profileView } from './views/profiles.ts';
import { traceView } from './views/trace.ts';

const routes: Array<[RegExp, View, string]> = [
  [/^\/$/, exploreView, 'explore'],
  [/^\/diff\/?$/, diffView, 'diff'],
  [/^\/profiles\/?$/, profilesView, 'profiles'],
  [/^\/profile\/[^/]+\/?$/, profileView, 'profiles'],
  [/^\/trace(\/[^/]*)?\/?$/, traceView, 'trace'],
];

const main = h('main', { id: 'view' });
let current: ReturnType<View> = {};

function header(): HTMLElement {
  const tenantInput = h('input', { type: 'text', class: 'tenant-input', value: tenant(), placeholder: 'anonymous', 'aria-label': 'Tenant (X-Scope-OrgID)', title: 'Tenant, sent as X-Scope-OrgID' });
  tenantInput.addEventListener('change', () => {
    const t = tenantInput.value.trim();
    saveTenant(t);
    // The URL names the tenant only when it already did; the saved setting covers the rest.
    const q = new URLSearchParams(location.search);
    if (q.has('tenant')) {
      if (t) q.set('tenant', t);
      else q.delete('tenant');
    }
    navigate(location.pathname, Object.fromEntries(q), true);
    render();
  });
  const tokenInput = h('input', { type: 'password', class: 'token-input', value: token(), placeholder: 'none', 'aria-label': 'Bearer token', title: 'Sent as Authorization: Bearer, when Hearth requires a token; kept for this browser session', autocomplete: 'off' });
  tokenInput.addEventListener('change', () => {
    saveToken(tokenInput.value.trim());
    render();
  });
  const link = (href: string, text: string, key: string) => h('a', { href, 'data-nav': true, dataset: { view: key } }, text);
  return h(
    'header',
    { class: 'top' },
    h('a', { href: '/', class: 'brand', 'data-nav': true }, 'Hearth'),
    h('nav', null, link('/', 'Explore', 'explore'), link('/diff', 'Diff', 'diff'), link('/profiles', 'Profiles', 'profiles'), link('/trace', 'Trace', 'trace')),
    h('span', { class: 'spacer' }),
    h('label', { class: 'tenant' }, 'Tenant ', tenantInput),
    h('label', { class: 'tenant' }, 'Token ', tokenInput),
  );
}

function render(): void {
  current.dispose?.();
  const route = routes.find(([re]) => re.test(location.pathname));
  document.querySelectorAll<HTMLElement>('header nav a').forEach((a) => a.classList.toggle('active', a.dataset.view === route?.[2]));
  if (!route) {
    main.replaceChildren(h('div', { class: 'status status-error', role: 'alert' }, `No page at ${location.pathname}.`));
    current = {};
    return;
  }
  const [, view, key] = route;
  // Links between views carry the selection along where it applies.
  for (const a of document.querySelectorAll<HTMLAnchorElement>('header nav a')) {
    const q = param('query') || param('leftQuery');
    const from = param('from') || param('leftFrom') || 'now-1h';
    const until = param('until') || param('leftUntil') || 'now';
    if (q && (a.dataset.view === 'explore' || a.dataset.view === 'profiles')) {
      a.href = `${a.dataset.view === 'explore' ? '/' : '/profiles'}?${new URLSearchParams({ query: q, from, until })}`;
    } else if (q && a.dataset.view === 'diff' && key !== 'diff') {
      // The current selection on both sides, ready to change one of them.
      a.href = `/diff?${new URLSearchParams({ leftQuery: q, leftFrom: from, leftUntil: until, rightQuery: q, rightFrom: from, rightUntil: until })}`;
    }
  }
  document.title = `Hearth · ${key}`;
  current = view(main);
}

document.body.append(header(), main);
window.addEventListener(NAVIGATE, render);
window.addEventListener('popstate', render);
document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest?.('a[data-nav]') as HTMLAnchorElement | null;
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  const url = new URL(a.href);
  navigate(url.pathname, Object.fromEntries(url.searchParams));
});
document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
  if (e.key === '/' && !typing) {
    e.preventDefault();
    current.panel?.focusSearch();
  } else if (e.key === 'Escape') {
    current.panel?.resetZoom();
    if (typing) (e.target as HTMLElement).blur();
  }
});
render();
