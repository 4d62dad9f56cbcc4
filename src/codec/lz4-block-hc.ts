// High-compression LZ4 block encoder (same block format and end-of-block rules as
// lz4-block.ts): hash chains over the 64 KiB window, the longest of several candidates, and
// lazy matching, which emits a literal when the next position starts a longer match.

import { LAST_LITERALS, MAX_DISTANCE, MF_LIMIT, MIN_MATCH, writeLastLiterals, writeSequence } from './lz4-block.js';

const HASH_LOG = 16;
const WINDOW_MASK = 0xffff;
// Positions inside a match are not added to the chains except this many at each end: on payload
// bodies that saves about a fifth of the time and moves sizes by well under 1% either way.
const MATCH_EDGE = 2;
// The lazy look-ahead searches as deep as the main search up to this depth (deeper costs time
// without making payload bodies smaller).
const MAX_LAZY_ATTEMPTS = 16;

// Shared by all calls, like the fast encoder's table: `head` holds `generation + position` of the
// latest position per hash (older calls read as negative), `chain` the distance from a position
// to the previous one with the same hash (capped at MAX_DISTANCE, which ends any walk).
const head = new Int32Array(1 << HASH_LOG);
const chain = new Uint16Array(WINDOW_MASK + 1);
let generation = 1;

// Start of the match found by the last `longestMatch` call (which returns its length).
let matchRef = 0;

/**
 * Compresses `src` into `dst` as one LZ4 block, comparing up to `attempts` earlier positions
 * per search, and returns the encoded length or -1 when `dst` is too small.
 */
export function encodeLz4BlockHc(src: Uint8Array, dst: Uint8Array, attempts: number): number {
  const n = src.length;
  if (generation + n + 1 >= 0x7fffffff) {
    head.fill(0);
    generation = 1;
  }
  const gen = generation;
  generation += n + 1;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const lazyAttempts = Math.min(attempts, MAX_LAZY_ATTEMPTS);
  let op = 0;
  let anchor = 0;

  if (n > MF_LIMIT) {
    const lastMatchStart = n - MF_LIMIT;
    const matchLimit = n - LAST_LITERALS;
    let inserted = 0; // positions below this one have been offered to the chains
    let ip = 0;
    while (ip <= lastMatchStart) {
      inserted = insert(view, inserted, ip, gen);
      let length = longestMatch(src, view, ip, matchLimit, gen, attempts);
      if (length < MIN_MATCH) {
        ip++;
        continue;
      }
      let ref = matchRef;
      // Lazy matching: one more literal pays off when the next position matches further.
      while (ip < lastMatchStart) {
        inserted = insert(view, inserted, ip + 1, gen);
        const next = longestMatch(src, view, ip + 1, matchLimit, gen, lazyAttempts);
        if (next <= length) break;
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
      if (ip - inserted > 2 * MATCH_EDGE) {
        insert(view, inserted, inserted + MATCH_EDGE, gen);
        inserted = ip - MATCH_EDGE;
      }
    }
  }
  return writeLastLiterals(src, anchor, n - anchor, dst, op);
}

/** Adds positions `from..to-1` to the chains and returns `to`. */
function insert(view: DataView, from: number, to: number, gen: number): number {
  for (let p = from; p < to; p++) {
    const h = Math.imul(view.getInt32(p, true), 2654435761) >>> (32 - HASH_LOG);
    const distance = p + gen - head[h]!;
    // min(distance, MAX_DISTANCE) without a branch (stale heads make it unpredictable).
    chain[p & WINDOW_MASK] = distance | ((MAX_DISTANCE - distance) >> 31);
    head[h] = gen + p;
  }
  return to;
}

/**
 * Length of the longest match for `ip` among the last `attempts` positions with its hash
 * (below MIN_MATCH when none), ending by `matchLimit`; leaves its start in `matchRef`.
 */
function longestMatch(src: Uint8Array, view: DataView, ip: number, matchLimit: number, gen: number, attempts: number): number {
  const lowLimit = ip > MAX_DISTANCE ? ip - MAX_DISTANCE : 0;
  const maxLength = matchLimit - ip;
  const first = view.getInt32(ip, true);
  let best = MIN_MATCH - 1;
  let ref = head[Math.imul(first, 2654435761) >>> (32 - HASH_LOG)]! - gen;
  for (let left = attempts; left > 0 && ref >= lowLimit; left--) {
    // Only a candidate that also agrees at `best` can be longer; then check its first 4 bytes.
    if (src[ref + best] === src[ip + best] && view.getInt32(ref, true) === first) {
      const length = commonLength(src, view, ref, ip, maxLength);
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

/** How many bytes at `a` and `b` agree, given that the first MIN_MATCH do, up to `max`. */
function commonLength(src: Uint8Array, view: DataView, a: number, b: number, max: number): number {
  let length = MIN_MATCH;
  while (length + 4 <= max) {
    const diff = view.getInt32(a + length, true) ^ view.getInt32(b + length, true);
    if (diff !== 0) return length + ((31 - Math.clz32(diff & -diff)) >>> 3); // lowest differing byte
    length += 4;
  }
  while (length < max && src[a + length] === src[b + length]) length++;
  return length;
}
