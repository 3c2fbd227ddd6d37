/**
 * The pprof decoder reads the usual shapes of entries, locations and functions straight from
 * the bytes and leaves anything else to the general protobuf reader. These tests encode the
 * same profile both ways (usual, and with every quirk that forces the general path) and
 * require the same result, and the same errors.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Profile } from '../../core/model.ts';
import { decodePprof } from '../../formats/pprof/index.ts';
import { WIRE_LEN, WIRE_VARINT } from '../../formats/protobuf/reader.ts';
import { ProtoWriter } from '../../formats/protobuf/writer.ts';
import { refusalOf } from '../support/pprof-refusal.ts';

interface Quirks {
  /** Write ids after the other fields of locations and functions. */
  idLast?: boolean;
  /** Add an unknown length-delimited field to every location, line and function. */
  unknownFields?: boolean;
  /** Negative line numbers (ten-byte varints). */
  negativeLines?: boolean;
  /** Offset every location and function id (ids of three bytes and more). */
  idOffset?: number;
  /** One long string (a length of three bytes). */
  longString?: boolean;
  /** A mapping id of five bytes. */
  bigMapping?: boolean;
}

const LONG = 'x'.repeat(20_000);

interface Fixture {
  strings: string[];
  /** [name, system name] string indices. */
  functions: Array<[number, number]>;
  /** Function ids (1-based positions in `functions`) per location, leaf first; [] for none. */
  locations: number[][];
  samples: Array<{ locs: number[]; values: number[] }>;
}

function fixture(longString: boolean): Fixture {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main', 'work', 'inlined', 'leaf', '_Zsys', longString ? LONG : 'short', 'libfoo.so'];
  return {
    strings,
    functions: [[5, 0], [6, 0], [7, 0], [8, 0], [0, 9], [10, 0], [0, 0]],
    locations: [[1], [2], [3, 4], [5], [6], [], [7]],
    samples: [
      { locs: [3, 2, 1], values: [1, 10] },
      { locs: [4, 2, 1], values: [2, 20] },
      { locs: [5, 6, 7, 1], values: [3, 30] },
      { locs: [3, 2, 1], values: [4, 40] },
      { locs: [2, 1], values: [0, 0] },
    ],
  };
}

function encode(q: Quirks): Uint8Array {
  const f = fixture(q.longString ?? false);
  const off = q.idOffset ?? 0;
  const mappingId = q.bigMapping ? 2 ** 30 + 1 : 1;
  const w = new ProtoWriter();
  const unknown = (): void => {
    if (q.unknownFields) w.stringField(15, 'ignored');
  };
  for (const [type, unit] of [[1, 2], [3, 4]]) w.begin(1).varintField(1, type).varintField(2, unit).end();
  for (const s of f.samples) {
    w.begin(2).packedVarints(1, s.locs.map((l) => l + off)).packedVarints(2, s.values).end();
  }
  w.begin(3).varintField(1, mappingId).varintField(5, 11).end();
  f.locations.forEach((fns, i) => {
    const id = i + 1 + off;
    w.begin(4);
    if (!q.idLast) w.varintField(1, id);
    unknown();
    w.varintField(2, mappingId);
    w.tag(3, WIRE_VARINT).varint(0x7f0000001000 + i * 16);
    for (const fn of fns) {
      w.begin(4).varintField(1, fn + off);
      if (q.negativeLines) w.tag(2, WIRE_VARINT).varint(-1);
      else w.varintField(2, 42);
      unknown();
      w.end();
    }
    if (q.idLast) w.varintField(1, id);
    w.end();
  });
  f.functions.forEach(([name, sys], i) => {
    w.begin(5);
    if (!q.idLast) w.varintField(1, i + 1 + off);
    w.varintField(2, name).varintField(3, sys).varintField(4, 0);
    unknown();
    if (q.idLast) w.varintField(1, i + 1 + off);
    w.end();
  });
  for (const s of f.strings) w.stringField(6, s);
  w.tag(12, WIRE_VARINT).varint(10);
  return w.finish();
}

