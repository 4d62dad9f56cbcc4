// Round trips and corruption checks of the clocks column encoding.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type RowClocks, causalLength, freshClocks, maxDbVersion, readRowClocks, writeRowClocks } from './row-clocks.js';

const clock = fc.record({
  version: fc.nat({ max: 2 ** 40 }),
  dbVersion: fc.nat({ max: 2 ** 40 }),
  seq: fc.nat({ max: 2 ** 30 }),
  site: fc.nat({ max: 2 ** 20 }),
}).map((c) => ({ ...c }));

test('the JSON form round-trips any clocks', () => {
  fc.assert(
    fc.property(fc.option(clock, { nil: null }), fc.array(fc.option(clock, { nil: null }), { maxLength: 70 }), (sentinel, cells) => {
      const clocks: RowClocks = { sentinel, cells };
      assert.deepEqual(readRowClocks(writeRowClocks(clocks), cells.length), clocks);
    }),
  );
});

test('the INTEGER form is a fresh insert: every cell version 1 at one version, consecutive seqs', () => {
  const clocks = readRowClocks(freshClocks(7, 10), 3);
  assert.deepEqual(clocks, {
    sentinel: null,
    cells: [0, 1, 2].map((i) => ({ version: 1, dbVersion: 7, seq: 10 + i, site: 0 })),
  });
  assert.equal(causalLength(clocks), 1);
  assert.equal(maxDbVersion(clocks), 7);
});

test('a column added later reads as absent; a dropped one is ignored', () => {
  const text = writeRowClocks({ sentinel: null, cells: [{ version: 2, dbVersion: 3, seq: 0, site: 0 }] });
  assert.equal(text, '3[null,[2,3,0,0]]');
  assert.deepEqual(readRowClocks(text, 2).cells[1], null);
  assert.equal(readRowClocks('1[null,[1,1,0,0],[1,1,1,0]]', 1).cells.length, 1);
});

test('corrupt clocks are refused', () => {
  for (const bad of ['x', '[]', '1', '1[]', '[null]', 'x[null]', '1{}', '1[[1,2,3]]', '1[null,[1,2,3,-4]]', '1[null,[1,2,3,4.5]]', '1[null,"a"]', new Uint8Array([1])]) {
    assert.throws(() => readRowClocks(bad, 1), /corrupt clocks/, String(bad));
  }
});
