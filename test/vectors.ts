// Loads the reference's golden vectors from test/fixtures/vectors and converts their typed values
// ({"t":"integer","v":"-5"}, real, text, blob as hex, null) to and from SqlValue.

import { readFileSync } from 'node:fs';
import type { SqlValue } from '../src/codec/value.js';

/** A SQLite value as written in the vector files. */
export type TypedValue =
  | { t: 'integer'; v: string }
  | { t: 'real'; v: number }
  | { t: 'text'; v: string }
  | { t: 'blob'; v: string }
  | { t: 'null' };

/** The folder of the vector files, inside the repository. */
export const VECTORS_FOLDER = new URL('fixtures/vectors/', import.meta.url);

/** Parses NAME.json of VECTORS_FOLDER (NAME without the extension); the caller names the shape. */
export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`${name}.json`, VECTORS_FOLDER), 'utf8')) as T;
}

/** Converts a typed vector value to a SqlValue. */
export function fromTyped(v: TypedValue): SqlValue {
  switch (v.t) {
    case 'integer':
      return BigInt(v.v);
    case 'real':
      return v.v;
    case 'text':
      return v.v;
    case 'blob':
      return unhex(v.v);
    case 'null':
      return null;
  }
}

/** Converts a SqlValue to the typed form used by the vector files. */
export function toTyped(v: SqlValue): TypedValue {
  if (v === null) return { t: 'null' };
  if (typeof v === 'bigint') return { t: 'integer', v: v.toString() };
  if (typeof v === 'number') return { t: 'real', v };
  if (typeof v === 'string') return { t: 'text', v };
  return { t: 'blob', v: hex(v) };
}

/** Lower-case hex of bytes. */
export function hex(u8: Uint8Array): string {
  let s = '';
  for (const b of u8) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes of a hex string (either case); throws on odd length or a non-hex digit. */
export function unhex(str: string): Uint8Array {
  if (str.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(str)) throw new Error(`not hex: ${str.slice(0, 40)}`);
  const out = new Uint8Array(str.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(str.slice(2 * i, 2 * i + 2), 16);
  return out;
}
