/**
 * Reads what the sampling program prints with `bpftrace -f json`: one JSON document per line.
 *
 * The map is keyed by `[pid, kstack(perf), ustack(perf), comm]`, which bpftrace flattens into
 * one string: `PID,KSTACK,USTACK,COMM`. A stack in perf mode is either empty or a run of
 * `\n\t<hex address> <symbol>+<offset> (<module>)` lines closed by `\n`. Symbol names may hold
 * commas (C++ templates) and comm may hold anything, so the key is split by that line
 * structure, never by commas: comm is last so that whatever is left after the stacks is comm.
 */

/** One frame as bpftrace printed it. */
export interface RawFrame {
  address: bigint;
  /** The symbol without its `+offset`; "" when bpftrace could not resolve the address. */
  symbol: string;
  /** The module bpftrace named; "" when it did not know it (`[unknown]`). */
  module: string;
}

export interface StackCount {
  pid: number;
  comm: string;
  /** Leaf first. */
  kernel: RawFrame[];
  /** Leaf first. */
  user: RawFrame[];
  count: number;
}

export type OutputEvent =
  | { kind: 'attached'; probes: number }
  | { kind: 'stacks'; stacks: StackCount[]; malformed: number }
  | { kind: 'error'; message: string }
  | { kind: 'other' };

/** The two maps the sampling program aggregates into, taking turns (see bpftrace-program.ts). */
export const STACK_MAPS = ['@stacks_a', '@stacks_b'] as const;

/** Parses one line of bpftrace's JSON output. Never throws: bad lines come back as errors. */
export function parseOutputLine(line: string): OutputEvent {
  const text = line.trim();
  if (text === '') return { kind: 'other' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { kind: 'error', message: `unparseable bpftrace output: ${text.slice(0, 200)}` };
  }
  if (typeof doc !== 'object' || doc === null) return { kind: 'other' };
  const { type, data } = doc as { type?: unknown; data?: unknown };
  if (type === 'attached_probes') {
    const probes = (data as { probes?: unknown } | undefined)?.probes;
    return { kind: 'attached', probes: typeof probes === 'number' ? probes : 0 };
  }
  if (type === 'map' && typeof data === 'object' && data !== null) {
    for (const name of STACK_MAPS) {
      const entries = (data as Record<string, unknown>)[name];
      if (typeof entries === 'object' && entries !== null) return parseStackMap(entries as Record<string, unknown>);
    }
    return { kind: 'other' };
  }
  return { kind: 'other' };
}

function parseStackMap(entries: Record<string, unknown>): OutputEvent {
  const stacks: StackCount[] = [];
  let malformed = 0;
  for (const key of Object.keys(entries)) {
    const count = entries[key];
    const parsed = typeof count === 'number' && count > 0 ? parseKey(key) : undefined;
    if (!parsed) {
      malformed++;
      continue;
    }
    stacks.push({ ...parsed, count: count as number });
  }
  return { kind: 'stacks', stacks, malformed };
}

/** Splits `PID,KSTACK,USTACK,COMM`; undefined when the key does not have that shape. */
export function parseKey(key: string): Omit<StackCount, 'count'> | undefined {
  const comma = key.indexOf(',');
  if (comma <= 0) return undefined;
  const pidText = key.slice(0, comma);
  if (!/^\d+$/.test(pidText)) return undefined;
  const kernel = readStack(key, comma + 1);
  if (!kernel || key.charCodeAt(kernel.end) !== 44 /* , */) return undefined;
  const user = readStack(key, kernel.end + 1);
  if (!user || key.charCodeAt(user.end) !== 44) return undefined;
  return { pid: Number(pidText), comm: key.slice(user.end + 1), kernel: kernel.frames, user: user.frames };
}

/** Reads a perf-mode stack starting at `pos`; returns its frames and the position after it. */
function readStack(key: string, pos: number): { frames: RawFrame[]; end: number } | undefined {
  const frames: RawFrame[] = [];
  // An empty stack prints as nothing; a non-empty one as "\n\t<frame>" lines and a final "\n".
  while (key.startsWith('\n\t', pos)) {
    const eol = key.indexOf('\n', pos + 2);
    if (eol < 0) return undefined;
    const frame = parseFrame(key.slice(pos + 2, eol));
    if (!frame) return undefined;
    frames.push(frame);
    pos = eol;
  }
  if (frames.length > 0) {
    if (key.charCodeAt(pos) !== 10 /* \n */) return undefined;
    pos++;
  }
  return { frames, end: pos };
}

/** `7f12ab burn_cpu+35 (/usr/bin/app)`, `7f12ab 0x7f12ab ([unknown])` or, for the kernel, `ffffffff8100 sym+12`. */
export function parseFrame(line: string): RawFrame | undefined {
  const space = line.indexOf(' ');
  const hex = space < 0 ? line : line.slice(0, space);
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) return undefined;
  const address = BigInt(`0x${hex}`);
  if (space < 0) return { address, symbol: '', module: '' };
  let rest = line.slice(space + 1);
  let module = '';
  if (rest.endsWith(')')) {
    const open = rest.lastIndexOf(' (');
    if (open >= 0) {
      module = rest.slice(open + 2, -1);
      rest = rest.slice(0, open);
    }
  }
  if (module === '[unknown]') module = '';
  return { address, symbol: symbolName(rest), module };
}

/** Drops bpftrace's `+offset`; an address printed in place of a symbol means "unresolved". */
function symbolName(text: string): string {
  if (text === '' || text === '[unknown]' || /^0x[0-9a-fA-F]+$/.test(text)) return '';
  const plus = text.lastIndexOf('+');
  if (plus > 0 && /^\d+$/.test(text.slice(plus + 1))) return text.slice(0, plus);
  return text;
}
