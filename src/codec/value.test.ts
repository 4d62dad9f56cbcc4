// Value encoding against the reference vectors, canonical-form checks, the merge ordering,
// and fast-check round trips over every SQLite type.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromTyped, hex, loadVectors, toTyped, unhex, type TypedValue } from '../../test/vectors.js';
import { CodecError } from './codec-error.js';
import {
  ByteReader,
  ByteWriter,
  compareValues,
  readIntNumber,
  readValue,
  valuesEqual,
  writeInt,
  writeValue,
  type SqlValue,
} from './value.js';
import { codeOf } from '../../test/support/error-code.js';

interface ValueVectors {
  values: { value: TypedValue; encoded: string; pk: string }[];
  tuples: { values: TypedValue[]; pk: string }[];
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function encode(v: SqlValue): Uint8Array {
  const w = new ByteWriter(4);
  writeValue(w, v);
  return w.finish().slice();
}

function decode(bytes: Uint8Array): SqlValue {
  const r = new ByteReader(bytes);
  const v = readValue(r);
  assert.equal(r.remaining, 0, 'value must use every byte');
  return v;
}

/** What a string becomes after a UTF-8 round trip (lone surrogates turn into U+FFFD). */
function wellFormed(s: string): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(s));
}


/** Independent model of the encoding, written with bigint arithmetic only. */
function modelEncode(v: SqlValue): string {
  const sized = (code: number, m: bigint): string => {
    let n = 1;
    while (m >= 1n << BigInt(8 * n - 1)) n++;
    return ((n << 3) | code).toString(16).padStart(2, '0') + m.toString(16).padStart(2 * n, '0');
  };
  if (v === null) return '05';
  if (typeof v === 'bigint') return v === INT64_MIN ? '06' : v < 0n ? sized(0, -v) : sized(1, v);
  if (typeof v === 'number') {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, v < 0 ? -v : v);
    return (v < 0 ? '07' : '02') + hex(new Uint8Array(view.buffer));
  }
  const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : v;
  return sized(typeof v === 'string' ? 3 : 4, BigInt(bytes.length)) + hex(bytes);
}

const sqlValue: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(INT64_MIN, INT64_MAX, INT64_MIN + 1n, 0n, -1n, 127n, 128n, -128n, 2n ** 53n, -(2n ** 53n) - 1n),
  fc.integer().map((n) => BigInt(n)),
  fc.double(), // includes NaN, -0, ±Infinity and subnormals
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ minLength: 43, maxLength: 400 }),
  fc.uint8Array({ maxLength: 300 }),
  fc.constant(null),
);

test('values.json: every value encodes to its bytes and decodes back', () => {
  const { values } = loadVectors<ValueVectors>('values');
  assert.ok(values.length > 0);
  for (const { value, encoded } of values) {
    const v = fromTyped(value);
    assert.equal(hex(encode(v)), encoded, JSON.stringify(value).slice(0, 80));
    assert.deepEqual(toTyped(decode(unhex(encoded))), value);
  }
});

test('writeValue accepts Node Buffers as BLOBs', () => {
  assert.equal(hex(encode(Buffer.from([0, 1, 255]))), '0c030001ff');
});

test('REAL keeps its type even when integral, and -0.0/NaN round-trip', () => {
  assert.equal(hex(encode(2)), '024000000000000000');
  assert.equal(hex(encode(-0)), '028000000000000000'); // -0.0 is not < 0: code 2 with the sign bit
  assert.ok(Object.is(decode(encode(-0)), -0));
  assert.ok(Number.isNaN(decode(encode(NaN))));
  assert.equal(decode(encode(-Infinity)), -Infinity);
});

test('TEXT keeps a leading BOM and decodes invalid UTF-8 leniently to U+FFFD', () => {
  assert.equal(decode(encode('\ufeffx')), '\ufeffx');
  assert.equal(decode(unhex('0b0261ff')), 'a\ufffd');
  assert.equal(decode(encode('a\ud800b')), 'a\ufffdb'); // lone surrogate: as TextEncoder does
});

test('writeValue rejects integers outside int64 and non-values', () => {
  assert.equal(codeOf(() => encode(INT64_MAX + 1n)), 'BAD_VALUE');
  assert.equal(codeOf(() => encode(INT64_MIN - 1n)), 'BAD_VALUE');
  assert.equal(codeOf(() => encode(undefined as unknown as SqlValue)), 'BAD_TYPE');
  assert.equal(codeOf(() => encode(true as unknown as SqlValue)), 'BAD_TYPE');
  assert.equal(codeOf(() => encode(new Uint16Array(2) as unknown as SqlValue)), 'BAD_TYPE');
});

test('readValue rejects truncated and non-canonical encodings', () => {
  const cases: [string, string][] = [
    ['', 'TRUNCATED'],
    ['09', 'TRUNCATED'],
    ['01', 'BAD_VALUE'], // integer with nbytes 0
    ['490000000000000000', 'BAD_VALUE'], // integer with nbytes 9
    ['110005', 'BAD_VALUE'], // 5 in two bytes
    ['0980', 'BAD_VALUE'], // top bit set: 128 needs two bytes
    ['0800', 'BAD_VALUE'], // negative zero
    ['418000000000000000', 'BAD_VALUE'], // 2^63 does not fit int64
    ['408000000000000000', 'BAD_VALUE'], // -2^63 must use code 6
    ['0a3ff0000000000000', 'BAD_VALUE'], // REAL with nbytes 1
    ['02bff0000000000000', 'BAD_VALUE'], // negative REAL under code 2
    ['070000000000000000', 'BAD_VALUE'], // code 7 holding zero
    ['07bff0000000000000', 'BAD_VALUE'], // code 7 holding a negative
    ['023ff00000', 'TRUNCATED'],
    ['0b056162', 'TRUNCATED'],
    ['0c7f', 'TRUNCATED'],
    ['0b80', 'BAD_VALUE'], // length 128 in one byte
    ['13007f', 'BAD_VALUE'], // length 127 in two bytes
    ['437fffffffffffffff', 'TRUNCATED'], // a 2^63-byte text is never allocated
    ['0d', 'BAD_VALUE'], // NULL with nbytes 1
    ['0e', 'BAD_VALUE'], // INT64_MIN with nbytes 1
  ];
  for (const [bytes, code] of cases) assert.equal(codeOf(() => decode(unhex(bytes))), code, bytes);
});

