// Body compression of payloads: LZ4 block when it makes the body smaller, raw otherwise.
// The header's expanded_size says which: 0 for raw, else the exact inflated size.

import { CodecError } from './codec-error.js';
import { decodeLz4Block, encodeLz4Block } from './lz4-block.js';
import { encodeLz4BlockHc } from './lz4-block-hc.js';

const MAX_RATIO = 255; // no valid LZ4 block inflates more than this

/** Highest compression level: 1 is the fast greedy encoder, 2..9 search 2^(level-1) hash-chain candidates. */
export const MAX_COMPRESSION_LEVEL = 9;

/** Level used when none is given. */
export const DEFAULT_COMPRESSION_LEVEL = 3;

/** LZ4-compresses `raw` as one block at `level` (1..9); null when that would not make it smaller. */
export function compressBlock(raw: Uint8Array, level: number = DEFAULT_COMPRESSION_LEVEL): Uint8Array | null {
  if (!Number.isInteger(level) || level < 1 || level > MAX_COMPRESSION_LEVEL) {
    throw new CodecError('BAD_VALUE', `compression level must be an integer 1..${MAX_COMPRESSION_LEVEL}, got ${level}`);
  }
  if (raw.length <= 12) return null; // too short for any match; literals alone only add bytes
  const dst = new Uint8Array(raw.length - 1);
  const n = level === 1 ? encodeLz4Block(raw, dst) : encodeLz4BlockHc(raw, dst, 1 << (level - 1));
  return n < 0 ? null : dst.slice(0, n);
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
