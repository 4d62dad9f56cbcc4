// UUIDv7 generation: 48-bit millisecond timestamp, version 7, RFC 4122 variant, random rest.

import { toHex } from '../codec/bytes.js';

/** A source of random bytes; tests pass a seeded one. */
export type RandomBytes = (length: number) => Uint8Array;

/** The default random source (crypto.getRandomValues, present in Node 20 and browsers). */
export const cryptoRandomBytes: RandomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));

/** Returns 16 bytes of a new UUIDv7. */
export function createUuidBytes(now: number = Date.now(), random: RandomBytes = cryptoRandomBytes): Uint8Array {
  const bytes = random(16);
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  return bytes;
}

/** Formats 16 bytes as lowercase hex, with dashes (8-4-4-4-12) unless `dashes` is false. */
export function formatUuid(bytes: Uint8Array, dashes = true): string {
  const hex = toHex(bytes);
  if (!dashes) return hex;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
