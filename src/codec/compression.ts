// Body compression of payloads: LZ4 block when it makes the body smaller, raw otherwise.
// The header's expanded_size says which: 0 for raw, else the exact inflated size.

import { CodecError } from './codec-error.js';
import { decodeLz4Block, encodeLz4Block } from './lz4-block.js';

const MAX_RATIO = 255; // no valid LZ4 block inflates more than this

/** LZ4-compresses `raw` as one block; null when that would not make it smaller. */
export function compressBlock(raw: Uint8Array): Uint8Array | null {
  if (raw.length <= 12) return null; // too short for any match; literals alone only add bytes
  const dst = new Uint8Array(raw.length - 1);
  const n = encodeLz4Block(raw, dst);
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
