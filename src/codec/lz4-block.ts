// The LZ4 *block* format (not frame), both directions, written for this codec (the sequence
// writers and format limits are shared with the high-compression encoder in lz4-block-hc.ts):
// - the encoder obeys the end-of-block rules that liblz4's LZ4_decompress_safe enforces
//   (last match starts >= 12 bytes before the end, last 5 bytes are literals), which the
//   lz4js package's compressBlock does not, so its output can be refused by the C reference;
// - the decoder checks every length and offset against both buffers and must fill `dst`
//   exactly, because lz4js's decompressBlock checks nothing.
//
// | sequence field  | size        | meaning                                                     |
// |-----------------|-------------|-------------------------------------------------------------|
// | token           | 1           | high nibble literal length, low nibble match length - 4     |
// | literal length+ | 0..n        | when the nibble is 15: bytes added until one is not 255     |
// | literals        | lit length  | copied as is                                                |
// | offset          | 2 (LE)      | distance back into the output, 1..65535 (absent at the end) |
// | match length+   | 0..n        | like the literal length; the match copies length + 4 bytes  |

import { CodecError } from './codec-error.js';

/** Shortest match the format can express. */
export const MIN_MATCH = 4;
/** No match may start in the last MF_LIMIT bytes of a block. */
export const MF_LIMIT = 12;
/** The last LAST_LITERALS bytes of a block are always literals. */
export const LAST_LITERALS = 5;
/** Largest match offset. */
export const MAX_DISTANCE = 65535;
const HASH_LOG = 16;
const SKIP_TRIGGER = 6;

// Hash table shared by all calls. Entries hold `generation + position`; each call takes a fresh
// generation range, so entries left by earlier calls read as negative positions and are ignored
// without clearing 256 KiB per call.
const table = new Int32Array(1 << HASH_LOG);
let generation = 1;

/** Largest possible encoded size of `n` input bytes. */
export function lz4BlockBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/**
 * Compresses `src` into `dst` as one LZ4 block and returns the encoded length, or -1 when
 * `dst` is too small (pass `lz4BlockBound(src.length)` bytes to always succeed).
 */
export function encodeLz4Block(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  if (generation + n + 1 >= 0x7fffffff) {
    table.fill(0);
    generation = 1;
  }
  const gen = generation;
  generation += n + 1;
  let op = 0;
  let anchor = 0;

  if (n > MF_LIMIT) {
    const lastMatchStart = n - MF_LIMIT;
    const matchLimit = n - LAST_LITERALS;
    const wide = n >= 65536; // like liblz4: hash 4 bytes in small blocks, 5 in large ones
    table[hash(src, 0, wide)] = gen;
    let ip = 1;
    search: while (ip <= lastMatchStart) {
      // Find a 4-byte match, stepping faster the longer nothing matches.
      let ref: number;
      let step = 1;
      let attempts = 1 << SKIP_TRIGGER;
      for (;;) {
        const seq = read32(src, ip);
        const h = hash(src, ip, wide);
        ref = table[h]! - gen;
        table[h] = gen + ip;
        if (ref >= 0 && ip - ref <= MAX_DISTANCE && read32(src, ref) === seq) break;
        ip += step;
        step = attempts++ >> SKIP_TRIGGER;
        if (ip > lastMatchStart) break search;
      }
      while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      let end = ip + MIN_MATCH;
      let from = ref + MIN_MATCH;
      while (end < matchLimit && src[end] === src[from]) {
        end++;
        from++;
      }

      op = writeSequence(src, anchor, ip - anchor, ip - ref, end - ip, dst, op);
      if (op < 0) return -1;

      anchor = ip = end;
      if (ip > lastMatchStart) break;
      table[hash(src, ip - 2, wide)] = gen + ip - 2;
    }
  }

  return writeLastLiterals(src, anchor, n - anchor, dst, op);
}

/**
 * Appends one sequence (`literals` bytes of `src` from `anchor`, then a match of `length` bytes
 * at `offset`) and returns the new output position, or -1 when `dst` is too small.
 */
