/**
 * Reads values of any class the metadata declares. An object is read as the array of its
 * field values in declaration order; a constant-pool field as the pool key (a number); a
 * string as a string, null, or a number when it refers to the string pool.
 */
import type { ByteReader } from './byte-reader.ts';
import { JfrError } from './errors.ts';
import type { ClassDef, FieldDef, TypeSystem } from './metadata.ts';

const enum Kind {
  Boolean,
  Byte,
  Char,
  Short,
  Int,
  Long,
  Float,
  Double,
  String,
  Object,
  Ref,
}

const PRIMITIVES: Record<string, Kind> = {
  boolean: Kind.Boolean,
  byte: Kind.Byte,
  char: Kind.Char,
  short: Kind.Short,
  int: Kind.Int,
  long: Kind.Long,
  float: Kind.Float,
  double: Kind.Double,
  'java.lang.String': Kind.String,
};

interface Step {
  kind: Kind;
  array: boolean;
  cls: ClassDef | undefined;
  /** An object that takes no bytes at all (no fields, or only such objects). */
  empty: boolean;
}

/** Objects nest a few levels (a stack trace holds frames); deeper nesting means a self-referencing type. */
const MAX_NESTING = 16;

/** Longs beyond 2^53 are bigints, so that 64-bit IDs (span IDs) survive exactly. */
export type JfrValue = number | bigint | string | boolean | null | JfrValue[];

export class ValueReader {
  private readonly plans = new Map<number, Step[]>();
  /** Class id → the one field kept when a value of that class is nested in another. */
  private readonly keepOnly = new Map<number, number>();

  /**
   * `keep` names, per class, the one field worth keeping when such a value is nested in
   * another (the method of each frame of a stack trace); the value then stands for the field.
   */
  constructor(
    private readonly types: TypeSystem,
    keep: Record<string, string> = {},
  ) {
    for (const [className, field] of Object.entries(keep)) {
      const cls = types.byName.get(className);
      const i = cls?.fieldIndex.get(field);
      if (cls && i !== undefined) this.keepOnly.set(cls.id, i);
    }
  }

  classOf(typeId: number, what: string): ClassDef {
    const cls = this.types.byId.get(typeId);
    if (!cls) throw new JfrError(`${what} has type id ${typeId}, which the chunk's metadata does not declare`);
    return cls;
  }

  /** Reads one value of `cls`, as stored in a constant pool or as an event's payload. */
  read(r: ByteReader, cls: ClassDef): JfrValue {
    const prim = PRIMITIVES[cls.name];
    if (prim !== undefined) return this.scalar(r, prim);
    return this.object(r, cls, 0);
  }

  private plan(cls: ClassDef): Step[] {
    let steps = this.plans.get(cls.id);
    if (steps === undefined) {
      steps = cls.fields.map((f: FieldDef) => {
        if (f.constantPool) return { kind: Kind.Ref, array: f.array, cls: undefined, empty: false };
        const t = this.classOf(f.typeId, `field ${cls.name}.${f.name}`);
        const prim = PRIMITIVES[t.name];
        if (prim !== undefined) return { kind: prim, array: f.array, cls: undefined, empty: false };
        return { kind: Kind.Object, array: f.array, cls: t, empty: this.isEmpty(t, new Set()) };
      });
      this.plans.set(cls.id, steps);
    }
    return steps;
  }

  private object(r: ByteReader, cls: ClassDef, depth: number): JfrValue {
    if (depth > MAX_NESTING) throw new JfrError(`values of ${cls.name} nest deeper than ${MAX_NESTING} levels`);
    const steps = this.plan(cls);
    const keep = depth > 0 ? this.keepOnly.get(cls.id) : undefined;
    if (keep !== undefined) {
      // A nested object of which one field matters: read past the others without keeping them.
      let kept: JfrValue = null;
      for (let i = 0; i < steps.length; i++) {
        const v = steps[i].array ? this.array(r, steps[i], depth) : this.one(r, steps[i], depth);
        if (i === keep) kept = v;
      }
      return kept;
    }
    const out: JfrValue[] = new Array(steps.length);
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      if (!s.array) {
        out[i] = this.one(r, s, depth);
        continue;
      }
      out[i] = this.array(r, s, depth);
    }
    return out;
  }

  /** Whether values of `cls` take no bytes; a class that contains itself is not (reading it fails on depth). */
  private isEmpty(cls: ClassDef, visiting: Set<number>): boolean {
    if (visiting.has(cls.id)) return false;
    visiting.add(cls.id);
    for (const f of cls.fields) {
      if (f.constantPool || f.array) return false;
      const t = this.types.byId.get(f.typeId);
      if (!t || PRIMITIVES[t.name] !== undefined || !this.isEmpty(t, visiting)) return false;
    }
    return true;
  }

  private array(r: ByteReader, s: Step, depth: number): JfrValue[] {
    const n = r.count('array length');
    // Elements that take no bytes can't be bounded by the input's size: there is nothing to read.
    if (s.empty) return [];
    // Every element takes at least one byte, so a longer array can only be corrupt.
    r.need(n, 'an array');
    const arr: JfrValue[] = new Array(n);
    for (let j = 0; j < n; j++) arr[j] = this.one(r, s, depth);
    return arr;
  }

  private one(r: ByteReader, s: Step, depth: number): JfrValue {
    if (s.kind === Kind.Ref) return r.long();
    if (s.kind === Kind.Object) return this.object(r, s.cls!, depth + 1);
    return this.scalar(r, s.kind);
  }

  private scalar(r: ByteReader, kind: Kind): JfrValue {
    switch (kind) {
      case Kind.Boolean:
        return r.u8() !== 0;
      case Kind.Byte:
        return (r.u8() << 24) >> 24;
      case Kind.Char:
      case Kind.Short:
        return r.int(2);
      case Kind.Int:
        return r.int(4);
      case Kind.Long: {
        const v = r.long();
        return Number.isSafeInteger(v) ? v : BigInt.asIntN(64, (BigInt(r.hi) << 32n) | BigInt(r.lo));
      }
      case Kind.Float:
        return r.f32();
      case Kind.Double:
        return r.f64();
      case Kind.String:
        return r.string();
      default:
        throw new JfrError(`unexpected value kind ${kind}`);
    }
  }
}
