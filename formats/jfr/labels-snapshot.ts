/**
 * pyroscope-java's LabelsSnapshot, sent as the `labels` part next to a JFR: the dynamic labels
 * of each context ID that the profiler wrote on its events, with every label name and value
 * interned in a string table.
 *
 *   message LabelsSnapshot { map<int64, Context> contexts = 1; map<int64, string> strings = 2; }
 *   message Context        { map<int64, int64> labels = 1; }
 */
import { ProtoReader, WIRE_LEN, WIRE_VARINT } from '../protobuf/reader.ts';
import { JfrError } from './errors.ts';

export interface LabelsSnapshot {
  /** Context ID → (label-name string ID → label-value string ID). */
  contexts: Map<number, Map<number, number>>;
  strings: Map<number, string>;
}

export function emptyLabelsSnapshot(): LabelsSnapshot {
  return { contexts: new Map(), strings: new Map() };
}

export function decodeLabelsSnapshot(bytes: Uint8Array): LabelsSnapshot {
  const out = emptyLabelsSnapshot();
  try {
    const r = new ProtoReader(bytes);
    while (!r.eof()) {
      const key = r.tag();
      if (key === ((1 << 3) | WIRE_LEN)) {
        const end = r.delimited();
        let id = 0;
        let labels = new Map<number, number>();
        while (r.pos < end) {
          const k = r.tag();
          if (k === ((1 << 3) | WIRE_VARINT)) id = r.int64();
          else if (k === ((2 << 3) | WIRE_LEN)) labels = readContext(r, r.delimited());
          else r.skipField(k);
        }
        entryEnds(r, end);
        out.contexts.set(id, labels);
      } else if (key === ((2 << 3) | WIRE_LEN)) {
        const end = r.delimited();
        let id = 0;
        let value = '';
        while (r.pos < end) {
          const k = r.tag();
          if (k === ((1 << 3) | WIRE_VARINT)) id = r.int64();
          else if (k === ((2 << 3) | WIRE_LEN)) value = r.string();
          else r.skipField(k);
        }
        entryEnds(r, end);
        out.strings.set(id, value);
      } else {
        r.skipField(key);
      }
    }
  } catch (err) {
    if (err instanceof JfrError) throw err;
    throw new JfrError(`the labels part is not a LabelsSnapshot: ${(err as Error).message}`);
  }
  return out;
}

function readContext(r: ProtoReader, end: number): Map<number, number> {
  const labels = new Map<number, number>();
  while (r.pos < end) {
    const key = r.tag();
    if (key !== ((1 << 3) | WIRE_LEN)) {
      r.skipField(key);
      continue;
    }
    const entryEnd = r.delimited();
    let k = 0;
    let v = 0;
    while (r.pos < entryEnd) {
      const t = r.tag();
      if (t === ((1 << 3) | WIRE_VARINT)) k = r.int64();
      else if (t === ((2 << 3) | WIRE_VARINT)) v = r.int64();
      else r.skipField(t);
    }
    entryEnds(r, entryEnd);
    labels.set(k, v);
  }
  entryEnds(r, end);
  return labels;
}

/** A field read past the end of its map entry means the lengths disagree. */
function entryEnds(r: ProtoReader, end: number): void {
  if (r.pos !== end) throw new JfrError(`the labels part is not a LabelsSnapshot: a map entry overruns its length at byte ${end}`);
}
