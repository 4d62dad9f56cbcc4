// High-compression LZ4 block encoder (same block format and end-of-block rules as
// lz4-block.ts): hash chains over the 64 KiB window, the longest of several candidates, and
// lazy matching, which emits a literal when the next position starts a longer match.

import { LAST_LITERALS, MAX_DISTANCE, MF_LIMIT, MIN_MATCH, writeLastLiterals, writeSequence } from './lz4-block.js';

const HASH_LOG = 16;
const WINDOW_MASK = 0xffff;

// Shared by all calls, like the fast encoder's table: `head` holds `generation + position` of the
// latest position per hash (older calls read as negative), `chain` the distance from a position
// to the previous one with the same hash (capped at MAX_DISTANCE, which ends the walk).
const head = new Int32Array(1 << HASH_LOG);
const chain = new Uint16Array(WINDOW_MASK + 1);
let generation = 1;

// Result of the last `longestMatch` call (its return value is the length).
let matchRef = 0;

/**
 * Compresses `src` into `dst` as one LZ4 block, trying up to `attempts` earlier positions per
 * search, and returns the encoded length or -1 when `dst` is too small.
 */
export function encodeLz4BlockHc(src: Uint8Array, dst: Uint8Array, attempts: number): number {
  const n = src.length;
  if (generation + n + 1 >= 0x7fffffff) {
    head.fill(0);
    generation = 1;
  }
  const gen = generation;
  generation += n + 1;
  let op = 0;
  let anchor = 0;

  if (n > MF_LIMIT) {
    const lastMatchStart = n - MF_LIMIT;
    const matchLimit = n - LAST_LITERALS;
    let inserted = 0; // positions below this one are in the chains
    let ip = 0;
    while (ip <= lastMatchStart) {
      inserted = insert(src, inserted, ip, gen);
      let length = longestMatch(src, ip, matchLimit, gen, attempts);
      if (length < MIN_MATCH) {
        ip++;
        continue;
      }
      let ref = matchRef;
      // Lazy matching: a literal now pays off when the next position matches further.
      while (ip < lastMatchStart) {
        inserted = insert(src, inserted, ip + 1, gen);
        const next = longestMatch(src, ip + 1, matchLimit, gen, attempts);
        if (next <= length + 1) break;
        ip++;
        length = next;
        ref = matchRef;
      }
      while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
        length++;
      }
      op = writeSequence(src, anchor, ip - anchor, ip - ref, length, dst, op);
      if (op < 0) return -1;
      anchor = ip += length;
    }
  }
  return writeLastLiterals(src, anchor, n - anchor, dst, op);
}

/** Adds positions `from..to-1` to the chains and returns `to`. */
function insert(src: Uint8Array, from: number, to: number, gen: number): number {
  for (let p = from; p < to; p++) {
    const h = hash(src, p);
    const distance = p + gen - head[h]!;
    chain[p & WINDOW_MASK] = distance > MAX_DISTANCE ? MAX_DISTANCE : distance;
    head[h] = gen + p;
  }
  return to;
}

/**
 * Length of the longest match for `ip` among the last `attempts` positions with its hash
 * (below MIN_MATCH when none), ending by `matchLimit`; leaves its start in `matchRef`.
 */
function longestMatch(src: Uint8Array, ip: number, matchLimit: number, gen: number, attempts: number): number {
  const lowLimit = ip - MAX_DISTANCE;
  const maxLength = matchLimit - ip;
  const first = read32(src, ip);
  let best = MIN_MATCH - 1;
  let ref = head[hash(src, ip)]! - gen;
  for (let left = attempts; left > 0 && ref >= 0 && ref >= lowLimit; left--) {
    if (src[ref + best] === src[ip + best] && read32(src, ref) === first) {
      let length = MIN_MATCH;
      while (length < maxLength && src[ref + length] === src[ip + length]) length++;
      if (length > best) {
        best = length;
        matchRef = ref;
        if (length === maxLength) break;
      }
    }
    ref -= chain[ref & WINDOW_MASK]!;
  }
  return best;
}

function hash(b: Uint8Array, i: number): number {
  return Math.imul(read32(b, i), 2654435761) >>> (32 - HASH_LOG);
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}