/** What a decode says, independent of internal numbering. */
function summary(p: Profile): unknown {
  return {
    sampleTypes: p.sampleTypes,
    names: p.names,
    samples: p.samples.map((s) => ({ frames: [...p.stacks[s.stack]].map((i) => p.names[i]), values: s.values, labels: p.sampleLabelSets[s.labelSet] })),
    stacks: p.stacks.length,
  };
}

describe('pprof decoding: in-place and general paths agree', () => {
  const usual = summary(decodePprof(encode({})));

  test('the usual encoding decodes as expected', () => {
    const s = usual as { names: string[]; samples: Array<{ frames: string[] }> };
    assert.deepEqual(s.samples.map((x) => x.frames), [
      ['inlined', 'leaf', 'work', 'main'],
      ['_Zsys', 'work', 'main'],
      ['short', 'libfoo.so+0x7f0000001050', 'libfoo.so+0x7f0000001060', 'main'],
      ['inlined', 'leaf', 'work', 'main'],
    ]);
  });

  const variants: Array<[string, Quirks]> = [
    ['ids after the other fields', { idLast: true }],
    ['unknown fields in locations, lines and functions', { unknownFields: true }],
    ['negative line numbers', { negativeLines: true }],
    ['ids of three bytes', { idOffset: 20_000 }],
    ['ids of five bytes', { idOffset: 2 ** 29 }],
    ['a mapping id of five bytes', { bigMapping: true }],
  ];
  for (const [what, q] of variants) {
    test(what, () => {
      assert.deepEqual(summary(decodePprof(encode(q))), usual);
    });
  }

  test('a string longer than 16 KiB', () => {
    const p = decodePprof(encode({ longString: true }));
    assert.equal(p.names.includes(LONG), true);
    const again = decodePprof(encode({ longString: true, idLast: true, unknownFields: true }));
    assert.deepEqual(summary(again), summary(p));
  });
});

describe('pprof decoding: errors are the same on both paths', () => {
  /** A profile with one sample on one location whose line calls `fnId`, and one function. */
  function oneFrame(fnId: number, nameIdx: number, quirky: boolean): Uint8Array {
    const w = new ProtoWriter();
    w.begin(1).varintField(1, 1).varintField(2, 2).end();
    w.begin(2).packedVarints(1, [1]).packedVarints(2, [1]).end();
    w.begin(4);
    if (quirky) w.stringField(15, 'x');
    w.varintField(1, 1);
    w.begin(4).varintField(1, fnId).end();
    w.end();
    w.begin(5);
    if (quirky) w.tag(15, WIRE_LEN).string('y');
    w.varintField(1, 1).varintField(2, nameIdx).end();
    for (const s of ['', 'samples', 'count', 'f']) w.stringField(6, s);
    return w.finish();
  }

  test('a line that refers to a missing function', () => {
    const usual = refusalOf(oneFrame(7, 3, false));
    assert.match(usual, /function id 7/);
    assert.equal(refusalOf(oneFrame(7, 3, true)), usual);
  });

  test('a function name outside the string table', () => {
    const usual = refusalOf(oneFrame(1, 99, false));
    assert.match(usual, /string 99/);
    assert.equal(refusalOf(oneFrame(1, 99, true)), usual);
  });

  test('a location cut short inside a line', () => {
    const good = oneFrame(1, 3, false);
    // The location's line is its last field: shorten the location by one byte, so the line
    // claims more bytes than the location has.
    const w = new ProtoWriter();
    w.begin(1).varintField(1, 1).varintField(2, 2).end();
    w.begin(2).packedVarints(1, [1]).packedVarints(2, [1]).end();
    w.bytesField(4, Uint8Array.of(0x08, 0x01, 0x22, 0x03, 0x08, 0x01));
    w.begin(5).varintField(1, 1).varintField(2, 3).end();
    for (const s of ['', 'samples', 'count', 'f']) w.stringField(6, s);
    assert.equal(decodePprof(good).names.includes('f'), true);
    assert.match(refusalOf(w.finish()), /truncated/);
  });
});
