// Hostile-input fuzzing of decodePayload: truncations, bit flips, random and mutated bytes,
// oversized header fields. Every input must decode or throw CodecError, quickly, without
// allocating from untrusted sizes; in version 2 any change to the body is a BAD_CHECKSUM.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadVectors, unhex } from '../../test/vectors.js';
import { CodecError } from './codec-error.js';
import { decodePayload, encodePayload } from './payload.js';
import { encodePayloadHeader } from './payload-header.js';

interface PayloadVector {
  name: string;
  payload: string;
  schema_hash: string;
}

const vectors = loadVectors<PayloadVector[]>('payloads');
const reference = vectors.map((v) => ({ name: v.name, bytes: unhex(v.payload) }));
const oneRow = decodePayload(reference[0]!.bytes).changes;
const manyRows = decodePayload(reference.find((r) => r.name === 'compressible-500-rows')!.bytes).changes;

const variants = [
  ...reference,
  { name: 'one-row v1 raw', bytes: encodePayload(oneRow, { schemaHash: 1n, version: 1, compress: false }) },
  { name: 'one-row v2 lz4', bytes: encodePayload(oneRow, { schemaHash: 1n }) },
  { name: 'one-row v2 raw', bytes: encodePayload(oneRow, { schemaHash: 1n, compress: false }) },
  { name: '500 rows v2 lz4', bytes: encodePayload(manyRows, { schemaHash: 1n }) },
  { name: '500 rows v1 raw', bytes: encodePayload(manyRows, { schemaHash: 1n, version: 1, compress: false }) },
];

/** Decodes and returns 'ok' or the CodecError code; any other exception fails the test. */
function attempt(bytes: Uint8Array, maxExpandedSize?: number): string {
  try {
    decodePayload(bytes, maxExpandedSize === undefined ? {} : { maxExpandedSize });
    return 'ok';
  } catch (error) {
    if (error instanceof CodecError) return error.code;
    throw error;
  }
}

function header(fields: { version?: number; expandedSize?: number; nrows?: number; ncols?: number }, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(32 + body.length);
  encodePayloadHeader(
    {
      version: fields.version ?? 1,
      libVersion: [0, 8, 12],
      expandedSize: fields.expandedSize ?? 0,
      ncols: fields.ncols ?? 9,
      nrows: fields.nrows ?? 1,
      schemaHash: 1n,
      checksum: null,
    },
    out,
  );
  out.set(body, 32);
  return out;
}

/** Lengths to try: all of them for small inputs, else a spread that includes both ends. */
function lengths(n: number): number[] {
  if (n <= 4096) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < 1000; i++) out.add(i).add(n - 1 - i);
  for (let i = 0; i < 2000; i++) out.add(Math.floor((i * n) / 2000));
  return [...out].filter((i) => i >= 0 && i < n);
}

test('every variant decodes intact', () => {
  for (const { name, bytes } of variants) assert.equal(attempt(bytes), 'ok', name);
});

test('truncation at every length is a CodecError', { timeout: 60_000 }, () => {
  for (const { name, bytes } of variants) {
    for (const n of lengths(bytes.length)) {
      const code = attempt(bytes.subarray(0, n));
      assert.notEqual(code, 'ok', `${name} cut at ${n}`);
    }
  }
});

test('single bit flips: a result or a CodecError; in version 2 a body flip is BAD_CHECKSUM', { timeout: 60_000 }, () => {
  for (const { name, bytes } of variants.filter((v) => v.bytes.length < 1024)) {
    const version = bytes[4];
    const copy = bytes.slice();
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        copy[i] = bytes[i]! ^ (1 << bit);
        const code = attempt(copy);
        if (version === 2 && i >= 26) assert.equal(code, 'BAD_CHECKSUM', `${name} byte ${i} bit ${bit}`);
        copy[i] = bytes[i]!;
      }
    }
  }
});

test('hostile header fields are refused before allocating or parsing', () => {
  const body = new Uint8Array(100);
  assert.equal(attempt(header({ nrows: 0xffffffff }, body)), 'BAD_SIZE');
  assert.equal(attempt(header({ expandedSize: 0xffffffff }, body)), 'TOO_LARGE');
  assert.equal(attempt(header({ expandedSize: 100 * 255 + 1 }, body)), 'TOO_LARGE');
  assert.equal(attempt(header({ expandedSize: 4096 }, body), 1000), 'TOO_LARGE');
  assert.equal(attempt(header({ ncols: 0xffff }, body)), 'BAD_SIZE');
  assert.equal(attempt(header({ version: 255 }, body)), 'BAD_VERSION');
  // A TEXT claiming 2^63-1 bytes inside a raw body.
  const text = unhex('437fffffffffffffff' + '00'.repeat(40));
  assert.equal(attempt(header({ nrows: 1 }, text)), 'TRUNCATED');
});

test('an LZ4 bomb inflates only within the 255:1 bound and then fails cleanly', () => {
  // One literal, then a match of 15 + 4 + 255 * k bytes at offset 1, then 5 last literals.
  const k = 4000;
  const block = Uint8Array.from([0x1f, 0x61, 0x01, 0x00, ...new Array<number>(k).fill(255), 0, 0x50, 0x61, 0x61, 0x61, 0x61, 0x61]);
  const size = 1 + 15 + 4 + 255 * k + 5;
  assert.ok(size <= block.length * 255);
  const started = performance.now();
  assert.equal(attempt(header({ expandedSize: size, nrows: 1 }, block)), 'BAD_VALUE'); // 'a' = 0x61 is not a canonical type byte
  assert.equal(attempt(header({ expandedSize: size + 1, nrows: 1 }, block)), 'LZ4');
  assert.ok(performance.now() - started < 1000);
});

test('property: random bytes, and random bytes behind a valid header', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.notEqual(attempt(bytes), 'ok');
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400 }),
      fc.nat({ max: 20 }),
      fc.oneof(fc.constant(0), fc.nat({ max: 4000 })),
      (body, nrows, expandedSize) => {
        attempt(header({ nrows, expandedSize }, body));
      },
    ),
    { numRuns: 5000 },
  );
});

test('property: mutated valid payloads decode or throw CodecError', () => {
  const sources = variants.filter((v) => v.bytes.length < 20_000).map((v) => v.bytes);
  fc.assert(
    fc.property(
      fc.constantFrom(...sources),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (source, edits) => {
        const copy = source.slice();
        for (const [at, value] of edits) copy[32 + (at % (copy.length - 32))] = value;
        if (copy[4] === 2) {
          const code = attempt(copy);
          if (copy.some((b, i) => b !== source[i])) assert.equal(code, 'BAD_CHECKSUM');
        } else {
          attempt(copy);
        }
      },
    ),
    { numRuns: 3000 },
  );
});
