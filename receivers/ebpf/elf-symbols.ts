/**
 * Function symbols of an ELF file (.symtab, else .dynsym), for naming the user-space addresses
 * bpftrace reports. Read once per file and shared by every process that maps it: the lookup
 * goes through the file offset, so each process's own load address (ASLR) does not matter.
 *
 * Only 64-bit little-endian files are read (x86-64, arm64); anything else yields no symbols,
 * and its frames are named by module and offset instead. Names are kept as the file has them
 * (C++ and Rust names stay mangled).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const PT_LOAD = 1;
/** Symbol tables beyond this are not read: no real binary has one, and memory stays bounded. */
const MAX_TABLE_BYTES = 256 * 1024 * 1024;

interface Segment {
  offset: number;
  vaddr: number;
  filesz: number;
}

export class ElfSymbols {
  /**
   * Sorted by start address. Names stay bytes in the string table until a lookup needs one:
   * a large binary has hundreds of thousands of functions, of which a profile touches few.
   */
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly nameOffsets: Uint32Array;

  constructor(
    starts: Float64Array,
    ends: Float64Array,
    nameOffsets: Uint32Array,
    private readonly strtab: Buffer,
    private readonly segments: Segment[],
  ) {
    const order = Uint32Array.from(starts.keys()).sort((a, b) => starts[a] - starts[b]);
    this.starts = Float64Array.from(order, (i) => starts[i]);
    this.ends = Float64Array.from(order, (i) => ends[i]);
    this.nameOffsets = Uint32Array.from(order, (i) => nameOffsets[i]);
  }

  get size(): number {
    return this.starts.length;
  }

  /** The function containing the byte at `fileOffset` of the file, if any. */
  atFileOffset(fileOffset: number): string | undefined {
    const seg = this.segments.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.filesz);
    if (!seg) return undefined;
    const vaddr = fileOffset - seg.offset + seg.vaddr;
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid] <= vaddr) lo = mid + 1;
      else hi = mid;
    }
    const i = lo - 1;
    if (i < 0) return undefined;
    // Zero-sized symbols (hand-written assembly) cover up to the next symbol.
    const end = this.ends[i] > this.starts[i] ? this.ends[i] : (this.starts[i + 1] ?? this.starts[i] + 1);
    if (vaddr >= end) return undefined;
    const off = this.nameOffsets[i];
    return this.strtab.toString('utf8', off, this.strtab.indexOf(0, off));
  }
}

const EMPTY = Buffer.alloc(0);
export const NO_SYMBOLS = new ElfSymbols(new Float64Array(0), new Float64Array(0), new Uint32Array(0), EMPTY, []);

/** Reads the symbols of the file at `path`; NO_SYMBOLS when it is not an ELF file we can read. */
export function readElfSymbols(path: string): ElfSymbols {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return NO_SYMBOLS;
  }
  try {
    return parse(fd, fstatSync(fd).size);
  } catch {
    return NO_SYMBOLS;
  } finally {
    closeSync(fd);
  }
}

function read(fd: number, offset: number, length: number, fileSize: number): Buffer {
  if (offset < 0 || length < 0 || offset + length > fileSize || length > MAX_TABLE_BYTES) throw new Error('out of bounds');
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) throw new Error('short read');
    done += n;
  }
  return buf;
}

function parse(fd: number, fileSize: number): ElfSymbols {
  const h = read(fd, 0, 64, fileSize);
  if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return NO_SYMBOLS;
  const phoff = Number(h.readBigUInt64LE(0x20));
  const shoff = Number(h.readBigUInt64LE(0x28));
  const phentsize = h.readUInt16LE(0x36);
  const phnum = h.readUInt16LE(0x38);
  const shentsize = h.readUInt16LE(0x3a);
  const shnum = h.readUInt16LE(0x3c);
  if (phentsize < 56 || shentsize < 64) return NO_SYMBOLS;

  const segments: Segment[] = [];
  const ph = read(fd, phoff, phentsize * phnum, fileSize);
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    if (ph.readUInt32LE(o) !== PT_LOAD) continue;
    segments.push({ offset: Number(ph.readBigUInt64LE(o + 8)), vaddr: Number(ph.readBigUInt64LE(o + 16)), filesz: Number(ph.readBigUInt64LE(o + 32)) });
  }

  const sh = read(fd, shoff, shentsize * shnum, fileSize);
  const section = (i: number) => {
    const o = i * shentsize;
    return { type: sh.readUInt32LE(o + 4), offset: Number(sh.readBigUInt64LE(o + 24)), size: Number(sh.readBigUInt64LE(o + 32)), link: sh.readUInt32LE(o + 40), entsize: Number(sh.readBigUInt64LE(o + 56)) };
  };
  // .symtab has every function; .dynsym only the exported ones, but stripped files keep it.
  let table: ReturnType<typeof section> | undefined;
  for (const wanted of [SHT_SYMTAB, SHT_DYNSYM]) {
    for (let i = 0; i < shnum && !table; i++) {
      const s = section(i);
      if (s.type === wanted && s.size > 0) table = s;
    }
    if (table) break;
  }
  if (!table || table.link >= shnum) return new ElfSymbols(new Float64Array(0), new Float64Array(0), new Uint32Array(0), EMPTY, segments);
  const strtab = section(table.link);
  const syms = read(fd, table.offset, table.size, fileSize);
  const strs = read(fd, strtab.offset, strtab.size, fileSize);
  const entsize = Math.max(table.entsize, 24);
  const max = Math.floor(syms.length / entsize);
  const starts = new Float64Array(max);
  const ends = new Float64Array(max);
  const names = new Uint32Array(max);
  let n = 0;
  for (let o = 0; o + 24 <= syms.length; o += entsize) {
    if ((syms[o + 4] & 0xf) !== STT_FUNC || syms.readUInt16LE(o + 6) === 0) continue;
    const start = syms.readUInt32LE(o + 8) + syms.readUInt32LE(o + 12) * 2 ** 32;
    const nameOff = syms.readUInt32LE(o);
    if (start === 0 || nameOff === 0 || nameOff >= strs.length) continue;
    starts[n] = start;
    ends[n] = start + syms.readUInt32LE(o + 16) + syms.readUInt32LE(o + 20) * 2 ** 32;
    names[n] = nameOff;
    n++;
  }
  return new ElfSymbols(starts.subarray(0, n), ends.subarray(0, n), names.subarray(0, n), strs, segments);
}
