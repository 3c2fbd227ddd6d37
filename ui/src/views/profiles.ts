/**
 * Profiles: `/profiles?query=&from=&until=` lists the stored profiles of a selection, newest
 * first; one opens at `/profile/<id>?query=`, and two checked ones open as a diff.
 */
import { ApiError, download, getJson, type RenderAnswer } from '../api.ts';
import { h, statusBox } from '../dom.ts';
import { formatTime, formatValue, unitOf } from '../format.ts';
import { ProfilePanel } from '../panel.ts';
import { navigate, param, splitQuery } from '../state.ts';
import { selectionBar } from '../controls.ts';
import type { View } from './view.ts';

interface StoredProfile {
  id: string;
  time: number;
  labels: Record<string, string>;
  total: number;
}

export const profilesView: View = (root) => {
  const query = param('query');
  const from = param('from') || 'now-1h';
  const until = param('until') || 'now';
  const list = h('section', { class: 'profiles' });
  root.replaceChildren(selectionBar({ query, from, until }, (s) => navigate('/profiles', { query: s.query, from: s.from, until: s.until })), list);
  if (!query) {
    list.append(statusBox('empty', 'Enter a query to list its profiles.'));
    return {};
  }
  list.append(statusBox('loading', 'Loading…'));
  const controller = new AbortController();
  const type = splitQuery(query).type;
  const format = (v: number) => formatValue(v, unitOf(type));
  // A profile is listed once per series it holds samples of; its series' labels name that part.
  const seriesQuery = (p: StoredProfile) =>
    `${type}{${Object.entries(p.labels).filter(([k]) => !k.startsWith('__')).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
  getJson<{ profiles: StoredProfile[] }>('/pyroscope/profiles', { query, from, until, limit: 500 }, controller.signal)
    .then(({ profiles }) => {
      if (!profiles.length) {
        list.replaceChildren(statusBox('empty', `No stored profile matches ${query} in this time range.`));
        return;
      }
      const picked = new Set<StoredProfile>();
      const diffButton = h('button', { type: 'button', class: 'primary', disabled: true, onclick: () => {
        const [a, b] = [...picked].sort((x, y) => x.time - y.time);
        const around = (p: StoredProfile) => ({ from: String(p.time - 1000), until: String(p.time + 1000) });
        navigate('/diff', {
          leftQuery: seriesQuery(a), leftFrom: around(a).from, leftUntil: around(a).until, leftProfile: a.id,
          rightQuery: seriesQuery(b), rightFrom: around(b).from, rightUntil: around(b).until, rightProfile: b.id,
        });
      } }, 'Diff the two checked');
      const rows = profiles.map((p) => {
        const box = h('input', { type: 'checkbox', 'aria-label': `Pick profile ${p.id}`, onchange: () => {
          if (box.checked) picked.add(p);
          else picked.delete(p);
          diffButton.disabled = picked.size !== 2;
        } });
        const labels = Object.entries(p.labels).filter(([k]) => !k.startsWith('__')).map(([k, v]) => `${k}=${v}`).join(', ');
        return h(
          'tr',
          { dataset: { id: p.id } },
          h('td', null, box),
          h('td', null, h('a', { href: `/profile/${p.id}?${new URLSearchParams({ query: seriesQuery(p) })}`, 'data-nav': true }, p.id)),
          h('td', null, formatTime(p.time)),
          h('td', { class: 'num', dataset: { value: String(p.total) } }, format(p.total)),
          h('td', { class: 'labels' }, labels),
        );
      });
      list.replaceChildren(
        h('div', { class: 'section-head' }, h('h2', null, `${profiles.length} profiles`), h('span', { class: 'spacer' }), diffButton),
        h('div', { class: 'table-wrap' }, h('table', { class: 'functions' }, h('thead', null, h('tr', null, h('th', null, ''), h('th', null, 'Profile'), h('th', null, 'Time'), h('th', { class: 'num' }, 'Total'), h('th', null, 'Labels'))), h('tbody', null, ...rows))),
      );
    })
    .catch((err) => {
      if (!controller.signal.aborted) list.replaceChildren(statusBox('error', err instanceof ApiError ? err.message : String(err)));
    });
  return { dispose: () => controller.abort() };
};

export const profileView: View = (root) => {
  const id = decodeURIComponent(location.pathname.split('/')[2] ?? '');
  const query = param('query');
  const panel = new ProfilePanel({ sandwich: true, download: () => download(`/pyroscope/profiles/${encodeURIComponent(id)}`, { query, format: 'pprof' }, `${id}.pb.gz`) });
  const title = h('span', { class: 'muted' });
  root.replaceChildren(
    h('div', { class: 'section-head' }, h('h2', null, 'Profile ', h('code', null, id)), title, h('span', { class: 'spacer' }), h('a', { href: `/profiles?${new URLSearchParams({ query })}`, 'data-nav': true }, 'All profiles of this selection')),
    panel.el,
  );
  const controller = new AbortController();
  getJson<RenderAnswer & { profile?: { time: number; labels: Record<string, string> } }>(`/pyroscope/profiles/${encodeURIComponent(id)}`, { query, format: 'json', maxNodes: param('maxNodes') }, controller.signal)
    .then((a) => {
      if (a.profile) title.textContent = `${formatTime(a.profile.time)} · ${Object.entries(a.profile.labels).filter(([k]) => !k.startsWith('__')).map(([k, v]) => `${k}=${v}`).join(', ')}`;
      if (!panel.set(a, splitQuery(query).type)) panel.empty('This profile holds no samples.');
    })
    .catch((err) => {
      if (!controller.signal.aborted) panel.error(err instanceof ApiError ? err.message : String(err));
    });
  return { panel, dispose: () => controller.abort() };
};
