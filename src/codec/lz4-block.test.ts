// LZ4 block encoder/decoder: reference bodies, round trips, the end-of-block rules that the
// C decoder enforces, and a decoder that rejects malformed blocks instead of misbehaving.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as lz4js from 'lz4js';
import { loadVectors, unhex } from '../../test/vectors.js';
import { CodecError } from './codec-error.js';
import { compressBlock, decompressBlock } from './compression.js';
import { decodeLz4Block, encodeLz4Block, lz4BlockBound } from './lz4-block.js';

interface PayloadVector {
  name: string;
  payload: string;
  compressed: boolean;
}

function compress(src: Uint8Array): Uint8Array {
  const dst = new Uint8Array(lz4BlockBound(src.length));
  const n = encodeLz4Block(src, dst);
  assert.ok(n >= 0);
  return dst.slice(0, n);
}

function inflate(block: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  decodeLz4Block(block, out);
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CodecError) return error.code;
    throw error;
  }
  return 'no error';
}

/**
 * Walks a block and checks what LZ4_decompress_safe requires of a whole block: the last
 * sequence is literals only, no match starts within the last 12 bytes of output and no match
 * reaches into the last 5.
 */
function assertEndOfBlockRules(block: Uint8Array, size: number): void {
  let ip = 0;
  let op = 0;
  for (;;) {
    const token = block[ip++]!;
    let literals = token >> 4;
    if (literals === 15) for (let b = 255; b === 255; ) literals += b = block[ip++]!;
    ip += literals;
    op += literals;
    if (ip === block.length) break;
    assert.ok(op <= size - 12, `match starts at ${op} of ${size}`);
    ip += 2;
    let length = token & 15;
    if (length === 15) for (let b = 255; b === 255; ) length += b = block[ip++]!;
    op += length + 4;
    assert.ok(op <= size - 5, `match ends at ${op} of ${size}`);
  }
  assert.equal(op, size);
}

/** Deterministic incompressible bytes (xorshift32). */
function noise(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

const compressible = fc
  .tuple(fc.array(fc.uint8Array({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 400 }))
  .map(([words, picks]) => {
    const parts = picks.map((p) => words[p % words.length]!);
    return Uint8Array.from(parts.flatMap((w) => [...w]));
  });

test('decodes the LZ4 bodies written by the reference', () => {
  for (const v of loadVectors<PayloadVector[]>('payloads')) {
    const bytes = unhex(v.payload);
    const size = new DataView(bytes.buffer).getUint32(8);
    const ours = decompressBlock(bytes.subarray(32), size);
    const theirs = new Uint8Array(size);
    assert.equal(lz4js.decompressBlock(bytes, theirs, 32, bytes.length - 32, 0), size);
    assert.deepEqual(ours, theirs, v.name);
  }
});

test('property: blocks round-trip, obey the end-of-block rules and decode with lz4js too', () => {
  fc.assert(
    fc.property(fc.oneof(compressible, fc.uint8Array({ maxLength: 300 })), (src) => {
      const block = compress(src);
      assert.deepEqual(inflate(block, src.length), src);
      assertEndOfBlockRules(block, src.length);
      const viaLz4js = new Uint8Array(src.length);
      lz4js.decompressBlock(block, viaLz4js, 0, block.length, 0);
      assert.deepEqual(viaLz4js, src);
    }),
    { numRuns: 2000 },
  );
});

test('pinned: lz4js starts a match inside the last 12 bytes, which liblz4 refuses; we do not', () => {
  const src = unhex('01000000000000000000000000'); // 13 bytes
  const theirs = new Uint8Array(lz4js.compressBound(src.length));
  const n = lz4js.compressBlock(src, theirs, 0, src.length, new Uint32Array(1 << 16));
  assert.throws(() => assertEndOfBlockRules(theirs.subarray(0, n), src.length), /match starts at 2 of 13/);
  assert.deepEqual(inflate(theirs.subarray(0, n), src.length), src, 'our decoder still reads it');
  assertEndOfBlockRules(compress(src), src.length);
});

test('long runs and long literals use 255-continuation bytes', () => {
  const run = new Uint8Array(100_000).fill(7);
  const block = compress(run);
  assert.ok(block.length < 500);
  assert.deepEqual(inflate(block, run.length), run);
  const random = noise(5000);
  assert.deepEqual(inflate(compress(random), random.length), random);
});

test('compressBlock returns null unless the block shrinks', () => {
  assert.equal(compressBlock(new Uint8Array(12)), null);
  assert.equal(compressBlock(noise(1000)), null);
  const text = new TextEncoder().encode('the same words again and again, '.repeat(20));
  const block = compressBlock(text);
  assert.ok(block !== null && block.length < text.length);
  assert.deepEqual(decompressBlock(block, text.length), text);
  assert.equal(codeOf(() => decompressBlock(block, block.length * 255 + 1)), 'TOO_LARGE');
  assert.equal(codeOf(() => decompressBlock(block, -1)), 'TOO_LARGE');
  assert.equal(codeOf(() => decompressBlock(block, 1.5)), 'TOO_LARGE');
});

test('the decoder rejects malformed blocks', () => {
  const cases: [string, number][] = [
    ['', 0], // no token at all
    ['', 5],
    ['30616263', 4], // 3 literals, output expects 4
    ['40616263', 4], // 4 literals announced, 3 present
    ['30616263', 2], // literals overflow the output
    ['10610000', 10], // offset 0
    ['10610200', 10], // offset 2 with 1 byte of output
    ['1061010010', 20], // ends after a match (no last literals)
    ['106101', 10], // truncated offset
    ['1f610100', 30], // truncated match length
    ['f0', 20], // truncated literal length
    ['1f6101000a00', 20], // match overflows the output
  ];
  for (const [block, size] of cases) assert.equal(codeOf(() => inflate(unhex(block), size)), 'LZ4', `${block} -> ${size}`);
  assert.deepEqual(inflate(unhex('1061010000'), 5), unhex('6161616161'));
});

test('property: random blocks decode or throw CodecError, never past the output', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 2000 }), (block, size) => {
      try {
        inflate(block, size);
      } catch (error) {
        assert.ok(error instanceof CodecError && error.code === 'LZ4', String(error));
      }
    }),
    { numRuns: 5000 },
  );
});
