// Primary-key blobs against the reference vectors, strict decoding and round-trip properties.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromTyped, hex, loadVectors, toTyped, unhex, type TypedValue } from '../../test/vectors.js';
import { decodePk, encodePk } from './pk.js';
import { valuesEqual, type SqlValue } from './value.js';
import { codeOf } from '../../test/support/error-code.js';

interface ValueVectors {
  values: { value: TypedValue; encoded: string; pk: string }[];
  tuples: { values: TypedValue[]; pk: string }[];
}


const pkValue: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 60 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.constant(null),
);

test('values.json: the primary-key blob of every single value and tuple', () => {
  const { values, tuples } = loadVectors<ValueVectors>('values');
  for (const { value, pk } of values) {
    assert.equal(hex(encodePk([fromTyped(value)])), pk);
    assert.deepEqual(decodePk(unhex(pk)).map(toTyped), [value]);
  }
  assert.ok(tuples.length > 0);
  for (const { values: tuple, pk } of tuples) {
    assert.equal(hex(encodePk(tuple.map(fromTyped))), pk);
    assert.deepEqual(decodePk(unhex(pk)).map(toTyped), tuple);
  }
});

test('encodePk takes 1..255 values', () => {
  assert.equal(codeOf(() => encodePk([])), 'BAD_VALUE');
  assert.equal(codeOf(() => encodePk(new Array<SqlValue>(256).fill(1n))), 'BAD_VALUE');
  const max = encodePk(new Array<SqlValue>(255).fill(null));
  assert.equal(max[0], 255);
  assert.equal(decodePk(max).length, 255);
});

test('decodePk is strict', () => {
  assert.equal(codeOf(() => decodePk(new Uint8Array())), 'TRUNCATED');
  assert.equal(codeOf(() => decodePk(unhex('00'))), 'BAD_VALUE');
  assert.equal(codeOf(() => decodePk(unhex('020901'))), 'TRUNCATED');
  assert.equal(codeOf(() => decodePk(unhex('01090100'))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePk(unhex('01110001'))), 'BAD_VALUE'); // non-canonical 1
});

test('decodePk returns BLOB values that do not alias the key', () => {
  const blob = encodePk([new Uint8Array([1, 2, 3])]);
  const [value] = decodePk(blob);
  blob[blob.length - 1] = 9;
  assert.deepEqual(value, new Uint8Array([1, 2, 3]));
});

test('property: primary keys of 1..255 values round-trip byte for byte', () => {
  fc.assert(
    fc.property(fc.array(pkValue, { minLength: 1, maxLength: 255 }), (values) => {
      const blob = encodePk(values);
      const back = decodePk(blob);
      assert.equal(back.length, values.length);
      back.forEach((v, i) => assert.ok(valuesEqual(v, values[i]!)));
      assert.deepEqual(encodePk(back), blob);
    }),
    { numRuns: 500 },
  );
});
