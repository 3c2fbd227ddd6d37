/**
 * Diff: `/diff?leftQuery=&leftFrom=&leftUntil=&rightQuery=&rightFrom=&rightUntil=`, two
 * selections of one profile type as one flame graph, red where the right side spends a larger
 * share than the left, green where a smaller one, with a table of the biggest changes. With
 * `leftProfile` and `rightProfile` (profile IDs) it compares two stored profiles.
 */
import { ApiError, download, getJson, querier, type RenderAnswer } from '../api.ts';
import { h } from '../dom.ts';
import { ProfilePanel } from '../panel.ts';
import { navigate, param, splitQuery, timeMs } from '../state.ts';
import { selectionBar, type Selection } from '../controls.ts';
import type { View } from './view.ts';

interface DiffResponse {
  flamegraph?: { names: string[]; levels: Array<{ values?: Array<string | number> }>; total: string; maxSelf: string; leftTicks: string; rightTicks: string };
}

export const diffView: View = (root) => {
  const left: Selection = { query: param('leftQuery'), from: param('leftFrom') || 'now-1h', until: param('leftUntil') || 'now' };
  const right: Selection = { query: param('rightQuery'), from: param('rightFrom') || 'now-1h', until: param('rightUntil') || 'now' };
  const leftProfile = param('leftProfile');
  const rightProfile = param('rightProfile');
  const go = (l: Selection, r: Selection) =>
    navigate('/diff', {
      leftQuery: l.query, leftFrom: l.from, leftUntil: l.until,
      rightQuery: r.query || l.query, rightFrom: r.from, rightUntil: r.until,
      leftProfile: l.query === left.query ? leftProfile || undefined : undefined,
      rightProfile: r.query === right.query ? rightProfile || undefined : undefined,
    });
  const panel = new ProfilePanel();
  const problem = h('p', { class: 'bar-error', role: 'alert', hidden: true });
  root.replaceChildren(
    h(
      'div',
      { class: 'diff-bars' },
      selectionBar(left, (s) => go(s, right), { compact: true, label: leftProfile ? `Before: profile ${leftProfile}` : 'Before (left)' }),
      selectionBar(right, (s) => go(left, s), { compact: true, label: rightProfile ? `After: profile ${rightProfile}` : 'After (right)' }),
    ),
    h(
      'p',
      { class: 'legend-line muted' },
      h('span', { class: 'swatch grew' }), ' larger share after ', h('span', { class: 'swatch shrank' }),
      ' smaller share after; shares are of each side\u2019s own total, so the two sides compare even when their totals differ.',
      h('span', { class: 'spacer' }),
      left.query && right.query ? downloadButton('Download before', left, leftProfile, problem) : null,
      left.query && right.query ? downloadButton('Download after', right, rightProfile, problem) : null,
    ),
    problem,
    panel.el,
  );
  if (!left.query || !right.query) {
    panel.empty('Enter the two selections to compare, for example the same service over two time ranges or with two label sets.');
    return { panel };
  }
  const controller = new AbortController();
  const type = splitQuery(left.query).type;
  const answer: Promise<RenderAnswer> =
    leftProfile || rightProfile
      ? profileDiff(left, right, leftProfile, rightProfile, controller.signal)
      : getJson<RenderAnswer>('/pyroscope/render-diff', {
          leftQuery: left.query, leftFrom: left.from, leftUntil: left.until,
          rightQuery: right.query, rightFrom: right.from, rightUntil: right.until,
          maxNodes: param('maxNodes'),
        }, controller.signal);
  answer
    .then((a) => {
      if (!panel.set(a, type)) panel.empty('Neither selection holds any samples in its time range.');
    })
    .catch((err) => {
      if (!controller.signal.aborted) panel.error(err instanceof ApiError ? err.message : String(err));
    });
  return { panel, dispose: () => controller.abort() };
};

/** Two stored profiles through querier.v1 Diff, narrowed by their profile IDs. */
async function profileDiff(left: Selection, right: Selection, leftId: string, rightId: string, signal: AbortSignal): Promise<RenderAnswer> {
  const side = (s: Selection, id: string) => {
    const { type, matchers } = splitQuery(s.query);
    return {
      profileTypeID: type,
      labelSelector: `{${matchers}}`,
      start: String(Math.floor(timeMs(s.from))),
      end: String(Math.ceil(timeMs(s.until))),
      profileIdSelector: id ? [id] : [],
    };
  };
  const r = await querier<DiffResponse>('Diff', { left: side(left, leftId), right: side(right, rightId) }, signal);
  const fg = r.flamegraph;
  if (!fg) return emptyDiff();
  return {
    flamebearer: { names: fg.names, levels: fg.levels.map((l) => (l.values ?? []).map(Number)), numTicks: Number(fg.total), maxSelf: Number(fg.maxSelf) },
    metadata: { format: 'double', units: '', name: splitQuery(left.query).type },
    leftTicks: Number(fg.leftTicks),
    rightTicks: Number(fg.rightTicks),
    timeline: null,
    groups: null,
  };
}

function emptyDiff(): RenderAnswer {
  return { flamebearer: { names: [], levels: [], numTicks: 0, maxSelf: 0 }, metadata: { format: 'double', units: '', name: '' }, timeline: null, groups: null };
}


/** Saves one side as pprof: the merged selection, or the one stored profile it names. */
function downloadButton(label: string, s: Selection, profileId: string, problem: HTMLElement): HTMLElement {
  return h('button', { type: 'button', class: 'download', onclick: async () => {
    problem.hidden = true;
    try {
      if (profileId) await download(`/pyroscope/profiles/${encodeURIComponent(profileId)}`, { query: s.query, format: 'pprof' }, `${profileId}.pb.gz`);
      else await download('/pyroscope/pprof', { query: s.query, from: s.from, until: s.until }, 'profile.pb.gz');
    } catch (err) {
      problem.hidden = false;
      problem.textContent = err instanceof ApiError ? err.message : String(err);
    }
  } }, label);
}
