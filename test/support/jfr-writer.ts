/**
 * Writes small, valid JFR recordings for tests: one chunk with a metadata event, one constant
 * pool event and CPU / allocation / setting events, with integers either varint-compressed or
 * fixed-width (the two encodings a chunk header can announce). Written from the format's
 * description, independently of the reader under test.
 */

export interface JfrSpecSample {
  /** Frames leaf first, each `package/Class.method`. */
  stack: string[];
  /** Thread state name; default STATE_RUNNABLE. */
  state?: string;
  contextId?: number;
  /** How many identical events to write. */
  times?: number;
}

export interface JfrSpecAlloc {
  stack: string[];
  tlabSize: number;
  times?: number;
}

export interface JfrSpec {
  compressed: boolean;
  /** Value of the profiler's `event` setting, written as a jdk.ActiveSetting before the samples. */
  event?: string;
  samples?: JfrSpecSample[];
  allocations?: JfrSpecAlloc[];
}

class Out {
  bytes: number[] = [];
  constructor(private readonly compressed: boolean) {}
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]);
    return this;
  }
  private varint(v: bigint): this {
    let x = BigInt.asUintN(64, v);
    for (let i = 0; i < 8; i++) {
      if (x < 0x80n) return this.u8(Number(x));
      this.u8(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    return this.u8(Number(x));
  }
  private fixed(v: bigint, width: number): this {
    const x = BigInt.asUintN(width * 8, v);
    for (let i = width - 1; i >= 0; i--) this.u8(Number((x >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  int(v: number): this {
    return this.compressed ? this.varint(BigInt(v)) : this.fixed(BigInt(v), 4);
  }
  long(v: number | bigint): this {
    return this.compressed ? this.varint(BigInt(v)) : this.fixed(BigInt(v), 8);
  }
  string(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u8(3).int(b.length).raw(b);
  }
  /** An event: its size (4 bytes, padded when compressed, so it can be written first) and body. */
  event(body: Out): this {
    const size = body.bytes.length + 4;
    if (this.compressed) {
      this.u8((size & 0x7f) | 0x80).u8(((size >> 7) & 0x7f) | 0x80).u8(((size >> 14) & 0x7f) | 0x80).u8((size >> 21) & 0x7f);
    } else {
      this.fixed(BigInt(size), 4);
    }
    return this.raw(body.bytes);
  }
}

interface Field {
  name: string;
  type: number;
  cp?: boolean;
  array?: boolean;
}

const T = {
  long: 10, int: 11, boolean: 12, string: 13,
  thread: 20, threadState: 21, symbol: 22, class: 23, method: 24, stackFrame: 25, stackTrace: 26, frameType: 27,
  executionSample: 100, activeSetting: 101, allocInNewTlab: 102,
};

const CLASSES: [number, string, Field[]][] = [
  [T.long, 'long', []],
  [T.int, 'int', []],
  [T.boolean, 'boolean', []],
  [T.string, 'java.lang.String', []],
  [T.thread, 'java.lang.Thread', [{ name: 'javaName', type: T.string }]],
  [T.threadState, 'jdk.types.ThreadState', [{ name: 'name', type: T.string }]],
  [T.symbol, 'jdk.types.Symbol', [{ name: 'string', type: T.string }]],
  [T.class, 'java.lang.Class', [{ name: 'name', type: T.symbol, cp: true }]],
  [T.method, 'jdk.types.Method', [{ name: 'type', type: T.class, cp: true }, { name: 'name', type: T.symbol, cp: true }, { name: 'descriptor', type: T.symbol, cp: true }]],
  [T.frameType, 'jdk.types.FrameType', [{ name: 'description', type: T.string }]],
  [T.stackFrame, 'jdk.types.StackFrame', [
    { name: 'method', type: T.method, cp: true }, { name: 'lineNumber', type: T.int }, { name: 'bytecodeIndex', type: T.int }, { name: 'type', type: T.frameType, cp: true },
  ]],
  [T.stackTrace, 'jdk.types.StackTrace', [{ name: 'truncated', type: T.boolean }, { name: 'frames', type: T.stackFrame, array: true }]],
  [T.executionSample, 'jdk.ExecutionSample', [
    { name: 'startTime', type: T.long }, { name: 'sampledThread', type: T.thread, cp: true }, { name: 'stackTrace', type: T.stackTrace, cp: true },
    { name: 'state', type: T.threadState, cp: true }, { name: 'contextId', type: T.long },
  ]],
  [T.activeSetting, 'jdk.ActiveSetting', [{ name: 'startTime', type: T.long }, { name: 'id', type: T.long }, { name: 'name', type: T.string }, { name: 'value', type: T.string }]],
  [T.allocInNewTlab, 'jdk.ObjectAllocationInNewTLAB', [
    { name: 'startTime', type: T.long }, { name: 'eventThread', type: T.thread, cp: true }, { name: 'stackTrace', type: T.stackTrace, cp: true },
    { name: 'objectClass', type: T.class, cp: true }, { name: 'allocationSize', type: T.long }, { name: 'tlabSize', type: T.long },
  ]],
];

export function writeJfr(spec: JfrSpec): Uint8Array {
  const c = spec.compressed;
  const symbols = new Map<string, number>();
  const classes = new Map<string, number>();
  const methods = new Map<string, [number, number]>();
  const traces = new Map<string, number[]>();
  const states = new Map<string, number>();
  const sym = (s: string) => symbols.get(s) ?? (symbols.set(s, symbols.size + 1), symbols.size);
  const trace = (stack: string[]): number => {
    const key = stack.join('|');
    if (!traces.has(key)) {
      traces.set(key, stack.map((frame) => {
        const dot = frame.lastIndexOf('.');
        const cls = frame.slice(0, dot);
        if (!classes.has(cls)) classes.set(cls, sym(cls));
        const m = methods.get(frame) ?? [classes.get(cls)!, sym(frame.slice(dot + 1))];
        methods.set(frame, m);
        return [...methods.keys()].indexOf(frame) + 1;
      }));
    }
    return [...traces.keys()].indexOf(key) + 1;
  };
  const state = (s: string) => states.get(s) ?? (states.set(s, states.size + 1), states.size);

  const events = new Out(c);
  if (spec.event !== undefined) {
    events.event(new Out(c).long(T.activeSetting).long(1).long(1).string('event').string(spec.event));
  }
  for (const s of spec.samples ?? []) {
    const st = trace(s.stack);
    const ts = state(s.state ?? 'STATE_RUNNABLE');
    for (let i = 0; i < (s.times ?? 1); i++) events.event(new Out(c).long(T.executionSample).long(1000 + i).long(1).long(st).long(ts).long(s.contextId ?? 0));
  }
  for (const a of spec.allocations ?? []) {
    const st = trace(a.stack);
    for (let i = 0; i < (a.times ?? 1); i++) {
      events.event(new Out(c).long(T.allocInNewTlab).long(2000 + i).long(1).long(st).long(1).long(a.tlabSize / 2).long(a.tlabSize));
    }
  }
  if (classes.size === 0) sym('Object');

  // Metadata: a string table, then root → metadata → class → field elements.
  const strings: string[] = [];
  const si = (s: string) => (strings.includes(s) ? strings.indexOf(s) : strings.push(s) - 1);
  const el = (name: string, attrs: Record<string, string>, children: Out[]): Out => {
    const o = new Out(c).int(si(name)).int(Object.keys(attrs).length);
    for (const [k, v] of Object.entries(attrs)) o.int(si(k)).int(si(v));
    o.int(children.length);
    for (const ch of children) o.raw(ch.bytes);
    return o;
  };
  const classEls = CLASSES.map(([id, name, fields]) =>
    el('class', { id: String(id), name }, fields.map((f) => el('field', { name: f.name, class: String(f.type), ...(f.cp ? { constantPool: 'true' } : {}), ...(f.array ? { dimension: '1' } : {}) }, []))),
  );
  const root = el('root', {}, [el('metadata', {}, classEls), el('region', {}, [])]);
  const meta = new Out(c).long(0).long(0).long(0).long(1).int(strings.length);
  for (const s of strings) meta.string(s);
  meta.raw(root.bytes);

  // One constant-pool event holding every pool.
  const pools: [number, [number, Out][]][] = [
    [T.thread, [[1, new Out(c).string('main')]]],
    [T.threadState, [...states].map(([n, id]) => [id, new Out(c).string(n)] as [number, Out])],
    [T.symbol, [...symbols].map(([s, id]) => [id, new Out(c).string(s)] as [number, Out])],
    [T.class, [...classes].map(([, symId], i) => [i + 1, new Out(c).long(symId)] as [number, Out])],
    [T.method, [...methods.values()].map(([cls, name], i) => [i + 1, new Out(c).long([...classes.values()].indexOf(cls) + 1).long(name).long(name)] as [number, Out])],
    [T.frameType, [[1, new Out(c).string('Interpreted')]]],
    [T.stackTrace, [...traces.values()].map((frames, i) => {
      const o = new Out(c).u8(0).int(frames.length);
      for (const m of frames) o.long(m).int(7).int(0).long(1);
      return [i + 1, o] as [number, Out];
    })],
  ];
  const cp = new Out(c).long(1).long(0).long(0).long(0).u8(0).int(pools.length);
  for (const [type, entries] of pools) {
    cp.long(type).int(entries.length);
    for (const [key, value] of entries) cp.long(key).raw(value.bytes);
  }

  const body = new Out(c).raw(events.bytes);
  const metaOffset = 68 + body.bytes.length;
  body.event(meta);
  const cpOffset = 68 + body.bytes.length;
  body.event(cp);
  const size = 68 + body.bytes.length;
  const header = new Out(false).raw([0x46, 0x4c, 0x52, 0x00, 0, 2, 0, 1]);
  const h64 = (v: number) => header.raw(new Uint8Array(new BigInt64Array([BigInt(v)]).buffer).reverse());
  h64(size);
  h64(cpOffset);
  h64(metaOffset);
  h64(1_700_000_000_000_000_000);
  h64(1_000_000_000);
  h64(0);
  h64(1_000_000_000);
  header.raw([0, 0, 0, c ? 1 : 0]);
  return Uint8Array.from([...header.bytes, ...body.bytes]);
}
