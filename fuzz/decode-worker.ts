/** Runs decoder inputs off the main thread, so that a hang can be cut off by terminating the worker. */
import { parentPort } from 'node:worker_threads';
import { DECODERS, isCodecError } from './decoders.ts';

parentPort!.on('message', (m: { target: string; input: Uint8Array }) => {
  try {
    DECODERS[m.target](m.input);
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    if (isCodecError(err)) parentPort!.postMessage({ ok: true, refused: true });
    else parentPort!.postMessage({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) });
  }
});
