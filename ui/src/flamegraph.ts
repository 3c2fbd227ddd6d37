/**
 * A flame graph drawn on a canvas: one fill per visible node, nothing per node in the DOM, so
 * that 50,000 nodes stay smooth. Click zooms into a node, search dims what does not match,
 * and a diff tree is colored red (more) and green (less) by each side's share of its total.
 */
import { cssVar, h } from './dom.ts';
import type { FlameNode, FlameTree } from './tree.ts';

const ROW = 18;
/** Nodes narrower than this many pixels are not drawn, nor their children. */
const MIN_WIDTH = 0.35;

export interface FlameOptions {
  /** A name for the graph, under which the page lists it in `window.hearth.flamegraphs`. */
  role: string;
  format: (v: number) => string;
  /** Root at the bottom (a flame) rather than at the top (an icicle). */
  inverted?: boolean;
  onChange?: () => void;
}

interface DrawnNode {
  node: FlameNode;
  x: number;
  y: number;
  w: number;
}

declare global {
  interface Window {
    hearth?: { flamegraphs: Record<string, FlameGraph>; ready?: number; drawnAt?: number };
  }
}

export class FlameGraph {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tooltip: HTMLElement;
  private tree: FlameTree | null = null;
  private focus: FlameNode | null = null;
  private query = '';
  private inverted: boolean;
  private xs = new Map<FlameNode, number>();
  private drawn: DrawnNode[] = [];
  private width = 0;

