/**
 * The set of component factories a process knows about, keyed by kind and type. The config
 * loader resolves every `type[/name]` ID against it, so a type that is not registered here
 * cannot appear in a config file.
 */
import type { Factory, Kind } from './component.ts';

/** The factory interface that belongs to one kind, so callers need no cast after `get`. */
export type FactoryOf<K extends Kind> = Extract<Factory, { kind: K }>;

/** Same grammar as the type half of a component ID; checked here so a bad factory fails at startup, not in a config error. */
const TYPE_PATTERN = /^[a-zA-Z][a-zA-Z0-9_]*$/;

export class Registry {
  private readonly byKind = new Map<Kind, Map<string, Factory>>();

  constructor(factories: Iterable<Factory> = []) {
    for (const f of factories) this.register(f);
  }

  register(f: Factory): this {
    if (!TYPE_PATTERN.test(f.type)) {
      throw new Error(`cannot register ${f.kind} type "${f.type}": a type must match ${TYPE_PATTERN}`);
    }
    let ofKind = this.byKind.get(f.kind);
    if (!ofKind) {
      ofKind = new Map();
      this.byKind.set(f.kind, ofKind);
    }
    if (ofKind.has(f.type)) {
      throw new Error(`${f.kind} type "${f.type}" is already registered`);
    }
    ofKind.set(f.type, f);
    return this;
  }

  get<K extends Kind>(kind: K, type: string): FactoryOf<K> | undefined {
    return this.byKind.get(kind)?.get(type) as FactoryOf<K> | undefined;
  }

  /** Sorted, so error messages that list the known types read the same on every run. */
  types(kind: Kind): string[] {
    return [...(this.byKind.get(kind)?.keys() ?? [])].sort();
  }
}
