/**
 * A profile panel: search, zoom reset, layout toggle and download above a top table and a
 * flame graph (or, in the sandwich mode, the callers and callees of one function). The explore,
 * diff, profile and trace views all show their flame graph through it.
 */
import type { RenderAnswer } from './api.ts';
import { h, statusBox } from './dom.ts';
import { FlameGraph } from './flamegraph.ts';
import { formatValue, percent, unitOf } from './format.ts';
import { remember, param } from './state.ts';
import { FunctionTable, topColumns, type Column } from './table.ts';
import { callersOf, calleesOf, functionTable, treeOf, type FlameTree } from './tree.ts';

export type PanelMode = 'both' | 'table' | 'flame' | 'sandwich';

export interface PanelOptions {
  /** Offers the sandwich mode (one function's callers and callees). */
  sandwich?: boolean;
  download?: () => Promise<void>;
}

export class ProfilePanel {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly matchInfo: HTMLElement;
  private readonly searchInput: HTMLInputElement;
  private readonly modeSelect: HTMLSelectElement;
  private readonly downloadError: HTMLElement;
  private readonly flame: FlameGraph;
  private callers: FlameGraph | null = null;
  private callees: FlameGraph | null = null;
  private table: FunctionTable | null = null;
  private tree: FlameTree | null = null;
  private unit: ReturnType<typeof unitOf> = 'count';
  private mode: PanelMode;
  private fn = param('fn');

  constructor(private readonly opts: PanelOptions = {}) {
    const format = (v: number) => formatValue(v, this.unit);
    this.flame = new FlameGraph({ role: 'main', format, inverted: param('layout') === 'flame' });
    this.mode = (['both', 'table', 'flame', 'sandwich'].includes(param('view')) ? param('view') : 'both') as PanelMode;
    if (this.mode === 'sandwich' && !opts.sandwich) this.mode = 'both';
    this.searchInput = h('input', { type: 'search', class: 'search', placeholder: 'Search functions  ( / )', 'aria-label': 'Search functions', value: param('search') });
    this.searchInput.addEventListener('input', () => this.search());
    this.matchInfo = h('span', { class: 'match-info', role: 'status' });
    this.modeSelect = h(
      'select',
      { 'aria-label': 'View', onchange: () => this.setMode(this.modeSelect.value as PanelMode) },
      ...(
        [
          ['both', 'Table and flame graph'],
          ['table', 'Top table'],
          ['flame', 'Flame graph'],
          ...(opts.sandwich ? [['sandwich', 'Sandwich']] : []),
        ] as Array<[string, string]>
      ).map(([v, t]) => h('option', { value: v, selected: v === this.mode }, t)),
    );
    const layout = h(
      'button',
      { type: 'button', class: 'layout-toggle', title: 'Root at the top (icicle) or at the bottom (flame)', onclick: () => {
        const flameLayout = param('layout') !== 'flame';
        remember({ layout: flameLayout ? 'flame' : undefined });
        this.flame.setInverted(flameLayout);
        layout.textContent = flameLayout ? 'Icicle layout' : 'Flame layout';
      } },
      param('layout') === 'flame' ? 'Icicle layout' : 'Flame layout',
    );
    this.downloadError = h('span', { class: 'bar-error', role: 'alert', hidden: true });
    const download = opts.download
      ? h('button', { type: 'button', class: 'download', onclick: async () => {
          this.downloadError.hidden = true;
          try {
            await opts.download!();
          } catch (err) {
            this.downloadError.hidden = false;
            this.downloadError.textContent = (err as Error).message;
          }
        } }, 'Download pprof')
      : null;
    this.body = h('div', { class: 'panel-body' });
    this.el = h(
      'section',
      { class: 'panel' },
      h('div', { class: 'toolbar' }, this.searchInput, this.matchInfo, h('span', { class: 'spacer' }), this.modeSelect, layout, h('button', { type: 'button', class: 'reset-zoom', title: 'Esc', onclick: () => this.resetZoom() }, 'Reset zoom'), download, this.downloadError),
      this.body,
    );
    this.body.append(statusBox('loading', 'Loading…'));
  }

  loading(): void {
    this.body.replaceChildren(statusBox('loading', 'Loading…'));
  }

  error(message: string): void {
    this.body.replaceChildren(statusBox('error', message));
  }

  empty(message: string): void {
    this.tree = null;
    this.body.replaceChildren(statusBox('empty', message));
  }

  resetZoom(): void {
    this.flame.reset();
    this.callers?.reset();
    this.callees?.reset();
  }

  focusSearch(): void {
    this.searchInput.focus();
    this.searchInput.select();
  }