export function writeSequence(src: Uint8Array, anchor: number, literals: number, offset: number, length: number, dst: Uint8Array, op: number): number {
  const matchExtra = length - MIN_MATCH;
  if (op + literals + ((literals / 255) | 0) + ((matchExtra / 255) | 0) + 6 > dst.length) return -1;
  const tokenAt = op++;
  op = writeLength(dst, op, literals);
  op = copyBytes(src, anchor, literals, dst, op);
  dst[op++] = offset & 0xff;
  dst[op++] = offset >>> 8;
  op = writeLength(dst, op, matchExtra);
  dst[tokenAt] = (Math.min(literals, 15) << 4) | Math.min(matchExtra, 15);
  return op;
}

/** Appends the closing literals-only sequence and returns the block length, or -1 when `dst` is too small. */
export function writeLastLiterals(src: Uint8Array, anchor: number, literals: number, dst: Uint8Array, op: number): number {
  if (op + literals + ((literals / 255) | 0) + 2 > dst.length) return -1;
  dst[op++] = Math.min(literals, 15) << 4;
  op = writeLength(dst, op, literals);
  return copyBytes(src, anchor, literals, dst, op);
}

/**
 * Decodes one LZ4 block into `dst`, which it must fill exactly; throws CodecError('LZ4') on
 * any malformed input (truncation, zero or out-of-range offset, output overflow or shortfall).
 */
export function decodeLz4Block(src: Uint8Array, dst: Uint8Array): void {
  const srcEnd = src.length;
  const dstEnd = dst.length;
  let ip = 0;
  let op = 0;
  for (;;) {
    if (ip >= srcEnd) throw lz4Error('block ends before its last literals');
    const token = src[ip++]!;

    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw lz4Error('truncated literal length');
        b = src[ip++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > srcEnd - ip) throw lz4Error('literals run past the input');
    if (literals > dstEnd - op) throw lz4Error('literals overflow the output');
    op = copyBytes(src, ip, literals, dst, op);
    ip += literals;
    if (ip === srcEnd) break; // the last sequence has literals only

    if (srcEnd - ip < 2) throw lz4Error('truncated match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw lz4Error(`match offset ${offset} outside the output`);

    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw lz4Error('truncated match length');
        b = src[ip++]!;
        length += b;
      } while (b === 255);
    }
    length += MIN_MATCH;
    if (length > dstEnd - op) throw lz4Error('match overflows the output');
    let from = op - offset;
    if (offset >= length && length > 32) {
      dst.copyWithin(op, from, from + length);
      op += length;
    } else {
      const end = op + length;
      while (op < end) dst[op++] = dst[from++]!;
    }
  }
  if (op !== dstEnd) throw lz4Error(`block inflates to ${op} bytes, expected ${dstEnd}`);
}

/** Hash of the 4 bytes at `i`, or of 5 when `wide` (fewer short, stale candidates in large blocks). */
function hash(b: Uint8Array, i: number, wide: boolean): number {
  const h = Math.imul(read32(b, i), 2654435761);
  return (wide ? h ^ Math.imul(b[i + 4]!, 0x9e3779b1) : h) >>> (32 - HASH_LOG);
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

/** Writes the extra bytes of a length whose token nibble is 15 (nothing when it is below 15). */
function writeLength(dst: Uint8Array, op: number, length: number): number {
  if (length < 15) return op;
  let rest = length - 15;
  while (rest >= 255) {
    dst[op++] = 255;
    rest -= 255;
  }
  dst[op++] = rest;
  return op;
}

function copyBytes(src: Uint8Array, from: number, n: number, dst: Uint8Array, op: number): number {
  if (n > 32) {
    dst.set(src.subarray(from, from + n), op);
    return op + n;
  }
  const end = from + n;
  while (from < end) dst[op++] = src[from++]!;
  return op;
}

function lz4Error(message: string): CodecError {
  return new CodecError('LZ4', `malformed LZ4 block: ${message}`);
}
