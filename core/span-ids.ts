/**
 * The one spelling of span and trace IDs that storage and queries rely on: lowercase hex,
 * 16 characters for a span, 32 for a trace. Every receiver and processor that turns a label
 * or a link into `Sample.spanId`/`Sample.traceId` goes through these.
 */

export const SPAN_ID_HEX_LENGTH = 16;
export const TRACE_ID_HEX_LENGTH = 32;

/**
 * The pprof label names that Pyroscope itself reads as a sample's span ID: `span_id` (Go's
 * otelpyroscope, pprof.Do) and the older `profile_id` (otel-profiling-go/-java/.NET).
 */
export const PYROSCOPE_SPAN_ID_LABELS: readonly string[] = ['span_id', 'profile_id'];
export const PYROSCOPE_TRACE_ID_LABELS: readonly string[] = ['trace_id'];

/**
 * Hex of any length up to `width`, either case, becomes `width` lowercase characters. Shorter
 * values are left-padded, since Pyroscope parses span IDs as hex integers and some clients
 * print them without leading zeros. Anything else (empty, too long, not hex) is undefined.
 */
export function normalizeHexId(v: string, width: number): string | undefined {
  if (v.length === 0 || v.length > width) return undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) | 0x20;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined;
  }
  return v.toLowerCase().padStart(width, '0');
}

export function normalizeSpanId(v: string): string | undefined {
  return normalizeHexId(v, SPAN_ID_HEX_LENGTH);
}

export function normalizeTraceId(v: string): string | undefined {
  return normalizeHexId(v, TRACE_ID_HEX_LENGTH);
}
