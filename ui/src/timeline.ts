/**
 * Totals over time on a canvas, one line per group, with a brush: dragging across it picks a
 * narrower range.
 */
import { cssVar, h } from './dom.ts';
import type { Timeline } from './api.ts';
import { formatTime } from './format.ts';

const HEIGHT = 110;
const PALETTE = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599', '#c2255c', '#5c940d', '#3b5bdb', '#868e96'];

export interface TimelineOptions {
  format: (v: number) => string;
  /** Called with the brushed range in Unix milliseconds. */
  onBrush: (fromMs: number, untilMs: number) => void;
}

export class TimelineChart {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLElement;
  private series: Array<{ name: string; t: Timeline }> = [];
  private drag: { x0: number; x1: number } | null = null;

  constructor(private readonly opts: TimelineOptions) {
    this.canvas = h('canvas', { class: 'timeline-canvas', title: 'Drag to narrow the time range' });
    this.legend = h('div', { class: 'legend' });
    this.el = h('div', { class: 'timeline' }, this.canvas, this.legend);
    this.canvas.addEventListener('mousedown', (e) => {
      const x = this.xOf(e);
      this.drag = { x0: x, x1: x };
      const move = (m: MouseEvent) => {
        if (!this.drag) return;
        this.drag.x1 = this.xOf(m);
        this.draw();
      };
      const up = () => {
        window.removeEventListener('mousemove', move);
        window.removeEventListener('mouseup', up);
        const d = this.drag;
        this.drag = null;
        this.draw();
        if (d && Math.abs(d.x1 - d.x0) > 3) {
          const [a, b] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)];
          this.opts.onBrush(Math.round(this.timeAt(a)), Math.round(this.timeAt(b)));
        }
      };
      window.addEventListener('mousemove', move);
      window.addEventListener('mouseup', up);
    });
    new ResizeObserver(() => this.draw()).observe(this.el);
  }

  set(main: Timeline | null, groups: Record<string, Timeline> | null): void {
    this.series = [];
    if (groups && Object.keys(groups).length) {
      for (const [name, t] of Object.entries(groups)) if (name !== '*') this.series.push({ name, t });
    } else if (main) {
      this.series.push({ name: '', t: main });
    }
    this.legend.replaceChildren(
      ...this.series.filter((s) => s.name).map((s, i) => h('span', { class: 'legend-item' }, h('i', { style: { background: PALETTE[i % PALETTE.length] } }), s.name)),
    );
    this.draw();
  }

  private range(): { start: number; end: number } {
    const t = this.series[0]?.t;
    if (!t) return { start: 0, end: 1 };
    return { start: t.startTime * 1000, end: (t.startTime + t.samples.length * t.durationDelta) * 1000 };
  }

  /** The pointer's x on the chart, held to its edges so a drag past them stops at the range's ends. */
  private xOf(e: MouseEvent): number {
    const box = this.canvas.getBoundingClientRect();
    return Math.min(box.width, Math.max(0, e.clientX - box.left));
  }

  private timeAt(x: number): number {
    const { start, end } = this.range();
    return start + (x / Math.max(1, this.canvas.clientWidth)) * (end - start);
  }

  draw(): void {
    const width = this.el.clientWidth;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, width * dpr);
    this.canvas.height = HEIGHT * dpr;
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${HEIGHT}px`;
    const ctx = this.canvas.getContext('2d')!;
    ctx.scale(dpr, dpr);
    const text = cssVar('--muted') || '#666';
    const grid = cssVar('--border') || '#ddd';
    const top = 14;
    const bottom = HEIGHT - 18;
    let max = 0;
    for (const s of this.series) for (const v of s.t.samples) max = Math.max(max, v);
    ctx.strokeStyle = grid;
    ctx.beginPath();
    ctx.moveTo(0, bottom + 0.5);
    ctx.lineTo(width, bottom + 0.5);
    ctx.stroke();
    ctx.fillStyle = text;
    ctx.font = '11px system-ui, sans-serif';
    const { start, end } = this.range();
    if (this.series.length) {
      ctx.textBaseline = 'top';
      ctx.fillText(`max ${this.opts.format(max)}`, 4, 1);
      ctx.textBaseline = 'bottom';
      for (let i = 0; i <= 4; i++) {
        const x = (i / 4) * width;
        const label = formatTime(start + (i / 4) * (end - start)).slice(5);
        const w = ctx.measureText(label).width;
        ctx.fillText(label, Math.min(Math.max(0, x - w / 2), width - w), HEIGHT - 2);
      }
    }
    this.series.forEach((s, i) => {
      const n = s.t.samples.length;
      const color = PALETTE[i % PALETTE.length];
      const xAt = (j: number) => ((j + 0.5) / n) * width;
      const yAt = (v: number) => bottom - (max ? (v / max) * (bottom - top) : 0);
      ctx.beginPath();
      s.t.samples.forEach((v, j) => (j === 0 ? ctx.moveTo(xAt(j), yAt(v)) : ctx.lineTo(xAt(j), yAt(v))));
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      if (this.series.length === 1) {
        ctx.lineTo(xAt(n - 1), bottom);
        ctx.lineTo(xAt(0), bottom);
        ctx.closePath();
        ctx.globalAlpha = 0.18;
        ctx.fillStyle = color;
        ctx.fill();
        ctx.globalAlpha = 1;
      }
    });
    if (this.drag) {
      ctx.fillStyle = cssVar('--accent') || '#1c7ed6';
      ctx.globalAlpha = 0.2;
      ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), 0, Math.abs(this.drag.x1 - this.drag.x0), HEIGHT);
      ctx.globalAlpha = 1;
    }
  }
}
