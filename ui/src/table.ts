/**
 * Sortable tables of functions: the top table (self and total) and the diff's biggest
 * changes. Cells carry their raw value in `data-value`, so that what is shown formatted can
 * be read back exactly.
 */
import { h } from './dom.ts';
import { percent } from './format.ts';
import type { FunctionRow } from './tree.ts';

/** Rows beyond this are summarized: the table is for reading, the flame graph for everything. */
const MAX_ROWS = 500;

export interface Column {
  key: string;
  title: string;
  value: (r: FunctionRow) => number | string;
  show: (r: FunctionRow) => string;
  numeric?: boolean;
  className?: (r: FunctionRow) => string;
}

export interface TableOptions {
  role: string;
  columns: Column[];
  sortKey: string;
  /** Orders by the absolute value (for changes, where large decreases matter as much). */
  sortAbs?: boolean;
  onPick?: (name: string) => void;
}

export class FunctionTable {
  readonly el: HTMLElement;
  private rows: FunctionRow[] = [];
  private filter = '';
  private sortKey: string;
  private desc = true;

  constructor(private readonly opts: TableOptions) {
    this.sortKey = opts.sortKey;
    this.el = h('div', { class: 'table-wrap', dataset: { role: opts.role } });
  }

  set(rows: FunctionRow[]): void {
    this.rows = rows;
    this.render();
  }

  setFilter(filter: string): void {
    this.filter = filter.trim().toLowerCase();
    if (this.rows.length) this.render();
  }

  private render(): void {
    const col = this.opts.columns.find((c) => c.key === this.sortKey) ?? this.opts.columns[0];
    const key = (r: FunctionRow) => {
      const v = col.value(r);
      return typeof v === 'number' && this.opts.sortAbs && col.numeric ? Math.abs(v) : v;
    };
    const rows = this.rows.filter((r) => !this.filter || r.name.toLowerCase().includes(this.filter));
    rows.sort((a, b) => {
      const x = key(a);
      const y = key(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return (this.desc ? -c : c) || a.name.localeCompare(b.name);
    });
    const head = h(
      'tr',
      null,
      ...this.opts.columns.map((c) =>
        h(
          'th',
          {
            class: c.numeric ? 'num sortable' : 'sortable',
            'aria-sort': c.key === this.sortKey ? (this.desc ? 'descending' : 'ascending') : 'none',
            onclick: () => {
              if (this.sortKey === c.key) this.desc = !this.desc;
              else {
                this.sortKey = c.key;
                this.desc = c.numeric ?? false;
              }
              this.render();
            },
          },
          c.title,
          c.key === this.sortKey ? (this.desc ? ' ▾' : ' ▴') : '',
        ),
      ),
    );
    const body = rows.slice(0, MAX_ROWS).map((r) =>
      h(
        'tr',
        { dataset: { name: r.name }, title: this.opts.onPick ? 'Show callers and callees (sandwich)' : undefined, onclick: () => this.opts.onPick?.(r.name) },
        ...this.opts.columns.map((c) => h('td', { class: `${c.numeric ? 'num' : 'name'} ${c.className?.(r) ?? ''}`.trim(), dataset: { col: c.key, value: String(c.value(r)) } }, c.show(r))),
      ),
    );
    const note = rows.length > MAX_ROWS ? h('p', { class: 'muted' }, `Showing ${MAX_ROWS} of ${rows.length} functions; search to narrow.`) : null;
    const empty = rows.length === 0 ? h('p', { class: 'muted' }, this.filter ? 'No function matches the search.' : 'No functions.') : null;
    this.el.replaceChildren(h('table', { class: 'functions' }, h('thead', null, head), h('tbody', null, ...body)), note ?? '', empty ?? '');
  }
}

/** The columns of the top table. */
export function topColumns(format: (v: number) => string, grandTotal: () => number): Column[] {
  return [
    { key: 'name', title: 'Function', value: (r) => r.name, show: (r) => r.name },
    { key: 'self', title: 'Self', numeric: true, value: (r) => r.self, show: (r) => format(r.self) },
    { key: 'selfShare', title: 'Self %', numeric: true, value: (r) => r.self / (grandTotal() || 1), show: (r) => percent(r.self, grandTotal()) },
    { key: 'total', title: 'Total', numeric: true, value: (r) => r.total, show: (r) => format(r.total) },
    { key: 'totalShare', title: 'Total %', numeric: true, value: (r) => r.total / (grandTotal() || 1), show: (r) => percent(r.total, grandTotal()) },
  ];
}