  /** Shows a flamebearer answer; false when it holds no samples (the caller shows why). */
  set(answer: RenderAnswer, profileType: string): boolean {
    this.unit = unitOf(profileType || answer.metadata.name);
    const fb = answer.flamebearer;
    const diff = answer.metadata.format === 'double';
    this.tree = treeOf(fb.names, fb.levels, diff, answer.leftTicks ?? 0, answer.rightTicks ?? 0);
    if (!this.tree || this.tree.root.total === 0) return false;
    const format = (v: number) => formatValue(v, this.unit);
    const tree = this.tree;
    const columns: Column[] = diff ? diffColumns(format, tree) : topColumns(format, () => tree.root.total);
    this.table = new FunctionTable({
      role: diff ? 'changes' : 'top',
      columns,
      sortKey: diff ? 'shareChange' : 'self',
      sortAbs: diff,
      onPick: this.opts.sandwich ? (name) => this.sandwichOf(name) : undefined,
    });
    // The tree and the search are set first, so that layout() draws the graph once.
    this.flame.setTree(tree, false);
    this.search(false);
    this.table.set(functionTable(tree));
    this.layout();
    window.hearth!.ready = (window.hearth!.ready ?? 0) + 1;
    // Milliseconds since navigation when the graph was drawn, for the benchmark.
    window.hearth!.drawnAt = performance.now();
    document.body.dataset.ready = String(window.hearth!.ready);
    return true;
  }

  private setMode(mode: PanelMode): void {
    this.mode = mode;
    remember({ view: mode === 'both' ? undefined : mode });
    this.layout();
  }

  private sandwichOf(name: string): void {
    this.fn = name;
    remember({ fn: name });
    this.modeSelect.value = 'sandwich';
    this.setMode('sandwich');
  }

  private layout(): void {
    if (!this.tree || !this.table) return;
    const format = (v: number) => formatValue(v, this.unit);
    if (this.mode === 'sandwich') {
      const fn = this.fn || functionTable(this.tree).sort((a, b) => b.self - a.self)[0]?.name || '';
      this.callers = new FlameGraph({ role: 'callers', format, inverted: true });
      this.callees = new FlameGraph({ role: 'callees', format });
      const side = h(
        'div',
        { class: 'sandwich' },
        h('h3', null, 'Callers of ', h('code', null, fn)),
        this.callers.el,
        h('h3', null, 'Callees of ', h('code', null, fn)),
        this.callees.el,
      );
      this.body.replaceChildren(h('div', { class: 'split' }, this.table.el, side));
      this.callers.setTree(callersOf(this.tree, fn));
      this.callees.setTree(calleesOf(this.tree, fn));
      this.search();
      return;
    }
    this.callers = this.callees = null;
    const parts: HTMLElement[] = [];
    if (this.mode !== 'flame') parts.push(this.table.el);
    if (this.mode !== 'table') parts.push(h('div', { class: 'flame-wrap' }, this.flame.el));
    this.body.replaceChildren(h('div', { class: parts.length === 2 ? (this.tree.diff ? 'split even' : 'split') : 'single' }, ...parts));
    this.flame.draw();
  }

  private search(redraw = true): void {
    const q = this.searchInput.value;
    remember({ search: q || undefined });
    this.table?.setFilter(q);
    const { matched, total } = this.flame.setSearch(q, redraw);
    this.callers?.setSearch(q, redraw);
    this.callees?.setSearch(q, redraw);
    this.matchInfo.textContent = q.trim() && this.tree ? `${formatValue(matched, this.unit)} matched, ${percent(matched, total)} of total` : '';
    this.matchInfo.dataset.matched = String(matched);
  }
}

function diffColumns(format: (v: number) => string, tree: FlameTree): Column[] {
  const lt = tree.leftTicks || 1;
  const rt = tree.rightTicks || 1;
  const shareChange = (r: { leftSelf: number; rightSelf: number }) => r.rightSelf / rt - r.leftSelf / lt;
  const tone = (v: number) => (v > 0 ? 'grew' : v < 0 ? 'shrank' : '');
  return [
    { key: 'name', title: 'Function', value: (r) => r.name, show: (r) => r.name },
    { key: 'leftSelf', title: 'Self before', numeric: true, value: (r) => r.leftSelf, show: (r) => format(r.leftSelf) },
    { key: 'rightSelf', title: 'Self after', numeric: true, value: (r) => r.rightSelf, show: (r) => format(r.rightSelf) },
    { key: 'change', title: 'Change', numeric: true, value: (r) => r.rightSelf - r.leftSelf, show: (r) => sign(format(r.rightSelf - r.leftSelf)), className: (r) => tone(r.rightSelf - r.leftSelf) },
    { key: 'shareChange', title: 'Share change', numeric: true, value: shareChange, show: (r) => sign(percent(shareChange(r), 1)), className: (r) => tone(shareChange(r)) },
  ];
}

function sign(s: string): string {
  return s.startsWith('-') || s.startsWith('0') ? s : `+${s}`;
}
