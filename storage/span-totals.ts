/**
 * Per-span profile totals of a trace: a span's self value is what its own samples hold, its
 * total adds everything under it in the span tree.
 */

export interface SpanNode {
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
}

export interface SpanTotal {
  self: number;
  total: number;
}

/**
 * Self and subtree totals per span. A span whose parent is not in the trace (not sent, or
 * the root) heads its own subtree; a cycle in bad data is broken where it is found, so every
 * span is counted once in each of its ancestors' totals.
 */
export function spanTotals(spans: readonly SpanNode[], selfBySpan: ReadonlyMap<string, number>): Map<string, SpanTotal> {
  const out = new Map<string, SpanTotal>();
  for (const s of spans) out.set(s.spanId, { self: selfBySpan.get(s.spanId) ?? 0, total: 0 });
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  for (const s of spans) {
    if (s.parentSpanId && s.parentSpanId !== s.spanId && out.has(s.parentSpanId)) {
      let c = children.get(s.parentSpanId);
      if (!c) children.set(s.parentSpanId, (c = []));
      c.push(s.spanId);
    } else {
      roots.push(s.spanId);
    }
  }
  const done = new Set<string>();
  // Iterative post-order, so a deep trace cannot overflow the stack.
  const visit = (root: string) => {
    const stack: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    done.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const kids = children.get(top.id) ?? [];
      if (top.next < kids.length) {
        const kid = kids[top.next++];
        if (!done.has(kid)) {
          done.add(kid);
          stack.push({ id: kid, next: 0 });
        }
        continue;
      }
      stack.pop();
      const t = out.get(top.id)!;
      t.total += t.self;
      if (stack.length) out.get(stack[stack.length - 1].id)!.total += t.total;
    }
  };
  for (const r of roots) if (!done.has(r)) visit(r);
  // Spans only reachable through a cycle: start from any of them.
  for (const s of spans) if (!done.has(s.spanId)) visit(s.spanId);
  return out;
}
