/**
 * Moves span and trace ID labels of a batch into its samples' `spanId`/`traceId` fields.
 *
 * Precedence, most specific first: an ID a sample already has (an OTLP link, or the pprof
 * decoder's reading of `span_id`), then a label of the sample's label set, then a series label,
 * which applies to every sample of the profile. A label whose value is not a valid ID stays where
 * it was, so nothing the client sent is lost, and is counted.
 */
import type { Batch, Labels, Sample } from '../../core/model.ts';
import { normalizeSpanId, normalizeTraceId } from '../../core/span-ids.ts';

export interface IdLabelNames {
  span: ReadonlySet<string>;
  trace: ReadonlySet<string>;
}

export interface InvalidIdCounts {
  span: number;
  trace: number;
}

interface Extracted {
  /** The labels without the valid ID labels; the input object itself when nothing was taken. */
  labels: Labels;
  spanId: string | undefined;
  traceId: string | undefined;
}

function hasIdLabel(labels: Labels, names: IdLabelNames): boolean {
  for (const k in labels) if (names.span.has(k) || names.trace.has(k)) return true;
  return false;
}

/**
 * Takes the valid ID labels out of one label set. When several configured names are present,
 * the first valid one in label order wins and the other valid ones are dropped with it: they
 * describe the same span in another client's spelling.
 */
function extract(labels: Labels, names: IdLabelNames, invalid: InvalidIdCounts): Extracted {
  if (!hasIdLabel(labels, names)) return { labels, spanId: undefined, traceId: undefined };
  const kept: Labels = {};
  let spanId: string | undefined;
  let traceId: string | undefined;
  for (const k of Object.keys(labels)) {
    const v = labels[k];
    if (names.span.has(k)) {
      const id = normalizeSpanId(v);
      if (id !== undefined) {
        spanId ??= id;
        continue;
      }
      invalid.span++;
    } else if (names.trace.has(k)) {
      const id = normalizeTraceId(v);
      if (id !== undefined) {
        traceId ??= id;
        continue;
      }
      invalid.trace++;
    }
    // defineProperty keeps a `__proto__` label a plain own property.
    Object.defineProperty(kept, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return { labels: kept, spanId, traceId };
}

function setKey(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/** Returns the batch itself when it carries no ID labels, else a rewritten copy. */
export function linkSpans(batch: Batch, names: IdLabelNames, invalid: InvalidIdCounts): Batch {
  const { profile } = batch;
  const series = extract(batch.labels, names, invalid);
  const sets = profile.sampleLabelSets.map((set) => extract(set, names, invalid));
  const setsChanged = sets.some((e, i) => e.labels !== profile.sampleLabelSets[i]);
  const seriesIds = series.spanId !== undefined || series.traceId !== undefined;
  if (!setsChanged && !seriesIds) return batch;

  // Label sets that differed only by their IDs are the same set now; index 0 stays the empty set.
  let sampleLabelSets = profile.sampleLabelSets;
  let remap: Int32Array | undefined;
  if (setsChanged) {
    sampleLabelSets = [{}];
    const byKey = new Map<string, number>([[setKey({}), 0]]);
    remap = new Int32Array(sets.length);
    sets.forEach((e, i) => {
      const key = setKey(e.labels);
      let j = byKey.get(key);
      if (j === undefined) {
        j = sampleLabelSets.length;
        sampleLabelSets.push(e.labels);
        byKey.set(key, j);
      }
      remap![i] = j;
    });
  }

  const samples: Sample[] = profile.samples.map((s) => {
    const fromSet = sets[s.labelSet];
    const spanId = s.spanId ?? fromSet?.spanId ?? series.spanId;
    const traceId = s.traceId ?? fromSet?.traceId ?? series.traceId;
    const labelSet = remap ? remap[s.labelSet] ?? 0 : s.labelSet;
    if (spanId === s.spanId && traceId === s.traceId && labelSet === s.labelSet) return s;
    const out: Sample = { ...s, labelSet };
    if (spanId !== undefined) out.spanId = spanId;
    if (traceId !== undefined) out.traceId = traceId;
    return out;
  });

  return { ...batch, labels: series.labels, profile: { ...profile, sampleLabelSets, samples } };
}
