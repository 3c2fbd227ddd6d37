/**
 * Walks the chunks of a JFR recording: each chunk's header, its metadata, its constant pools
 * and then its events, one at a time. A recording is one or more chunks back to back.
 *
 * Chunk header (68 bytes, big-endian): magic "FLR\0", major and minor version (u16 each),
 * chunk size, constant-pool offset, metadata offset, start nanos, duration nanos, start
 * ticks, ticks per second (i64 each), then a u32 of feature flags whose lowest bit says
 * integers are varint-compressed.
 */
import { ByteReader } from './byte-reader.ts';
import { JfrError } from './errors.ts';
import { readMetadata, type ClassDef, type TypeSystem } from './metadata.ts';
import { ValueReader, type JfrValue } from './values.ts';

export const CHUNK_HEADER_SIZE = 68;
const MAGIC = 0x464c5200;
const FEATURE_COMPRESSED_INTS = 1;
const EVENT_METADATA = 0;
const EVENT_CONSTANT_POOL = 1;

export interface ChunkHeader {
  offset: number;
  size: number;
  /** Offsets from the start of the chunk. */
  cpOffset: number;
  metaOffset: number;
  major: number;
  minor: number;
  startNanos: number;
  durationNanos: number;
  startTicks: number;
  ticksPerSecond: number;
  compressedInts: boolean;
}

/** Constant pools by class name, then key. Later chunks add to (and override) earlier ones. */
export type ConstantPools = Map<string, Map<number, JfrValue>>;

export interface ChunkContext {
  header: ChunkHeader;
  types: TypeSystem;
  pools: ConstantPools;
}

export interface EventSink {
  /** Names of the event types to decode; every other event is skipped by its size. */
  readonly wanted: ReadonlySet<string>;
  /** Names of the constant pools to keep; the others are read past and dropped. */
  readonly pools: ReadonlySet<string>;
  onEvent(cls: ClassDef, values: JfrValue[], chunk: ChunkContext): void;
}

export function readChunkHeader(buf: Uint8Array, offset: number): ChunkHeader {
  if (offset + CHUNK_HEADER_SIZE > buf.length) {
    throw new JfrError(`truncated input: chunk header at byte ${offset} needs ${CHUNK_HEADER_SIZE} bytes, ${buf.length - offset} remain`);
  }
  const r = new ByteReader(buf, offset, buf.length, false);
  if (r.fixedU32(offset) !== MAGIC) throw new JfrError(`no chunk magic "FLR\\0" at byte ${offset}`);
  const version = r.fixedU32(offset + 4);
  const major = version >>> 16;
  const minor = version & 0xffff;
  if (major !== 2) throw new JfrError(`unsupported format version ${major}.${minor} (only 2.x is read)`);
  const size = r.fixedI64(offset + 8);
  const cpOffset = r.fixedI64(offset + 16);
  const metaOffset = r.fixedI64(offset + 24);
  const h: ChunkHeader = {
    offset,
    size,
    cpOffset,
    metaOffset,
    major,
    minor,
    startNanos: r.fixedI64(offset + 32),
    durationNanos: r.fixedI64(offset + 40),
    startTicks: r.fixedI64(offset + 48),
    ticksPerSecond: r.fixedI64(offset + 56),
    compressedInts: (r.fixedU32(offset + 64) & FEATURE_COMPRESSED_INTS) !== 0,
  };
  if (size < CHUNK_HEADER_SIZE) throw new JfrError(`chunk at byte ${offset} has an impossible size ${size}`);
  if (offset + size > buf.length) {
    throw new JfrError(`truncated input: the chunk at byte ${offset} declares ${size} bytes, ${buf.length - offset} remain`);
  }
  for (const [what, at] of [['constant pool', cpOffset], ['metadata', metaOffset]] as const) {
    if (at < CHUNK_HEADER_SIZE || at >= size) throw new JfrError(`chunk at byte ${offset}: ${what} offset ${at} lies outside the chunk`);
  }
  return h;
}