  constructor(private readonly opts: FlameOptions) {
    this.inverted = opts.inverted ?? false;
    this.canvas = h('canvas', { class: 'flame-canvas', dataset: { role: opts.role } });
    this.tooltip = h('div', { class: 'tooltip', hidden: true });
    this.el = h('div', { class: 'flame' }, this.canvas, this.tooltip);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => (this.tooltip.hidden = true));
    this.canvas.addEventListener('click', (e) => {
      const n = this.nodeAt(e);
      if (n) this.zoom(n.depth === 0 ? null : n);
    });
    new ResizeObserver(() => {
      if (this.el.clientWidth !== this.width) this.draw();
    }).observe(this.el);
    window.hearth ??= { flamegraphs: {} };
    window.hearth.flamegraphs[opts.role] = this;
  }

  setTree(tree: FlameTree | null, redraw = true): void {
    this.tree = tree;
    this.focus = null;
    this.xs = new Map();
    if (tree) this.layout(tree.root, 0);
    if (redraw) this.draw();
  }

  private layout(n: FlameNode, x: number): void {
    this.xs.set(n, x);
    let cx = x;
    for (const c of n.children) {
      this.layout(c, cx);
      cx += c.total;
    }
  }

  /** Nodes in the graph, the root included. */
  get nodeCount(): number {
    return this.tree?.nodeCount ?? 0;
  }

  get zoomed(): FlameNode | null {
    return this.focus;
  }

  zoom(n: FlameNode | null): void {
    this.focus = n;
    this.draw();
    this.opts.onChange?.();
  }

  reset(): void {
    this.zoom(null);
  }

  setInverted(inverted: boolean): void {
    this.inverted = inverted;
    this.draw();
  }

  /** Highlights the functions whose name contains `query`; answers their share of the total. */
  setSearch(query: string, redraw = true): { matched: number; total: number } {
    this.query = query.trim().toLowerCase();
    if (redraw) this.draw();
    return this.matched();
  }

  private matches(n: FlameNode): boolean {
    return this.query !== '' && n.depth > 0 && n.name.toLowerCase().includes(this.query);
  }

  /** The total of the outermost matching nodes, so that recursion is not counted twice. */
  matched(): { matched: number; total: number } {
    const total = this.tree?.root.total ?? 0;
    if (!this.tree || !this.query) return { matched: 0, total };
    let matched = 0;
    const visit = (n: FlameNode) => {
      if (this.matches(n)) {
        matched += n.total;
        return;
      }
      for (const c of n.children) visit(c);
    };
    visit(this.tree.root);
    return { matched, total };
  }

  /** Where the nodes named `name` are drawn, in client coordinates (for tests and tools). */
  rectsOf(name: string): Array<{ x: number; y: number; width: number; height: number }> {
    const box = this.canvas.getBoundingClientRect();
    return this.drawn.filter((d) => d.node.name === name).map((d) => ({ x: box.left + d.x, y: box.top + d.y, width: d.w, height: ROW - 1 }));
  }

  draw(): void {
    const tree = this.tree;
    const width = this.el.clientWidth;
    this.width = width;
    this.drawn = [];
    const dpr = window.devicePixelRatio || 1;
    const height = tree ? (tree.maxDepth + 1) * ROW : 0;
    this.canvas.width = Math.max(1, Math.floor(width * dpr));
    this.canvas.height = Math.max(1, Math.floor(height * dpr));
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    if (!tree || width === 0) return;
    const ctx = this.canvas.getContext('2d')!;
    ctx.scale(dpr, dpr);
    const font = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
    ctx.font = font;
    ctx.textBaseline = 'middle';
    const charWidth = ctx.measureText('M').width;
    const colors = {
      text: cssVar('--flame-text') || '#222',
      dim: cssVar('--flame-dim') || '#ddd',
      dimText: cssVar('--flame-dim-text') || '#888',
      root: cssVar('--flame-root') || '#bbb',
      neutral: cssVar('--diff-neutral') || '#ccc',
      dark: matchMedia('(prefers-color-scheme: dark)').matches,
    };
    const focus = this.focus ?? tree.root;
    const viewX = this.xs.get(focus) ?? 0;
    const scale = width / Math.max(1, focus.total);
    const searching = this.query !== '';
    const stack: FlameNode[] = [tree.root];
    while (stack.length) {
      const n = stack.pop()!;
      const x0 = ((this.xs.get(n) ?? 0) - viewX) * scale;
      const w0 = n.total * scale;
      if (w0 < MIN_WIDTH || x0 + w0 <= 0 || x0 >= width) continue;
      const x = Math.max(0, x0);
      const w = Math.min(width, x0 + w0) - x;
      const y = this.inverted ? (tree.maxDepth - n.depth) * ROW : n.depth * ROW;
      const hit = this.matches(n);
      const dimmed = (searching && !hit) || (n.depth < focus.depth);
      ctx.fillStyle = n.depth === 0 ? colors.root : tree.diff ? diffColor(n, tree, colors.neutral, colors.dark) : dimmed ? colors.dim : nameColor(n.name, colors.dark);
      if (tree.diff && searching && !hit && n.depth > 0) ctx.fillStyle = colors.dim;
      if (!tree.diff && hit) ctx.fillStyle = nameColor(n.name, colors.dark);
      ctx.fillRect(x, y, Math.max(w - (w > 2 ? 0.5 : 0), 0.35), ROW - 1);
      this.drawn.push({ node: n, x, y, w });
      if (w > charWidth * 3) {
        const label = n.depth > 0 ? n.name : tree.diff ? `total (before ${this.opts.format(tree.leftTicks)}, after ${this.opts.format(tree.rightTicks)})` : `${n.name} (${this.opts.format(n.total)})`;
        const max = Math.floor((w - 6) / charWidth);
        const text = label.length > max ? `${label.slice(0, Math.max(0, max - 1))}…` : label;
        ctx.fillStyle = dimmed && !tree.diff && n.depth > 0 ? colors.dimText : colors.text;
        ctx.fillText(text, x + 3, y + ROW / 2);
      }
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
  }

  private nodeAt(e: MouseEvent): FlameNode | null {
    const tree = this.tree;
    if (!tree) return null;
    const box = this.canvas.getBoundingClientRect();
    const px = e.clientX - box.left;
    const row = Math.floor((e.clientY - box.top) / ROW);
    const depth = this.inverted ? tree.maxDepth - row : row;
    if (depth < 0 || depth > tree.maxDepth) return null;
    const focus = this.focus ?? tree.root;
    const tick = (this.xs.get(focus) ?? 0) + (px / box.width) * focus.total;
    let n: FlameNode | undefined = tree.root;
    while (n && n.depth < depth) {
      n = n.children.find((c) => {
        const cx = this.xs.get(c) ?? 0;
        return tick >= cx && tick < cx + c.total;
      });
    }
    return n ?? null;
  }

  private hover(e: MouseEvent): void {
    const n = this.nodeAt(e);
    if (!n || !this.tree) {
      this.tooltip.hidden = true;
      return;
    }
    const f = this.opts.format;
    const total = this.tree.root.total;
    const lines: string[] = [n.name];
    if (this.tree.diff && n.left && n.right) {
      const lt = this.tree.leftTicks || 1;
      const rt = this.tree.rightTicks || 1;
      lines.push(
        `before: ${f(n.left.total)} (${pct(n.left.total / lt)}), self ${f(n.left.self)}`,
        `after: ${f(n.right.total)} (${pct(n.right.total / rt)}), self ${f(n.right.self)}`,
        `change of share: ${signed(pct(n.right.total / rt - n.left.total / lt))}`,
      );
    } else {
      lines.push(`total: ${f(n.total)} (${pct(n.total / (total || 1))})`, `self: ${f(n.self)} (${pct(n.self / (total || 1))})`);
    }
    this.tooltip.textContent = lines.join('\n');
    this.tooltip.hidden = false;
    const box = this.el.getBoundingClientRect();
    const x = e.clientX - box.left + 14;
    this.tooltip.style.left = `${Math.min(x, box.width - 320)}px`;
    this.tooltip.style.top = `${e.clientY - box.top + 14}px`;
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function signed(s: string): string {
  return s.startsWith('-') ? s : `+${s}`;
}

function hash(s: string): number {
  let x = 2166136261;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 16777619);
  return x >>> 0;
}

const colorCache = new Map<string, string>();

/** Warm colors per package, so that one package's frames read as one band. */
function nameColor(name: string, dark: boolean): string {
  const key = dark ? `d${name}` : `l${name}`;
  let c = colorCache.get(key);
  if (c === undefined) {
    if (colorCache.size > 200_000) colorCache.clear();
    colorCache.set(key, (c = computeColor(name, dark)));
  }
  return c;
}

function computeColor(name: string, dark: boolean): string {
  const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('/'), name.lastIndexOf('::'));
  const pkg = cut > 0 ? name.slice(0, cut) : name;
  const hv = hash(pkg);
  const hue = 8 + (hv % 48);
  const sat = 62 + ((hv >> 8) % 20);
  const light = dark ? 38 + ((hv >> 16) % 12) : 62 + ((hv >> 16) % 14);
  return `hsl(${hue} ${sat}% ${light}%)`;
}

/** Red when the node's share of its side grew, green when it shrank, the stronger the larger. */
export function diffColor(n: FlameNode, tree: FlameTree, neutral: string, dark: boolean): string {
  const change = diffChange(n, tree);
  if (Math.abs(change) < 0.05) return neutral;
  const strength = Math.min(1, Math.abs(change));
  const light = dark ? 42 - strength * 12 : 78 - strength * 30;
  return change > 0 ? `hsl(0 85% ${light}%)` : `hsl(130 55% ${light}%)`;
}

/** The change of a node's normalized share, relative to the larger share (−1 … 1). */
export function diffChange(n: FlameNode, tree: FlameTree): number {
  const l = tree.leftTicks ? (n.left?.total ?? 0) / tree.leftTicks : 0;
  const r = tree.rightTicks ? (n.right?.total ?? 0) / tree.rightTicks : 0;
  const top = Math.max(l, r);
  return top === 0 ? 0 : (r - l) / top;
}
