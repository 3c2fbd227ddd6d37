/**
 * Builds flame graphs for responses. Large inputs are built on a worker thread so that one
 * big query does not stall every other request on the event loop.
 */
import { toFlameGraphOffThread, type FlameGraph, type MergedStacks } from '../formats/flamegraph/index.ts';

export async function flameGraphOf(merged: MergedStacks, maxNodes: number): Promise<FlameGraph> {
  return toFlameGraphOffThread(merged, maxNodes);
}
