// The value ordering the merge uses to break col_version ties (reference section 4.3), and
// type-sensitive value identity.

import { CodecError } from './codec-error.js';
import type { SqlValue } from './value.js';

const UTF8_ENCODER = new TextEncoder();

/**
 * Orders two values as the reference merge does: >0 when `a` is greater. Same type: numeric,
 * UTF-8 bytes up to the first NUL (strcmp), bytes then length (memcmp), NULL = NULL. Different
 * types: the lower SQLite type code is greater, so INTEGER > REAL > TEXT > BLOB > NULL.
 */
export function compareValues(a: SqlValue, b: SqlValue): number {
  const ta = typeCode(a);
  const tb = typeCode(b);
  if (ta !== tb) return tb - ta;
  switch (ta) {
    case 1:
    case 2:
      // NaN compares equal to everything, like the C comparison.
      return (a as number | bigint) < (b as number | bigint) ? -1 : (a as number | bigint) > (b as number | bigint) ? 1 : 0;
    case 3:
      return compareText(a as string, b as string);
    case 4:
      return compareBytes(a as Uint8Array, b as Uint8Array);
    default:
      return 0;
  }
}

/** Type-sensitive identity: 1n differs from 1.0, -0.0 from 0.0, NaN equals NaN, blobs compare bytewise. */
export function valuesEqual(a: SqlValue, b: SqlValue): boolean {
  if (a instanceof Uint8Array) return b instanceof Uint8Array && compareBytes(a, b) === 0;
  return Object.is(a, b);
}

/** SQLite's type code of a value: INTEGER 1, REAL 2, TEXT 3, BLOB 4, NULL 5. */
function typeCode(v: SqlValue): number {
  if (typeof v === 'bigint') return 1;
  if (typeof v === 'number') return 2;
  if (typeof v === 'string') return 3;
  if (v === null) return 5;
  if (v instanceof Uint8Array) return 4;
  throw new CodecError('BAD_TYPE', `not a SQLite value: ${typeof v}`);
}

/** strcmp over the UTF-8 bytes of two strings, each cut at its first NUL. */
function compareText(a: string, b: string): number {
  const na = cutAtNul(a);
  const nb = cutAtNul(b);
  const n = Math.min(na, nb);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Outside surrogates UTF-16 unit order is UTF-8 byte order; otherwise compare the bytes.
    if ((ca & 0xf800) !== 0xd800 && (cb & 0xf800) !== 0xd800) return ca < cb ? -1 : 1;
    return compareBytes(UTF8_ENCODER.encode(a.slice(0, na)), UTF8_ENCODER.encode(b.slice(0, nb)));
  }
  return na === nb ? 0 : na < nb ? -1 : 1;
}

function cutAtNul(s: string): number {
  const i = s.indexOf('\0');
  return i < 0 ? s.length : i;
}

/** memcmp of the common prefix, then the shorter is smaller. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