/** Reads every chunk of `buf` and hands the wanted events to `sink`, in file order. */
export function readRecording(buf: Uint8Array, sink: EventSink, pools: ConstantPools = new Map()): number {
  if (buf.length === 0) throw new JfrError('empty input');
  let offset = 0;
  let chunks = 0;
  while (offset < buf.length) {
    readChunk(buf, offset, sink, pools);
    offset += readChunkHeader(buf, offset).size;
    chunks++;
  }
  return chunks;
}

function readChunk(buf: Uint8Array, offset: number, sink: EventSink, pools: ConstantPools): void {
  const header = readChunkHeader(buf, offset);
  const end = offset + header.size;
  const r = new ByteReader(buf, offset + header.metaOffset, end, header.compressedInts);
  const types = readMetadata(r);
  // Of each stack frame only the method matters; keeping just it saves an object per frame.
  const values = new ValueReader(types, { 'jdk.types.StackFrame': 'method' });
  readConstantPools(r, offset, header.cpOffset, end, values, pools, sink.pools);
  const chunk: ChunkContext = { header, types, pools };

  const wanted = new Map<number, ClassDef>();
  for (const name of sink.wanted) {
    const cls = types.byName.get(name);
    if (cls) wanted.set(cls.id, cls);
  }
  r.pos = offset + CHUNK_HEADER_SIZE;
  while (r.pos < end) {
    const at = r.pos;
    r.end = end;
    const size = r.count('event size');
    if (size === 0 || at + size > end) throw new JfrError(`event at byte ${at} has size ${size}, which does not fit its chunk`);
    const type = r.long();
    const cls = type === EVENT_METADATA || type === EVENT_CONSTANT_POOL ? undefined : wanted.get(type);
    if (cls) {
      r.end = at + size;
      sink.onEvent(cls, values.read(r, cls) as JfrValue[], chunk);
    }
    r.pos = at + size;
  }
  r.end = end;
}

/**
 * Constant-pool events form a chain: the header points at the last one, and each holds the
 * (negative) distance to the one before it, 0 ending the chain.
 */
function readConstantPools(
  r: ByteReader,
  chunkStart: number,
  cpOffset: number,
  end: number,
  values: ValueReader,
  pools: ConstantPools,
  keep: ReadonlySet<string>,
): void {
  const seen = new Set<number>();
  let pos = chunkStart + cpOffset;
  for (;;) {
    if (seen.has(pos)) throw new JfrError(`constant pool chain loops back to byte ${pos}`);
    seen.add(pos);
    r.pos = pos;
    r.end = end;
    const size = r.count('constant pool event size');
    if (size === 0 || pos + size > end) throw new JfrError(`constant pool event at byte ${pos} has size ${size}, which does not fit its chunk`);
    r.end = pos + size;
    const type = r.long();
    if (type !== EVENT_CONSTANT_POOL) throw new JfrError(`expected a constant pool event (type 1) at byte ${pos}, found type ${type}`);
    r.long(); // start
    r.long(); // duration
    const delta = r.long();
    r.u8(); // flush / checkpoint kind
    const nPools = r.count('constant pool count');
    r.need(nPools, 'constant pools');
    for (let i = 0; i < nPools; i++) {
      const typeId = r.long();
      const cls = values.classOf(typeId, `constant pool ${i} at byte ${pos}`);
      const n = r.count('constant count');
      r.need(n, 'constants');
      let pool = pools.get(cls.name);
      if (pool === undefined && keep.has(cls.name)) pools.set(cls.name, (pool = new Map()));
      for (let j = 0; j < n; j++) {
        const key = r.long();
        const value = values.read(r, cls);
        pool?.set(key, value);
      }
    }
    if (delta === 0) return;
    pos += delta;
    if (pos < chunkStart + CHUNK_HEADER_SIZE || pos >= end) throw new JfrError(`constant pool chain points outside its chunk (to byte ${pos})`);
  }
}
