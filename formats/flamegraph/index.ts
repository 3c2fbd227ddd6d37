export {
  buildTree,
  childCount,
  compareNames,
  forEachChild,
  nodeCount,
  nodeName,
  treeToStacks,
  OTHER_NAME,
  ROOT,
  type CallTree,
  type MergedStacks,
} from './tree.ts';
export {
  minTotal,
  truncateTree,
  TopK,
  DIFF_INPUT_TRUNCATION,
  FLAMEGRAPH_TRUNCATION,
  TREE_BYTES_TRUNCATION,
  type TruncateOptions,
} from './truncate.ts';
export {
  diffFlameGraph,
  renderFlameGraph,
  toFlamebearer,
  toFlameGraph,
  DIFF_STRIDE,
  FLAMEGRAPH_STRIDE,
  type Flamebearer,
  type FlameGraph,
  type FlameGraphDiff,
} from './flamegraph.ts';
export { decodeTreeBytes, encodeTreeBytes, toTreeBytes } from './tree-bytes.ts';
export {
  closeFlameGraphWorkers,
  toFlameGraphOffThread,
  DEFAULT_OFF_THREAD_THRESHOLD,
  type OffThreadOptions,
} from './worker.ts';
