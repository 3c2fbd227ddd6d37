/**
 * Trace: `/trace/<traceId>?profileType=`. The trace's spans as a tree with each span's self and
 * total of the chosen profile type and its share of the trace's total, then the flame graph of
 * everything the trace ran.
 */
import { ApiError, getJson, type RenderAnswer } from '../api.ts';
import { h, statusBox } from '../dom.ts';
import { formatValue, percent, unitOf } from '../format.ts';
import { ProfilePanel } from '../panel.ts';
import { navigate, param, update } from '../state.ts';
import type { View } from './view.ts';

interface TraceSpan {
  spanId: string;
  parentSpanId: string;
  service: string;
  name: string;
  startTimeUnixNano: string;
  durationNanos: string;
  profiles: Record<string, { self: number; total: number }>;
}

interface TraceAnswer {
  traceId: string;
  profileTypes: Array<{ id: string; total: number; unattributed: number }>;
  spans: TraceSpan[];
}

export const traceView: View = (root) => {
  const traceId = decodeURIComponent(location.pathname.split('/')[2] ?? '').trim();
  const input = h('input', { type: 'text', class: 'trace-input', value: traceId, placeholder: 'trace ID (32 hex digits)', 'aria-label': 'Trace ID', spellcheck: false });
  const open = () => input.value.trim() && navigate(`/trace/${encodeURIComponent(input.value.trim())}`, {});
  input.addEventListener('keydown', (e) => e.key === 'Enter' && open());
  const spansBox = h('section', { class: 'spans' });
  const panel = new ProfilePanel();
  root.replaceChildren(h('div', { class: 'bar-row selection-bar' }, h('strong', null, 'Trace'), input, h('button', { type: 'button', class: 'primary', onclick: open }, 'Open')), spansBox, panel.el);
  if (!traceId) {
    spansBox.append(statusBox('empty', 'Paste a trace ID to see its spans and what they ran.'));
    panel.el.hidden = true;
    return {};
  }
  spansBox.append(statusBox('loading', 'Loading…'));
  const controller = new AbortController();
  getJson<TraceAnswer>(`/api/v1/traces/${encodeURIComponent(traceId)}`, {}, controller.signal)
    .then((t) => {
      const types = t.profileTypes.map((p) => p.id);
      const preferred = param('profileType');
      const type = types.includes(preferred) ? preferred : types.find((x) => x.startsWith('process_cpu:cpu:')) ?? types[0];
      spansBox.replaceChildren(spanTable(t, type));
      if (!type) {
        panel.empty('No profile samples are linked to this trace.');
        return;
      }
      return getJson<RenderAnswer>(`/api/v1/traces/${encodeURIComponent(traceId)}/flamegraph`, { profile_type: type, maxNodes: param('maxNodes') }, controller.signal).then((a) => {
        if (!panel.set(a, type)) panel.empty('No profile samples are linked to this trace.');
      });
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      const message = err instanceof ApiError ? err.message : String(err);
      spansBox.replaceChildren(statusBox('error', message));
      panel.el.hidden = true;
    });
  return { panel, dispose: () => controller.abort() };
};

function spanTable(t: TraceAnswer, type: string | undefined): HTMLElement {
  const typeTotal = t.profileTypes.find((p) => p.id === type)?.total ?? 0;
  const format = (v: number) => formatValue(v, unitOf(type ?? ''));
  const byParent = new Map<string, TraceSpan[]>();
  const ids = new Set(t.spans.map((s) => s.spanId));
  for (const s of t.spans) {
    // A span whose parent was not stored heads its own subtree.
    const parent = ids.has(s.parentSpanId) ? s.parentSpanId : '';
    byParent.set(parent, [...(byParent.get(parent) ?? []), s]);
  }
  const starts = t.spans.map((s) => BigInt(s.startTimeUnixNano));
  const t0 = starts.length ? starts.reduce((a, b) => (b < a ? b : a)) : 0n;
  const ends = t.spans.map((s) => BigInt(s.startTimeUnixNano) + BigInt(s.durationNanos));
  const span = Math.max(1, Number((ends.length ? ends.reduce((a, b) => (b > a ? b : a)) : 0n) - t0));
  // Where each span sits in the trace, as a bar across the trace's duration.
  const waterfall = (s: TraceSpan) =>
    h('span', { class: 'waterfall' }, h('span', { style: { left: `${(100 * Number(BigInt(s.startTimeUnixNano) - t0)) / span}%`, width: `${Math.max(0.3, (100 * Number(s.durationNanos)) / span)}%` } }));
  const ms = (ns: bigint) => `${(Number(ns) / 1e6).toFixed(1)} ms`;
  const rows: HTMLElement[] = [];
  const visit = (parent: string, depth: number) => {
    const children = (byParent.get(parent) ?? []).sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
    for (const s of children) {
      const v = (type && s.profiles[type]) || { self: 0, total: 0 };
      rows.push(
        h(
          'tr',
          { dataset: { spanId: s.spanId } },
          h('td', { class: 'name', style: { paddingLeft: `${0.5 + depth * 1.2}em` } }, s.name),
          h('td', null, s.service),
          h('td', { class: 'num' }, ms(BigInt(s.startTimeUnixNano) - t0)),
          h('td', { class: 'num' }, ms(BigInt(s.durationNanos))),
          h('td', { class: 'waterfall-cell' }, waterfall(s)),
          h('td', { class: 'num', dataset: { col: 'self', value: String(v.self) } }, format(v.self)),
          h('td', { class: 'num', dataset: { col: 'total', value: String(v.total) } }, format(v.total)),
          h('td', { class: 'num share', dataset: { col: 'share' } }, h('span', { class: 'bar', style: { width: `${typeTotal ? (100 * v.total) / typeTotal : 0}%` } }), percent(v.total, typeTotal)),
        ),
      );
      visit(s.spanId, depth + 1);
    }
  };
  visit('', 0);
  const picker = h(
    'select',
    { 'aria-label': 'Profile type', onchange: () => update({ profileType: picker.value }) },
    ...t.profileTypes.map((p) => h('option', { value: p.id, selected: p.id === type }, p.id)),
  );
  const unattributed = t.profileTypes.find((p) => p.id === type)?.unattributed ?? 0;
  return h(
    'div',
    null,
    h('div', { class: 'section-head' }, h('h2', null, `${t.spans.length} spans`), h('span', { class: 'muted' }, type ? `${format(typeTotal)} in total${unattributed ? `, ${format(unattributed)} in no stored span` : ''}` : 'no linked profile samples'), h('span', { class: 'spacer' }), t.profileTypes.length ? picker : null),
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { class: 'functions spans-table' }, h('thead', null, h('tr', null, ...['Span', 'Service', 'Start', 'Duration', '', 'Self', 'Total', 'Share'].map((c, i) => h('th', { class: i >= 2 && i !== 4 ? 'num' : '' }, c)))), h('tbody', null, ...rows)),
    ),
  );
}