test('writeInt and readIntNumber handle JS numbers', () => {
  const w = new ByteWriter();
  for (const n of [0, 1, 127, 128, -1, -128, 65535, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    w.reset();
    writeInt(w, n);
    assert.equal(hex(w.finish()), modelEncode(BigInt(n)));
    assert.equal(readIntNumber(new ByteReader(w.finish())), n);
  }
  assert.equal(codeOf(() => writeInt(w, 1.5)), 'BAD_VALUE');
  assert.equal(codeOf(() => writeInt(w, NaN)), 'BAD_VALUE');
  assert.equal(codeOf(() => writeInt(w, 2 ** 53)), 'BAD_VALUE');
  assert.equal(codeOf(() => readIntNumber(new ByteReader(encode(1.5)))), 'BAD_TYPE');
  assert.equal(codeOf(() => readIntNumber(new ByteReader(encode('1')))), 'BAD_TYPE');
  assert.equal(codeOf(() => readIntNumber(new ByteReader(encode(2n ** 53n)))), 'BAD_VALUE');
  assert.equal(codeOf(() => readIntNumber(new ByteReader(encode(INT64_MIN)))), 'BAD_VALUE');
  assert.equal(codeOf(() => readIntNumber(new ByteReader(unhex('0980')))), 'BAD_VALUE');
});

test('compareValues: different types order INTEGER > REAL > TEXT > BLOB > NULL', () => {
  const ladder: SqlValue[] = [1n, 9.5, 'x', new Uint8Array([0xff]), null];
  for (let i = 0; i < ladder.length; i++) {
    for (let j = 0; j < ladder.length; j++) {
      assert.equal(Math.sign(compareValues(ladder[i]!, ladder[j]!)), Math.sign(j - i), `${i} vs ${j}`);
    }
  }
  assert.ok(compareValues(1n, 9.5) > 0, 'integer 1 beats real 9.5');
  assert.ok(compareValues(5n, 'x') > 0, 'integer 5 beats text x');
});

test('compareValues: same types', () => {
  assert.ok(compareValues(1n, 2n) < 0);
  assert.ok(compareValues(INT64_MAX, INT64_MIN) > 0);
  assert.ok(compareValues(-1.5, 2.5) < 0);
  assert.equal(compareValues(0, -0), 0);
  assert.equal(compareValues(NaN, 1), 0); // like the C comparison
  assert.ok(compareValues('a', 'b') < 0);
  assert.ok(compareValues('a', 'ab') < 0);
  assert.ok(compareValues('B', 'a') < 0, 'no collation: bytewise');
  assert.equal(compareValues('a\0b', 'a\0c'), 0, 'strcmp stops at NUL');
  assert.equal(compareValues('a\0', 'a'), 0);
  assert.ok(compareValues('\uffff', '\u{1f600}') < 0, 'UTF-8 byte order, not UTF-16 unit order');
  assert.ok(compareValues(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])) < 0);
  assert.ok(compareValues(new Uint8Array([2]), new Uint8Array([1, 9])) > 0);
  assert.equal(compareValues(null, null), 0);
});

test('valuesEqual is type-sensitive identity', () => {
  assert.equal(valuesEqual(1n, 1), false);
  assert.equal(valuesEqual(0, -0), false);
  assert.equal(valuesEqual(NaN, NaN), true);
  assert.equal(valuesEqual('1', 1n), false);
  assert.equal(valuesEqual(new Uint8Array([1, 2]), Buffer.from([1, 2])), true);
  assert.equal(valuesEqual(new Uint8Array([1, 2]), new Uint8Array([1])), false);
  assert.equal(valuesEqual(null, null), true);
  assert.equal(valuesEqual(null, 0n), false);
});

test('property: every value round-trips, matches the model and is canonical', () => {
  fc.assert(
    fc.property(sqlValue, (v) => {
      const bytes = encode(v);
      assert.equal(hex(bytes), modelEncode(typeof v === 'string' ? wellFormed(v) : v));
      const back = decode(bytes);
      assert.ok(valuesEqual(back, typeof v === 'string' ? wellFormed(v) : v));
      assert.deepEqual(encode(back), bytes);
    }),
    { numRuns: 3000 },
  );
});

test('property: compareValues is antisymmetric and TEXT order is UTF-8 byte order', () => {
  fc.assert(
    fc.property(sqlValue, sqlValue, (a, b) => {
      assert.equal(Math.sign(compareValues(a, b)), -Math.sign(compareValues(b, a)) || 0);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      const bytes = (s: string) => Buffer.from(s.split('\0')[0]!, 'utf8');
      assert.equal(Math.sign(compareValues(a, b)), Math.sign(Buffer.compare(bytes(a), bytes(b))));
    }),
    { numRuns: 2000 },
  );
});

test('property: random bytes decode to a value or a CodecError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      try {
        const r = new ByteReader(bytes);
        while (r.remaining > 0) readValue(r);
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }),
    { numRuns: 3000 },
  );
});
