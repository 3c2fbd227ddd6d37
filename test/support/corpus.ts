import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The shared corpus sits beside the checkout; it is absent on a user's fresh clone. */
export const CORPUS_DIR = fileURLToPath(new URL('../../../shared/testdata/', import.meta.url));
export const HAS_CORPUS = existsSync(join(CORPUS_DIR, 'MANIFEST.md'));
export const CORPUS_SKIP = HAS_CORPUS ? false : 'the shared test corpus (../shared/testdata) is not present';
export function corpusFile(rel: string): Buffer {
  return readFileSync(join(CORPUS_DIR, rel));
}
