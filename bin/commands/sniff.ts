/**
 * What a file holds, told from its bytes rather than its name: pprof (protobuf, gzipped or
 * not), JFR (`FLR\0`, gzipped or not), folded stacks (text lines ending in a count), or none.
 */
import { gunzipSync } from 'node:zlib';

export type ProfileFormat = 'pprof' | 'jfr' | 'folded';

export interface Sniffed {
  format?: ProfileFormat;
  /** What to upload: the file as is for pprof (the server inflates it), the inflated bytes otherwise. */
  body: Uint8Array;
  /** Why the file is not a profile. */
  reason?: string;
}

/** Inflated content above this is not inspected: the server's own profile limit is far lower. */
const MAX_INFLATED = 256 << 20;

export function sniff(file: Uint8Array): Sniffed {
  let content = file;
  const gzipped = file.length >= 2 && file[0] === 0x1f && file[1] === 0x8b;
  if (gzipped) {
    try {
      content = gunzipSync(file, { maxOutputLength: MAX_INFLATED });
    } catch (err) {
      return { body: file, reason: `gzip that does not inflate (${(err as Error).message})` };
    }
  }
  if (content.length === 0) return { body: file, reason: 'empty file' };
  if (content.length >= 4 && content[0] === 0x46 && content[1] === 0x4c && content[2] === 0x52 && content[3] === 0) return { format: 'jfr', body: content };
  const text = asText(content);
  if (text !== undefined) {
    const first = text.split('\n').find((l) => l.trim() !== '');
    if (first && /^\S.*\s\d+\s*$/.test(first)) return { format: 'folded', body: content };
    return { body: file, reason: 'text that is not folded stacks ("a;b;c 123" lines)' };
  }
  if (looksLikePprof(content)) return { format: 'pprof', body: file };
  return { body: file, reason: 'not a pprof, JFR or folded file' };
}

/** UTF-8 text without control characters other than tab, CR and LF. */
function asText(b: Uint8Array): string | undefined {
  const head = b.subarray(0, 64 * 1024);
  for (const c of head) if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return undefined;
  }
}

/**
 * The first field of a pprof Profile message: a key of one of its fields (1 to 14) with the
 * wire type that field has (length-delimited or varint).
 */
function looksLikePprof(b: Uint8Array): boolean {
  const field = b[0] >> 3;
  const wire = b[0] & 7;
  const lengthDelimited = [1, 2, 3, 4, 5, 6, 11, 13];
  const varint = [7, 8, 9, 10, 12, 14];
  return (wire === 2 && lengthDelimited.includes(field)) || (wire === 0 && varint.includes(field));
}
