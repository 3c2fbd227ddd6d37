export { decodeTrie, TrieError } from './decode.ts';
export type { TrieEntry } from './decode.ts';
