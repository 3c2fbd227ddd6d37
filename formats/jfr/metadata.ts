/**
 * The metadata event of a chunk: the type system that every event and constant pool of the
 * chunk is written in. Each class has an id, a name and an ordered list of fields; a field
 * names its type by id, may be an array, and may hold a constant-pool reference instead of
 * the value itself.
 */
import type { ByteReader } from './byte-reader.ts';
import { JfrError } from './errors.ts';

export interface FieldDef {
  name: string;
  typeId: number;
  array: boolean;
  constantPool: boolean;
}

export interface ClassDef {
  id: number;
  name: string;
  fields: FieldDef[];
  /** Index of each field by name. */
  fieldIndex: Map<string, number>;
}

export interface TypeSystem {
  byId: Map<number, ClassDef>;
  byName: Map<string, ClassDef>;
}

/** Elements nest root → metadata → class → field → annotation; anything deeper is corrupt. */
const MAX_ELEMENT_DEPTH = 8;

interface Element {
  name: string;
  attributes: Map<string, string>;
  children: Element[];
}

/** Reads the metadata event at the reader's position (the reader is bounded by the chunk). */
export function readMetadata(r: ByteReader): TypeSystem {
  const start = r.pos;
  const size = r.count('metadata event size');
  if (size === 0 || start + size > r.end) throw new JfrError(`metadata event at byte ${start} has an impossible size ${size}`);
  const savedEnd = r.end;
  r.end = start + size;
  try {
    const type = r.long();
    if (type !== 0) throw new JfrError(`expected the metadata event (type 0) at byte ${start}, found type ${type}`);
    r.long(); // start time
    r.long(); // duration
    r.long(); // metadata id
    const nStrings = r.count('metadata string count');
    r.need(nStrings, 'the metadata string table');
    const strings: string[] = new Array(nStrings);
    for (let i = 0; i < nStrings; i++) {
      const s = r.string();
      if (typeof s === 'number') throw new JfrError(`metadata string ${i} refers to a constant pool, which metadata cannot do`);
      strings[i] = s ?? '';
    }
    const root = readElement(r, strings, 0);
    if (root.name !== 'root') throw new JfrError(`metadata starts with element "${root.name}", expected "root"`);
    return typeSystemOf(root);
  } finally {
    r.end = savedEnd;
  }
}

function readElement(r: ByteReader, strings: string[], depth: number): Element {
  if (depth > MAX_ELEMENT_DEPTH) throw new JfrError(`metadata elements nest deeper than ${MAX_ELEMENT_DEPTH} levels`);
  const str = (what: string): string => {
    const at = r.pos;
    const i = r.int();
    if (i < 0 || i >= strings.length) throw new JfrError(`metadata ${what} index ${i} at byte ${at} is outside its string table of ${strings.length}`);
    return strings[i];
  };
  const name = str('element name');
  const nAttr = r.count('attribute count');
  r.need(2 * nAttr, 'metadata attributes');
  const attributes = new Map<string, string>();
  for (let i = 0; i < nAttr; i++) {
    const k = str('attribute name');
    attributes.set(k, str('attribute value'));
  }
  const nChildren = r.count('child count');
  // Every element takes at least three bytes.
  r.need(3 * nChildren, 'metadata elements');
  const children: Element[] = [];
  for (let i = 0; i < nChildren; i++) children.push(readElement(r, strings, depth + 1));
  return { name, attributes, children };
}

function typeSystemOf(root: Element): TypeSystem {
  const byId = new Map<number, ClassDef>();
  const byName = new Map<string, ClassDef>();
  for (const section of root.children) {
    if (section.name !== 'metadata') continue;
    for (const cls of section.children) {
      if (cls.name !== 'class') continue;
      const id = idOf(cls.attributes.get('id'), 'class id');
      const name = cls.attributes.get('name') ?? '';
      const fields: FieldDef[] = [];
      const fieldIndex = new Map<string, number>();
      for (const f of cls.children) {
        if (f.name !== 'field') continue;
        const fname = f.attributes.get('name') ?? '';
        fieldIndex.set(fname, fields.length);
        fields.push({
          name: fname,
          typeId: idOf(f.attributes.get('class'), `type of field ${name}.${fname}`),
          array: f.attributes.get('dimension') === '1',
          constantPool: f.attributes.get('constantPool') === 'true',
        });
      }
      const def: ClassDef = { id, name, fields, fieldIndex };
      byId.set(id, def);
      byName.set(name, def);
    }
  }
  return { byId, byName };
}

function idOf(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d{1,19}$/.test(text)) throw new JfrError(`metadata ${what} is ${JSON.stringify(text ?? null)}, not a number`);
  return Number(text);
}
