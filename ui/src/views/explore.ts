/**
 * Explore: `/?query=<profile type>{<matchers>}&from=&until=&groupBy=`. The selection bar, the
 * timeline (brush to narrow, one line per value of `groupBy`) and the profile panel.
 */
import { ApiError, download, getJson, querier, type RenderAnswer } from '../api.ts';
import { h, statusBox } from '../dom.ts';
import { formatValue, unitOf } from '../format.ts';
import { ProfilePanel } from '../panel.ts';
import { navigate, param, splitQuery, update } from '../state.ts';
import { selectionBar } from '../controls.ts';
import { TimelineChart } from '../timeline.ts';
import type { View } from './view.ts';

/** The CPU type first, as most people come to see CPU time. */
const PREFERRED = ['process_cpu:cpu:nanoseconds:cpu:nanoseconds', 'wall:wall:nanoseconds:wall:nanoseconds'];

export const exploreView: View = (root) => {
  const query = param('query');
  const from = param('from') || 'now-1h';
  const until = param('until') || 'now';
  if (!query) {
    void pickDefault(root, from, until);
    return {};
  }
  const groupBy = param('groupBy');
  const maxNodes = param('maxNodes');
  const type = splitQuery(query).type;
  const unit = unitOf(type);
  const format = (v: number) => formatValue(v, unit);
  const panel = new ProfilePanel({
    sandwich: true,
    download: () => download('/pyroscope/pprof', { query, from, until }, 'profile.pb.gz'),
  });
  const timeline = new TimelineChart({
    format,
    onBrush: (a, b) => update({ from: String(a), until: String(b) }),
  });
  const groupSelect = h('select', { 'aria-label': 'Group the timeline by', class: 'group-by', onchange: () => update({ groupBy: groupSelect.value || undefined }) },
    h('option', { value: '' }, 'No grouping'),
    groupBy ? h('option', { value: groupBy, selected: true }, `by ${groupBy}`) : null,
  );
  const controller = new AbortController();
  const rendered = getJson<RenderAnswer>('/pyroscope/render', { query, from, until, groupBy, maxNodes }, controller.signal);
  // The lists of the pickers are asked for once the flame graph's query is answered.
  const settled = rendered.catch(() => undefined);
  void settled
    .then(() => querier<{ names?: string[] }>('LabelNames', { matchers: [`{__profile_type__=${JSON.stringify(type)}}`], start: String(Date.now() - 30 * 86_400_000), end: '0' }))
    .then((r) => {
      const names = (r.names ?? []).filter((n) => !n.startsWith('__') && n !== groupBy);
      groupSelect.append(...names.map((n) => h('option', { value: n }, `by ${n}`)));
    })
    .catch(() => {
      // The grouping list is a convenience; the render below reports API errors.
    });
  const timelineBox = h('section', { class: 'timeline-box' }, h('div', { class: 'section-head' }, h('h2', null, 'Timeline'), h('span', { class: 'muted' }, 'drag to zoom into a range'), h('span', { class: 'spacer' }), groupSelect), timeline.el);
  root.replaceChildren(
    selectionBar({ query, from, until }, (s) => navigate('/', { query: s.query, from: s.from, until: s.until, groupBy: groupBy || undefined, maxNodes: maxNodes || undefined }), { after: settled }),
    timelineBox,
    panel.el,
  );
  rendered
    .then((answer) => {
      timeline.set(answer.timeline, answer.groups);
      if (!panel.set(answer, type)) panel.empty(`No data matches ${query} in this time range.`);
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      timeline.set(null, null);
      panel.error(err instanceof ApiError ? err.message : String(err));
    });
  return { panel, dispose: () => controller.abort() };
};

async function pickDefault(root: HTMLElement, from: string, until: string): Promise<void> {
  root.replaceChildren(statusBox('loading', 'Looking for profiles…'));
  try {
    const range = { start: String(Date.now() - 30 * 86_400_000), end: '0' };
    const types = (await querier<{ profileTypes?: Array<{ ID: string }> }>('ProfileTypes', range)).profileTypes?.map((t) => t.ID) ?? [];
    if (!types.length) {
      root.replaceChildren(
        statusBox('empty', 'No profiles are stored for this tenant yet.'),
        h('p', { class: 'muted center' }, 'Send profiles to /ingest (Pyroscope SDKs, Grafana Alloy) or over OTLP, then reload this page.'),
      );
      return;
    }
    const type = PREFERRED.find((t) => types.includes(t)) ?? types.sort()[0];
    const services = (await querier<{ names?: string[] }>('LabelValues', { name: 'service_name', matchers: [`{__profile_type__=${JSON.stringify(type)}}`], ...range })).names ?? [];
    const query = services.length ? `${type}{service_name=${JSON.stringify(services[0])}}` : `${type}{}`;
    navigate('/', { query, from, until }, true);
  } catch (err) {
    root.replaceChildren(statusBox('error', err instanceof ApiError ? err.message : String(err)));
  }
}
