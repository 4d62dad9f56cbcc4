// LZ4 block encoder/decoder: reference bodies, round trips at every compression level, the
// end-of-block rules that the C decoder enforces, and a decoder that rejects malformed blocks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as lz4js from 'lz4js';
import { loadVectors, unhex } from '../../test/vectors.js';
import { CodecError } from './codec-error.js';
import { compressBlock, decompressBlock, encodeBlock, MAX_COMPRESSION_LEVEL } from './compression.js';
import { decodeLz4Block, lz4BlockBound } from './lz4-block.js';
import { PayloadEncoder } from './payload-encoder.js';
import { encodePk } from './pk.js';
import { codeOf } from '../../test/support/error-code.js';

interface PayloadVector {
  name: string;
  payload: string;
  compressed: boolean;
}

const LEVELS = Array.from({ length: MAX_COMPRESSION_LEVEL }, (_, i) => i + 1);

function compress(src: Uint8Array, level = 1): Uint8Array {
  const dst = new Uint8Array(lz4BlockBound(src.length));
  const n = encodeBlock(src, dst, level);
  assert.ok(n >= 0);
  return dst.slice(0, n);
}

function inflate(block: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  decodeLz4Block(block, out);
  return out;
}


/**
 * Walks a block and checks what LZ4_decompress_safe requires of a whole block: the last
 * sequence is literals only, no match starts within the last 12 bytes of output and no match
 * reaches into the last 5; every offset points into the output written so far.
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
    const offset = block[ip]! | (block[ip + 1]! << 8);
    assert.ok(offset >= 1 && offset <= op, `offset ${offset} at ${op}`);
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

/** Repeats `words` in the order of `picks` up to `length` bytes. */
function repeatWords(words: Uint8Array[], picks: number[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let o = 0, i = 0; o < length; i++) {
    const word = words[picks[i % picks.length]! % words.length]!;
    for (let j = 0; j < word.length && o < length; j++) out[o++] = word[j]!;
  }
  return out;
}

/** `length` bytes of one record repeated, a counter written into each copy (like payload rows). */
function records(record: Uint8Array, length: number, at: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let o = 0, i = 0; o < length; o += record.length, i++) {
    out.set(record.subarray(0, Math.min(record.length, length - o)), o);
    const c = o + (at % record.length);
    for (let k = 0; k < 3 && c + k < length; k++) out[c + k] = (i >>> (8 * k)) & 0xff;
  }
  return out;
}

// Inputs up to 70,000 bytes (more than the 64 KiB window), the short ones below 13 bytes
// included: random, random over small alphabets, and highly repetitive.
const size = fc.nat({ max: 70_000 });
const long = fc.oneof(
  fc.tuple(size, fc.integer({ min: 1 }), fc.constantFrom(256, 16, 4, 2)).map(([n, seed, k]) => noise(n, seed).map((b) => b % k)),
  fc.tuple(fc.array(fc.uint8Array({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), size)
    .map(([words, picks, n]) => repeatWords(words, picks, n)),
  fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 120 }), size, fc.nat()).map(([record, n, at]) => records(record, n, at)),
  fc.tuple(fc.nat({ max: 255 }), size).map(([b, n]) => new Uint8Array(n).fill(b)),
);
const short = fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ minLength: 13, maxLength: 40 }), compressible);

function assertValidBlock(src: Uint8Array, level: number): Uint8Array {
  const block = compress(src, level);
  assert.ok(block.length <= lz4BlockBound(src.length));
  assert.deepEqual(inflate(block, src.length), src, `level ${level}, ${src.length} bytes`);
  assertEndOfBlockRules(block, src.length);
  return block;
}

test('property: blocks round-trip at every level, obey the end-of-block rules and decode with lz4js too', () => {
  fc.assert(
    fc.property(fc.oneof(short, fc.uint8Array({ maxLength: 300 })), (src) => {
      for (const level of LEVELS) {
        const block = assertValidBlock(src, level);
        const viaLz4js = new Uint8Array(src.length);
        lz4js.decompressBlock(block, viaLz4js, 0, block.length, 0);
        assert.deepEqual(viaLz4js, src);
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: inputs up to 70,000 bytes round-trip at every level and obey the end-of-block rules', () => {
  fc.assert(
    fc.property(long, (src) => {
      for (const level of [1, 2, 3, 5, MAX_COMPRESSION_LEVEL]) assertValidBlock(src, level);
    }),
    { numRuns: 150 },
  );
});

test('property: a short output buffer gives -1 or a valid block and is never written past', () => {
  fc.assert(
    fc.property(fc.oneof(short, long), fc.nat(), fc.constantFrom(...LEVELS), (src, cut, level) => {
      const capacity = cut % (lz4BlockBound(src.length) + 1);
      const memory = new Uint8Array(capacity + 64).fill(0xa5);
      const n = encodeBlock(src, memory.subarray(0, capacity), level);
      assert.ok(memory.subarray(capacity).every((b) => b === 0xa5), 'wrote past the output');
      if (n >= 0) assert.deepEqual(inflate(memory.subarray(0, n), src.length), src);
      else assert.equal(n, -1);
    }),
    { numRuns: 300 },
  );
});

test('the output depends on the input alone, not on what the shared tables saw before', () => {
  const a = records(new TextEncoder().encode('0123456789abcdef row of a table'), 80_000, 5);
  const b = noise(70_000, 7).map((x) => x % 4);
  for (const level of LEVELS) {
    const first = compress(a, level);
    compress(b, level);
    compress(a.subarray(100), level);
    assert.deepEqual(compress(a, level), first, `level ${level}`);
  }
});

test('higher levels make payload bodies smaller', () => {
  const siteId = new Uint8Array(16).fill(9);
  const e = new PayloadEncoder({ schemaHash: 1n, compress: false });
  for (let i = 0; i < 3000; i++) {
    const pk = encodePk([`id${String(i).padStart(6, '0')}`]);
    e.addRow('t', pk, 'a', `name ${i}`, 1, 1, siteId, 1, 2 * i);
    e.addRow('t', pk, 'b', BigInt(i), 1, 1, siteId, 1, 2 * i + 1);
  }
  const body = e.finish().subarray(32);
  const sizes = LEVELS.map((level) => assertValidBlock(body, level).length);
  for (const level of LEVELS.slice(1)) assert.ok(sizes[level - 1]! < sizes[0]! * 0.95, `level ${level}: ${sizes.join(' ')} B`);
  assert.ok(sizes[MAX_COMPRESSION_LEVEL - 1]! <= sizes[1]!, sizes.join(' '));
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
  const random = noise(5000);
  for (const level of LEVELS) {
    const block = compress(run, level);
    assert.ok(block.length < 500);
    assert.deepEqual(inflate(block, run.length), run);
    assert.deepEqual(inflate(compress(random, level), random.length), random);
  }
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
  for (const level of LEVELS) assert.equal(compressBlock(noise(1000), level), null);
});

test('compression levels: 1..9 only, checked before any row is added', () => {
  const text = new TextEncoder().encode('the same words again and again, '.repeat(20));
  for (const level of [0, 10, 1.5, Number.NaN, -1]) {
    assert.equal(codeOf(() => compressBlock(text, level)), 'BAD_VALUE', String(level));
    assert.equal(codeOf(() => new PayloadEncoder({ schemaHash: 1n, compressionLevel: level })), 'BAD_VALUE', String(level));
  }
  for (const level of LEVELS) assert.deepEqual(decompressBlock(compressBlock(text, level)!, text.length), text);
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
