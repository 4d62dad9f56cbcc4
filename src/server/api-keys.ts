// API keys: 32 random bytes shown once as `sqs_<base64url>`, stored only as their SHA-256.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The prefix that tells an API key from a token. */
export const API_KEY_PREFIX = 'sqs_';

/** A new random API key. */
export function createApiKey(random: (size: number) => Uint8Array = randomBytes): string {
  return `${API_KEY_PREFIX}${Buffer.from(random(32)).toString('base64url')}`;
}

/** The stored form of a key. */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Compares two key hashes in constant time. */
export function isSameKeyHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
