/**
 * Location ids in samples are read without branching on their length for up to three bytes,
 * and by the general reader beyond that or near the end of the input. These tests mix ids of
 * every length, packed and one per field, with the samples last in the input so that the
 * final ids end on its last bytes.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Profile } from '../../core/model.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { WIRE_VARINT } from '../../formats/protobuf/reader.ts';
import { ProtoWriter } from '../../formats/protobuf/writer.ts';
import { refusalOf } from '../support/pprof-refusal.ts';

/** Ids at each boundary of the varint lengths, from one byte to six. */
const IDS = [1, 127, 128, 300, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 35];

/** Everything but the samples: one location per id, calling a function named `f<id>`. */
function header(w: ProtoWriter): void {
  w.begin(1).varintField(1, 1).varintField(2, 2).end();
  const strings = ['', 'samples', 'count', ...IDS.map((id) => `f${id}`)];
  IDS.forEach((id, i) => {
    w.begin(4).varintField(1, id);
    w.begin(4).varintField(1, i + 1).end();
    w.end();
    w.begin(5).varintField(1, i + 1).varintField(2, 3 + i).end();
  });
  for (const s of strings) w.stringField(6, s);
}

function framesOf(p: Profile): string[][] {
  return p.samples.map((s) => [...p.stacks[s.stack]].map((i) => p.names[i]));
}

describe('pprof decoding: location ids of every length', () => {
  const stacks = [IDS, [...IDS].reverse(), IDS.filter((_, i) => i % 2 === 0), [2 ** 35, 1], [128], [1]];
  const expected = stacks.map((ids) => ids.map((id) => `f${id}`));

  test('packed', () => {
    const w = new ProtoWriter();
    header(w);
    for (const ids of stacks) w.begin(2).packedVarints(1, ids).packedVarints(2, [1]).end();
    assert.deepEqual(framesOf(decodePprof(w.finish())), expected);
  });

  test('one per field', () => {
    const w = new ProtoWriter();
    header(w);
    // Values first, so that each sample ends on a location id.
    for (const ids of stacks) {
      w.begin(2).packedVarints(2, [1]);
      for (const id of ids) w.varintField(1, id);
      w.end();
    }
    assert.deepEqual(framesOf(decodePprof(w.finish())), expected);
  });

  test('packed, with the ids last in each sample', () => {
    const w = new ProtoWriter();
    header(w);
    for (const ids of stacks) w.begin(2).packedVarints(2, [1]).packedVarints(1, ids).end();
    assert.deepEqual(framesOf(decodePprof(w.finish())), expected);
  });

  test('an id cut short at the end of its packed field', () => {
    for (const cut of [Uint8Array.of(0x81), Uint8Array.of(0x81, 0x81), Uint8Array.of(0x01, 0x81, 0x81, 0x81)]) {
      const w = new ProtoWriter();
      header(w);
      // The packed field ends inside the id; the sample's value follows it.
      w.begin(2).bytesField(1, cut).tag(2, WIRE_VARINT).varint(1).end();
      assert.match(refusalOf(w.finish()), /truncated/);
    }
  });
});
