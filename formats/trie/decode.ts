/**
 * Pyroscope's legacy "trie" upload format: a prefix tree of stack keys (`a;b;c`) written in
 * depth-first pre-order, each node as uvarint len(prefix), the prefix bytes, uvarint value,
 * uvarint number of children. A node's key is the concatenation of the prefixes on its path;
 * a node with a value above 0 contributes that key with that value.
 */
import { FormatError } from '../format-error.ts';

export class TrieError extends FormatError {
  constructor(message: string) {
    super('trie', message);
  }
}

export interface TrieEntry {
  /** The stack key, frames joined by ";" root first. */
  key: string;
  value: number;
}

export function decodeTrie(bytes: Uint8Array): TrieEntry[] {
  const out: TrieEntry[] = [];
  if (bytes.length === 0) return out;
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  const uvarint = (): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.length) throw new TrieError(`truncated varint at byte ${pos}`);
      const b = bytes[pos++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) throw new TrieError(`value above 2^53 at byte ${pos}`);
        return v;
      }
      scale *= 0x80;
    }
    throw new TrieError(`varint longer than 10 bytes at byte ${pos}`);
  };
  // Open ancestors: the byte length of the key before each one's prefix, and its children still unread.
  const keyLens: number[] = [];
  const left: number[] = [];
  let key: Uint8Array = new Uint8Array(64);
  let keyLen = 0;
  let first = true;
  while (first || left.length > 0) {
    if (!first) {
      // Back out of finished subtrees down to the parent of the next node.
      const top = left.length - 1;
      left[top]--;
    }
    const len = uvarint();
    if (len > bytes.length - pos) throw new TrieError(`a ${len}-byte prefix at byte ${pos} overruns the input`);
    if (keyLen + len > key.length) {
      const grown = new Uint8Array(Math.max(2 * key.length, keyLen + len));
      grown.set(key.subarray(0, keyLen));
      key = grown;
    }
    key.set(bytes.subarray(pos, pos + len), keyLen);
    pos += len;
    const start = keyLen;
    keyLen += len;
    const value = uvarint();
    const children = uvarint();
    // Every child takes at least three bytes.
    if (children * 3 > bytes.length - pos) throw new TrieError(`node at byte ${pos} claims ${children} children, more than the input holds`);
    if (value > 0) out.push({ key: utf8.decode(key.subarray(0, keyLen)), value });
    first = false;
    if (children > 0) {
      keyLens.push(start);
      left.push(children);
    } else {
      keyLen = start;
      while (left.length > 0 && left[left.length - 1] === 0) {
        left.pop();
        keyLen = keyLens.pop()!;
      }
    }
  }
  if (pos !== bytes.length) throw new TrieError(`${bytes.length - pos} trailing bytes after the last node`);
  return out;
}
