// Grouping a payload's changes by row through offsets gives exactly the groups of groupByRow over
// the decoded changes, hash collisions included.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Change, encodePayload, PayloadRows } from '../codec/payload.js';
import { encodePk } from '../codec/pk.js';
import { groupByRow } from './merge.js';
import { PayloadRowGroups, rowHashOf } from './payload-row-groups.js';
import { collatedPk, type RowKeyOf } from './row-keys.js';

const SITE = new Uint8Array(16).fill(7);

function change(tbl: string, key: number | string, seq: number): Change {
  return { tbl, pk: encodePk([typeof key === 'number' ? BigInt(key) : key]), colName: 'v', colValue: BigInt(seq), colVersion: 1, dbVersion: 1 + (seq >> 4), siteId: SITE, cl: 1, seq };
}

/** Groups as lists of seq numbers (each change's seq is unique here). */
function viaOffsets(changes: Change[], rowKeyOf?: RowKeyOf): number[][] {
  const rows = new PayloadRows(encodePayload(changes, { schemaHash: 1n }));
  const groups = new PayloadRowGroups(rows, rows.header.nrows, rowKeyOf);
  for (let i = 0; i < rows.header.nrows; i++) {
    const offset = rows.offset;
    groups.add(offset, rows.read());
  }
  rows.finish();
  return [...groups.changesByRow()].map((group) => group.map((c) => c.seq));
}

function viaObjects(changes: Change[], rowKeyOf?: RowKeyOf): number[][] {
  return groupByRow(changes, rowKeyOf).map((group) => group.map((c) => c.seq));
}

/** Table 'n' (also written 'N') has a NOCASE key, table 'r' an RTRIM one; the others compare bytes. */
const rowKeyOf: RowKeyOf = (c) => (c.tbl.toLowerCase() === 'n' ? collatedPk(c.pk, ['NOCASE']) : c.tbl === 'r' ? collatedPk(c.pk, ['RTRIM']) : null);

test('the same groups as groupByRow, in the same order, for any interleaving of rows and tables', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'é'), fc.oneof(fc.integer({ min: -5, max: 40 }), fc.constantFrom('x', 'y', ''))), { maxLength: 300 }), (rows) => {
      const changes = rows.map(([tbl, key], seq) => change(tbl, key, seq));
      assert.deepEqual(viaOffsets(changes), viaObjects(changes));
    }),
  );
});

test('keys equal under NOCASE or RTRIM, and table names in another case, are one row in both groupings; other keys compare bytes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('n', 'N', 'r', 'b', 'B'), fc.constantFrom('x', 'X', 'x ', 'X ', 'y', 7)), { maxLength: 200 }), (rows) => {
      const changes = rows.map(([tbl, key], seq) => change(tbl, key, seq));
      const groups = viaOffsets(changes, rowKeyOf);
      assert.deepEqual(groups, viaObjects(changes, rowKeyOf));
      // the expected rows: the key as the table's collation sees it
      const rowOf = ([name, key]: [string, string | number]) => {
        const tbl = name.toLowerCase();
        return `${tbl}:${typeof key === 'string' ? (tbl === 'n' ? key.toLowerCase() : tbl === 'r' ? key.trimEnd() : key) : key}`;
      };
      const expected = new Map<string, number[]>();
      rows.forEach((row, seq) => expected.set(rowOf(row), [...(expected.get(rowOf(row)) ?? []), seq]));
      assert.deepEqual(groups, [...expected.values()]);
    }),
  );
});

test('keys whose hashes collide stay apart', () => {
  // 'k149599' and 'k312382' share their 30-bit hash (found by search); the test checks it still holds.
  const [a, b] = ['k149599', 'k312382'];
  assert.equal(rowHashOf('t', change('t', a, 0).pk), rowHashOf('t', change('t', b, 0).pk), 'the pinned keys no longer collide: search a new pair');
  const keys = [a, b, 'k1', a, b, b, 'k1', a];
  const changes = keys.map((key, seq) => change('t', key, seq));
  assert.deepEqual(viaOffsets(changes), [[0, 3, 7], [1, 4, 5], [2, 6]]);
  assert.deepEqual(viaOffsets(changes), viaObjects(changes));
});
