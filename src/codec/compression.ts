// Body compression of payloads: LZ4 block when it makes the body smaller, raw otherwise.
// The header's expanded_size says which: 0 for raw, else the exact inflated size.
// Levels: 1 is the fast greedy encoder (lz4-block.ts), 2..9 the hash-chain encoder
// (lz4-block-hc.ts) comparing 2^level candidates per search; every level decodes alike.

import { CodecError } from './codec-error.js';
import { decodeLz4Block, encodeLz4Block } from './lz4-block.js';
import { encodeLz4BlockHc } from './lz4-block-hc.js';

const MAX_RATIO = 255; // no valid LZ4 block inflates more than this
const MAX_INPUT = 0x7e000000; // liblz4's LZ4_MAX_INPUT_SIZE; larger bodies travel raw

/** Highest compression level (slowest, smallest); 1 is the fastest. */
export const MAX_COMPRESSION_LEVEL = 9;

/**
 * Level used when none is given: the fast encoder, because level 2 (about 8-23% smaller bodies)
 * encodes UUID-keyed payloads well below 1.5M changes/s; see bench/codec.bench.ts.
 */
export const DEFAULT_COMPRESSION_LEVEL = 2;

/** Throws BAD_VALUE unless `level` is an integer from 1 to MAX_COMPRESSION_LEVEL. */
export function assertCompressionLevel(level: number): void {
  if (!Number.isInteger(level) || level < 1 || level > MAX_COMPRESSION_LEVEL) {
    throw new CodecError('BAD_VALUE', `compression level must be an integer 1..${MAX_COMPRESSION_LEVEL}, got ${String(level)}`);
  }
}

/** LZ4-compresses `raw` as one block at `level` (1..9); null when that would not make it smaller. */
export function compressBlock(raw: Uint8Array, level: number = DEFAULT_COMPRESSION_LEVEL): Uint8Array | null {
  assertCompressionLevel(level);
  if (raw.length <= 12 || raw.length > MAX_INPUT) return null; // too short for any match, or too long for liblz4
  const dst = new Uint8Array(raw.length - 1);
  const n = encodeBlock(raw, dst, level);
  return n < 0 ? null : dst.slice(0, n);
}

/** Encodes `src` into `dst` as one LZ4 block at a valid `level`; the length, or -1 when `dst` is too small. */
export function encodeBlock(src: Uint8Array, dst: Uint8Array, level: number): number {
  return level === 1 ? encodeLz4Block(src, dst) : encodeLz4BlockHc(src, dst, 1 << level);
}

/** Inflates one LZ4 block to exactly `expandedSize` bytes; TOO_LARGE beyond 255:1, LZ4 when malformed. */
export function decompressBlock(compressed: Uint8Array, expandedSize: number): Uint8Array {
  if (!Number.isSafeInteger(expandedSize) || expandedSize < 0 || expandedSize > compressed.length * MAX_RATIO) {
    throw new CodecError('TOO_LARGE', `${compressed.length} LZ4 bytes cannot inflate to ${expandedSize}`);
  }
  const out = new Uint8Array(expandedSize);
  decodeLz4Block(compressed, out);
  return out;
}
