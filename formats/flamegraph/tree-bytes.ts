/**
 * Pyroscope's TREE profile format (SelectMergeStacktraces with format TREE): nodes in depth-first
 * pre-order, each written as uvarint len(name), the name's UTF-8 bytes, uvarint self, uvarint
 * number of children. A nameless virtual root comes first. An empty tree is zero bytes.
 */
import { BadRequestError } from '../../core/errors.ts';
import { ByteWriter } from '../byte-writer.ts';
import { buildTree, ROOT, type CallTree, type MergedStacks } from './tree.ts';
import { TREE_BYTES_TRUNCATION, truncateTree } from './truncate.ts';

/**
 * Encodes a tree, cut to maxNodes (< 1: no limit) the way Pyroscope's MarshalTruncate cuts it.
 * Values are written as integers (rounded), since the format has no other kind.
 */
export function encodeTreeBytes(tree: CallTree, maxNodes = 0): Uint8Array {
  const t = maxNodes >= 1 ? truncateTree(tree, maxNodes, TREE_BYTES_TRUNCATION) : tree;
  if (t.childStart[ROOT + 1] === t.childStart[ROOT]) return new Uint8Array(0);

  const utf8 = new TextEncoder();
  const nameBytes: Array<Uint8Array | undefined> = new Array(t.names.length);
  const out = new ByteWriter(Math.min(1 << 20, 16 * t.size));
  const stack = new Uint32Array(t.size);
  let sp = 0;
  stack[sp++] = ROOT;
  while (sp > 0) {
    const n = stack[--sp];
    const ni = t.name[n];
    if (ni < 0) {
      out.uvarint(0);
    } else {
      let b = nameBytes[ni];
      if (b === undefined) b = nameBytes[ni] = utf8.encode(t.names[ni]);
      out.uvarint(b.length);
      out.raw(b);
    }
    selfValue(out, Math.round(t.self[n]));
    const from = t.childStart[n];
    const to = t.childStart[n + 1];
    out.uvarint(to - from);
    // Pushed in order, popped last first: Pyroscope writes the last child's subtree first.
    for (let j = from; j < to; j++) stack[sp++] = t.children[j];
  }
  // A copy, so the answer does not hold on to the writer's spare capacity.
  return out.finish().slice();
}

/** Self values are int64 in Pyroscope, written as their uint64 bits: a negative (a diff of deltas) takes 10 bytes. */
function selfValue(out: ByteWriter, v: number): void {
  if (v >= 0) {
    out.uvarint(v);
    return;
  }
  const u = BigInt.asUintN(64, BigInt(v));
  out.uvarint64(Number(u & 0xffffffffn), Number(u >> 32n));
}

/** Convenience: stacks → tree → TREE bytes. */
export function toTreeBytes(merged: MergedStacks, maxNodes: number): Uint8Array {
  return encodeTreeBytes(buildTree(merged), maxNodes);
}

/**
 * Decodes TREE bytes into one stack per node with self > 0 (leaf first). Fewer than two bytes
 * is an empty tree, as in Pyroscope; truncated or trailing bytes are rejected.
 */
export function decodeTreeBytes(bytes: Uint8Array): MergedStacks {
  const names: string[] = [];
  const stacks: Uint32Array[] = [];
  const values: number[] = [];
  if (bytes.length < 2) return { names, stacks, values };

  const utf8 = new TextDecoder('utf-8');
  const index = new Map<string, number>();
  const r = new ByteReader(bytes);
  // Open parents as (depth, children still to read), instead of one entry per child.
  const pendDepth: number[] = [];
  const pendLeft: number[] = [];
  const path: number[] = [];

  const readNode = (): { name: string; self: number; children: number } => {
    const len = r.uvarint();
    const name = utf8.decode(r.bytes(len));
    const self = r.uvarint();
    const children = r.uvarint();
    // Each child takes at least three bytes; a larger count can only be corrupt.
    if (children * 3 > r.remaining) {
      throw new BadRequestError(`malformed tree bytes: node at offset ${r.offset} claims ${children} children`);
    }
    return { name, self, children };
  };

  const root = readNode();
  if (root.children > 0) {
    pendDepth.push(0);
    pendLeft.push(root.children);
  }
  while (pendDepth.length > 0) {
    const top = pendDepth.length - 1;
    const depth = pendDepth[top] + 1;
    if (--pendLeft[top] === 0) {
      pendDepth.pop();
      pendLeft.pop();
    }
    const node = readNode();
    let ni = index.get(node.name);
    if (ni === undefined) {
      ni = names.push(node.name) - 1;
      index.set(node.name, ni);
    }
    path.length = depth - 1;
    path.push(ni);
    if (node.self > 0) {
      stacks.push(Uint32Array.from(path).reverse());
      values.push(node.self);
    }
    if (node.children > 0) {
      pendDepth.push(depth);
      pendLeft.push(node.children);
    }
  }
  if (r.remaining !== 0) {
    throw new BadRequestError(`malformed tree bytes: ${r.remaining} trailing bytes after the last node`);
  }
  return { names, stacks, values };
}

class ByteReader {
  offset = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  uvarint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.buf.length) {
        throw new BadRequestError(`malformed tree bytes: truncated varint at offset ${this.offset}`);
      }
      const b = this.buf[this.offset++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) {
          throw new BadRequestError(`malformed tree bytes: varint above 2^53 at offset ${this.offset}`);
        }
        return v;
      }
      scale *= 0x80;
    }
    throw new BadRequestError(`malformed tree bytes: varint longer than 10 bytes at offset ${this.offset}`);
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) {
      throw new BadRequestError(`malformed tree bytes: a ${n}-byte name overruns the input at offset ${this.offset}`);
    }
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}
