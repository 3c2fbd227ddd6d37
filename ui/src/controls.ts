/**
 * The selection bar: profile type and service pickers, the query itself, label filters with
 * names and values suggested by LabelNames and LabelValues, and the time range.
 */
import { ApiError, querier } from './api.ts';
import { h } from './dom.ts';
import { apiTime, matcherList, matcherValue, splitQuery, timeMs, withMatcher, withoutMatcher, withType } from './state.ts';

export interface Selection {
  query: string;
  from: string;
  until: string;
}

const PRESETS: Array<[string, string]> = [
  ['now-5m', 'Last 5 minutes'],
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last hour'],
  ['now-6h', 'Last 6 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

interface ProfileType {
  ID: string;
  name?: string;
  sampleType?: string;
}

/** The range the pickers read: at least the last 30 days, so that a service shows before its data is in range. */
function pickerRange(from: string): { start: string; end: string } {
  const start = Math.min(timeMs(from) || Date.now(), Date.now() - 30 * 86_400_000);
  return { start: String(Math.floor(start)), end: '0' };
}

let listIds = 0;

/**
 * `opts.after`: the pickers ask for their lists once it settles, so that the view's main query
 * is not slowed by them.
 */
export function selectionBar(sel: Selection, onApply: (s: Selection) => void, opts: { compact?: boolean; label?: string; after?: Promise<unknown> } = {}): HTMLElement {
  const id = ++listIds;
  const range = pickerRange(sel.from);
  const problem = h('div', { class: 'bar-error', role: 'alert', hidden: true });
  const showProblem = (err: unknown) => {
    problem.hidden = false;
    problem.textContent = err instanceof ApiError ? err.message : String(err);
  };
  const queryInput = h('input', { class: 'query-input', type: 'text', value: sel.query, spellcheck: false, 'aria-label': 'Query', placeholder: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="…"}' });
  const fromInput = h('input', { class: 'time-input', type: 'text', value: sel.from || 'now-1h', 'aria-label': 'From', title: 'now-1h, a Unix time, YYYYMMDD or a date such as 2026-11-30 08:00' });
  const untilInput = h('input', { class: 'time-input', type: 'text', value: sel.until || 'now', 'aria-label': 'Until', title: 'now, a Unix time, YYYYMMDD or a date such as 2026-11-30 08:00' });
  const apply = () => onApply({ query: queryInput.value.trim(), from: apiTime(fromInput.value), until: apiTime(untilInput.value) });
  for (const input of [queryInput, fromInput, untilInput]) input.addEventListener('keydown', (e) => e.key === 'Enter' && apply());

  const preset = h(
    'select',
    { 'aria-label': 'Time range', onchange: () => {
      if (!preset.value) return;
      fromInput.value = preset.value;
      untilInput.value = 'now';
      apply();
    } },
    h('option', { value: '' }, 'Custom range'),
    ...PRESETS.map(([v, label]) => h('option', { value: v, selected: sel.from === v && (sel.until || 'now') === 'now' }, label)),
  );

  const typeSelect = h('select', { 'aria-label': 'Profile type', class: 'type-select', onchange: () => {
    queryInput.value = withType(queryInput.value, typeSelect.value);
    apply();
  } });
  const serviceSelect = h('select', { 'aria-label': 'Service', class: 'service-select', onchange: () => {
    queryInput.value = withMatcher(queryInput.value, 'service_name', '=', serviceSelect.value);
    apply();
  } });
  const current = splitQuery(sel.query);
  typeSelect.append(h('option', { value: current.type }, current.type || 'Profile type'));
  const currentService = matcherValue(sel.query, 'service_name');
  serviceSelect.append(h('option', { value: currentService }, currentService || 'Service'));

  const after = (opts.after ?? Promise.resolve()).catch(() => undefined);
  void after
    .then(() => querier<{ profileTypes?: ProfileType[] }>('ProfileTypes', range))
    .then((r) => {
      const ids = (r.profileTypes ?? []).map((t) => t.ID).sort();
      if (current.type && !ids.includes(current.type)) ids.unshift(current.type);
      typeSelect.replaceChildren(...ids.map((t) => h('option', { value: t, selected: t === current.type }, t)));
    })
    .catch(showProblem);
  if (current.type) {
    void after
      .then(() => querier<{ names?: string[] }>('LabelValues', { name: 'service_name', matchers: [`{__profile_type__=${JSON.stringify(current.type)}}`], ...range }))
      .then((r) => {
        const names = r.names ?? [];
        if (currentService && !names.includes(currentService)) names.unshift(currentService);
        serviceSelect.replaceChildren(...(currentService ? [] : [h('option', { value: '' }, 'Service')]), ...names.map((s) => h('option', { value: s, selected: s === currentService }, s)));
      })
      .catch(showProblem);
  }

  // Label filters: the matchers of the query other than the service, and a row to add one.
  const chips = h(
    'div',
    { class: 'chips' },
    ...matcherList(current.matchers)
      .filter((m) => !(m.name === 'service_name' && m.op === '='))
      .map((m) =>
        h('span', { class: 'chip' }, m.text, h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${m.text}`, onclick: () => {
          queryInput.value = withoutMatcher(queryInput.value, m.text);
          apply();
        } }, '×')),
      ),
  );
  const namesList = h('datalist', { id: `label-names-${id}` });
  const valuesList = h('datalist', { id: `label-values-${id}` });
  const labelName = h('input', { class: 'label-name', type: 'text', list: namesList.id, placeholder: 'label', 'aria-label': 'Label name', autocomplete: 'off' });
  const labelOp = h('select', { 'aria-label': 'Operator' }, ...['=', '!=', '=~', '!~'].map((o) => h('option', { value: o }, o)));
  const labelValue = h('input', { class: 'label-value', type: 'text', list: valuesList.id, placeholder: 'value', 'aria-label': 'Label value', autocomplete: 'off' });
  const addFilter = () => {
    if (!labelName.value.trim()) return;
    queryInput.value = withMatcher(queryInput.value, labelName.value.trim(), labelOp.value, labelValue.value);
    apply();
  };
  labelValue.addEventListener('keydown', (e) => e.key === 'Enter' && addFilter());
  const selector = `{__profile_type__=${JSON.stringify(current.type)}${currentService ? `, service_name=${JSON.stringify(currentService)}` : ''}}`;
  let namesLoaded = false;
  labelName.addEventListener('focus', () => {
    if (namesLoaded || !current.type) return;
    namesLoaded = true;
    void querier<{ names?: string[] }>('LabelNames', { matchers: [selector], ...range })
      .then((r) => namesList.replaceChildren(...(r.names ?? []).filter((n) => !n.startsWith('__')).map((n) => h('option', { value: n }))))
      .catch(showProblem);
  });
  let valuesFor = '';
  const loadValues = () => {
    const name = labelName.value.trim();
    if (!name || name === valuesFor || !current.type) return;
    valuesFor = name;
    void querier<{ names?: string[] }>('LabelValues', { name, matchers: [selector], ...range })
      .then((r) => valuesList.replaceChildren(...(r.names ?? []).map((n) => h('option', { value: n }))))
      .catch(showProblem);
  };
  labelName.addEventListener('change', loadValues);
  labelValue.addEventListener('focus', loadValues);

  return h(
    'div',
    { class: `selection-bar${opts.compact ? ' compact' : ''}` },
    opts.label ? h('div', { class: 'bar-label' }, opts.label) : null,
    h('div', { class: 'bar-row' }, opts.compact ? null : typeSelect, opts.compact ? null : serviceSelect, h('span', { class: 'spacer' }), preset, fromInput, h('span', { class: 'muted' }, '→'), untilInput, h('button', { type: 'button', class: 'primary', onclick: apply }, 'Apply')),
    h('div', { class: 'bar-row' }, queryInput),
    opts.compact
      ? null
      : h('div', { class: 'bar-row filters' }, chips, labelName, labelOp, labelValue, h('button', { type: 'button', onclick: addFilter }, 'Add filter'), namesList, valuesList),
    problem,
  );
}
