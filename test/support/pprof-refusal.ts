/** What the pprof decoder says when it refuses an input; the test fails if it accepts it. */
import assert from 'node:assert/strict';
import { BadRequestError } from '../../core/errors.ts';
import { decodePprof } from '../../formats/pprof/index.ts';

export function refusalOf(bytes: Uint8Array): string {
  try {
    decodePprof(bytes);
  } catch (err) {
    assert.ok(err instanceof BadRequestError, String(err));
    return err.message;
  }
  assert.fail('expected a BadRequestError');
}
