// SQLite values and their bit-exact wire encoding, used inside primary-key blobs and for every
// field of a payload row (the merge-tie ordering lives in value-order.ts and is re-exported).
//
// | type byte: (nbytes << 3) | code | meaning           | bytes that follow                      |
// |-----------------------------------|-------------------|----------------------------------------|
// | code 1                            | INTEGER >= 0      | nbytes big-endian bytes of the value   |
// | code 0                            | INTEGER < 0       | nbytes big-endian bytes of -value      |
// | code 6, nbytes 0                  | INT64_MIN         | none                                   |
// | code 2, nbytes 0                  | REAL, not < 0     | 8 bytes: IEEE-754 bits, big-endian     |
// | code 7, nbytes 0                  | REAL < 0          | 8 bytes: bits of -value, big-endian    |
// | code 3                            | TEXT              | length (nbytes BE), then UTF-8 bytes   |
// | code 4                            | BLOB              | length (nbytes BE), then the bytes     |
// | code 5, nbytes 0                  | NULL              | none                                   |
//
// nbytes (1..8) is minimal with the top bit of the big-endian form clear: 127 takes 1 byte,
// 128 takes 2, 0 takes 1. Decoding accepts only this canonical form, so a decoded primary key
// re-encodes to the same bytes (row identity is byte identity).

import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { CodecError } from './codec-error.js';

export { ByteReader } from './byte-reader.js';
export { ByteWriter } from './byte-writer.js';
export { compareValues, valuesEqual } from './value-order.js';

/** A SQLite value: INTEGER is always bigint, REAL always number (even 2.0), TEXT string, BLOB bytes, NULL null. */
export type SqlValue = null | bigint | number | string | Uint8Array;

const CODE_NEGATIVE_INTEGER = 0;
const CODE_INTEGER = 1;
const CODE_REAL = 2;
const CODE_TEXT = 3;
const CODE_BLOB = 4;
const CODE_NULL = 5;
const CODE_INT64_MIN = 6;
const CODE_NEGATIVE_REAL = 7;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TWO_32 = 4294967296;

// Scratch space for IEEE-754 bit patterns; the byte order of the host decides how we read it.
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Lenient UTF-8: invalid sequences become U+FFFD (SQLite would keep the raw bytes, which a JS
// string cannot hold); ignoreBOM keeps a leading U+FEFF as text instead of stripping it.
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();
// one scratch array per short length: setting an array's length on every call costs more than the copy
const ASCII_SCRATCH: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0));

/** Appends the encoding of `v`; throws BAD_VALUE for integers outside int64 and BAD_TYPE for non-values. */
export function writeValue(w: ByteWriter, v: SqlValue): void {
  if (typeof v === 'string') writeText(w, v);
  else if (typeof v === 'bigint') writeBigInt(w, v);
  else if (typeof v === 'number') writeReal(w, v);
  else if (v === null) w.writeByte(CODE_NULL);
  else if (v instanceof Uint8Array) writeBlob(w, v);
  else throw new CodecError('BAD_TYPE', `not a SQLite value: ${describe(v)}`);
}

/** Reads one value; TEXT is decoded leniently (see above) and a BLOB is a view into the reader's bytes. */
export function readValue(r: ByteReader): SqlValue {
  const t = r.readByte();
  const code = t & 7;
  const nbytes = t >>> 3;
  switch (code) {
    case CODE_INTEGER:
    case CODE_NEGATIVE_INTEGER:
      return readIntegerBody(r, code, nbytes);
    case CODE_REAL:
    case CODE_NEGATIVE_REAL:
      return readRealBody(r, code, nbytes);
    case CODE_TEXT: {
      const n = readLength(r, nbytes);
      r.need(n);
      const start = r.offset;
      r.offset = start + n;
      return decodeUtf8(r.bytes, start, n);
    }
    case CODE_BLOB:
      return r.readBytes(readLength(r, nbytes));
    case CODE_NULL:
      if (nbytes !== 0) throw nonCanonical('NULL');
      return null;
    default: // CODE_INT64_MIN
      if (nbytes !== 0) throw nonCanonical('INT64_MIN');
      return INT64_MIN;
  }
}

/** Appends an INTEGER given as a JS number (fast path for version fields); it must be a safe integer. */
export function writeInt(w: ByteWriter, n: number): void {
  if (typeof n === 'number' && n >= 0 && n < 0x80 && (n | 0) === n) {
    w.ensure(2);
    const buf = w.buffer;
    const p = w.position;
    buf[p] = (1 << 3) | CODE_INTEGER;
    buf[p + 1] = n;
    w.position = p + 2;
    return;
  }
  if (!Number.isSafeInteger(n)) throw new CodecError('BAD_VALUE', `not a safe integer: ${String(n)}`);
  if (n < 0) writeMagnitude(w, CODE_NEGATIVE_INTEGER, Math.floor(-n / TWO_32), -n >>> 0);
  else writeMagnitude(w, CODE_INTEGER, Math.floor(n / TWO_32), n >>> 0);
}

/** Reads an INTEGER as a JS number; BAD_TYPE if it is not an INTEGER, BAD_VALUE beyond Number.MAX_SAFE_INTEGER. */
export function readIntNumber(r: ByteReader): number {
  const t = r.readByte();
  if (t === ((1 << 3) | CODE_INTEGER)) {
    const b = r.readByte();
    if (b >= 0x80) throw nonCanonical('INTEGER');
    return b;
  }
  const code = t & 7;
  const nbytes = t >>> 3;
  if (code === CODE_INT64_MIN && nbytes === 0) {
    throw new CodecError('BAD_VALUE', 'integer beyond Number.MAX_SAFE_INTEGER');
  }
  if (code !== CODE_INTEGER && code !== CODE_NEGATIVE_INTEGER) {
    throw new CodecError('BAD_TYPE', `expected INTEGER, found ${typeName(code)}`);
  }
  const m = readMagnitude(r, nbytes, code === CODE_NEGATIVE_INTEGER);
  if (m > Number.MAX_SAFE_INTEGER) throw new CodecError('BAD_VALUE', 'integer beyond Number.MAX_SAFE_INTEGER');
  return code === CODE_NEGATIVE_INTEGER ? -m : m;
}

// --- writing --------------------------------------------------------------------------------

function writeBigInt(w: ByteWriter, v: bigint): void {
  if (v >= MIN_SAFE && v <= MAX_SAFE) {
    writeInt(w, Number(v));
    return;
  }
  if (v < INT64_MIN || v > INT64_MAX) throw new CodecError('BAD_VALUE', `integer outside int64: ${v}`);
  if (v === INT64_MIN) {
    w.writeByte(CODE_INT64_MIN);
    return;
  }
  const negative = v < 0n;
  const m = negative ? -v : v;
  writeMagnitude(w, negative ? CODE_NEGATIVE_INTEGER : CODE_INTEGER, Number(m >> 32n), Number(m & 0xffffffffn));
}

function writeReal(w: ByteWriter, v: number): void {
  w.ensure(9);
  const buf = w.buffer;
  const p = w.position;
  if (v < 0) {
    buf[p] = CODE_NEGATIVE_REAL;
    F64[0] = -v;
  } else {
    buf[p] = CODE_REAL;
    F64[0] = v;
  }
  if (LITTLE_ENDIAN_HOST) {
    for (let i = 0; i < 8; i++) buf[p + 1 + i] = F64_BYTES[7 - i]!;
  } else {
    for (let i = 0; i < 8; i++) buf[p + 1 + i] = F64_BYTES[i]!;
  }
  w.position = p + 9;
}

function writeText(w: ByteWriter, s: string): void {
  const n = s.length;
  if (n <= 42) {
    // At most 3 UTF-8 bytes per UTF-16 unit, so the length is <= 126 and takes one byte.
    w.ensure(2 + 3 * n);
    const buf = w.buffer;
    const start = w.position;
    let p = start + 2;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    if (i < n) p = encodeUtf8From(s, i, buf, p);
    buf[start] = (1 << 3) | CODE_TEXT;
    buf[start + 1] = p - start - 2;
    w.position = p;
    return;
  }
  const length = utf8Length(s);
  writeMagnitude(w, CODE_TEXT, Math.floor(length / TWO_32), length >>> 0);
  w.ensure(length);
  const p = w.position;
  UTF8_ENCODER.encodeInto(s, w.buffer.subarray(p, p + length));
  w.position = p + length;
}

function writeBlob(w: ByteWriter, b: Uint8Array): void {
  const n = b.length;
  if (n < 0x80) {
    w.ensure(2 + n);
    w.buffer[w.position] = (1 << 3) | CODE_BLOB;
    w.buffer[w.position + 1] = n;
    w.position += 2;
  } else {
    writeMagnitude(w, CODE_BLOB, Math.floor(n / TWO_32), n >>> 0);
  }
  w.writeBytes(b);
}

/** Writes the type byte and the minimal big-endian magnitude hi * 2^32 + lo (top bit kept clear). */
function writeMagnitude(w: ByteWriter, code: number, hi: number, lo: number): void {
  let nbytes: number;
  if (hi === 0) nbytes = lo < 0x80 ? 1 : lo < 0x8000 ? 2 : lo < 0x800000 ? 3 : lo < 0x80000000 ? 4 : 5;
  else nbytes = hi < 0x80 ? 5 : hi < 0x8000 ? 6 : hi < 0x800000 ? 7 : 8;
  w.ensure(1 + nbytes);
  const buf = w.buffer;
  let p = w.position;
  buf[p++] = (nbytes << 3) | code;
  for (let i = nbytes - 1; i >= 4; i--) buf[p++] = hi >>> ((i - 4) * 8);
  for (let i = Math.min(nbytes, 4) - 1; i >= 0; i--) buf[p++] = lo >>> (i * 8);
  w.position = p;
}

/** UTF-8 encodes s[i..] into buf at p like TextEncoder (lone surrogates become U+FFFD); returns the new p. */
function encodeUtf8From(s: string, i: number, buf: Uint8Array, p: number): number {
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[p++] = 0xf0 | (cp >> 18);
        buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[p++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        buf[p++] = 0xef;
        buf[p++] = 0xbf;
        buf[p++] = 0xbd;
      }
    }
  }
  return p;
}

/** Number of bytes TextEncoder produces for `s`. */
function utf8Length(s: string): number {
  const n = s.length;
  let length = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) length += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 2; // 4 bytes for 2 units
      i++;
    } else length += 2;
  }
  return length;
}

// --- reading --------------------------------------------------------------------------------

function readIntegerBody(r: ByteReader, code: number, nbytes: number): bigint {
  const negative = code === CODE_NEGATIVE_INTEGER;
  if (nbytes <= 6) {
    const m = readMagnitude(r, nbytes, negative);
    return BigInt(negative ? -m : m);
  }
  if (nbytes > 8) throw nonCanonical('INTEGER');
  checkCanonical(r, nbytes, negative);
  const b = r.bytes;
  const o = r.offset;
  r.offset = o + nbytes;
  let hi = 0;
  for (let i = 0; i < nbytes - 4; i++) hi = hi * 256 + b[o + i]!;
  const q = o + nbytes - 4;
  const lo = ((b[q]! << 24) | (b[q + 1]! << 16) | (b[q + 2]! << 8) | b[q + 3]!) >>> 0;
  const m = (BigInt(hi) << 32n) | BigInt(lo);
  return negative ? -m : m;
}

/** Reads a canonical big-endian magnitude of `nbytes` (1..8) as a number (inexact above 2^53). */
function readMagnitude(r: ByteReader, nbytes: number, negative: boolean): number {
  if (nbytes === 0 || nbytes > 8) throw nonCanonical('integer size');
  checkCanonical(r, nbytes, negative);
  const b = r.bytes;
  let o = r.offset;
  const end = o + nbytes;
  r.offset = end;
  let m = 0;
  for (; o < end; o++) m = m * 256 + b[o]!;
  return m;
}

/** Checks that the next `nbytes` exist and form the minimal top-bit-clear encoding. */
function checkCanonical(r: ByteReader, nbytes: number, negative: boolean): void {
  r.need(nbytes);
  const b0 = r.bytes[r.offset]!;
  if (b0 >= 0x80) throw nonCanonical('integer');
  if (nbytes > 1) {
    if (b0 === 0 && r.bytes[r.offset + 1]! < 0x80) throw nonCanonical('integer');
  } else if (negative && b0 === 0) {
    throw nonCanonical('negative zero');
  }
}

function readLength(r: ByteReader, nbytes: number): number {
  if (nbytes === 1) {
    const n = r.readByte();
    if (n >= 0x80) throw nonCanonical('length');
    return n;
  }
  const n = readMagnitude(r, nbytes, false);
  if (n > r.remaining) throw new CodecError('TRUNCATED', `need ${n} bytes, ${r.remaining} left`);
  return n;
}

function readRealBody(r: ByteReader, code: number, nbytes: number): number {
  if (nbytes !== 0) throw nonCanonical('REAL');
  r.need(8);
  const b = r.bytes;
  const o = r.offset;
  r.offset = o + 8;
  if (LITTLE_ENDIAN_HOST) {
    for (let i = 0; i < 8; i++) F64_BYTES[7 - i] = b[o + i]!;
  } else {
    for (let i = 0; i < 8; i++) F64_BYTES[i] = b[o + i]!;
  }
  const v = F64[0]!;
  if (code === CODE_REAL) {
    if (v < 0) throw nonCanonical('REAL'); // a negative REAL must use code 7
    return v;
  }
  if (!(v > 0)) throw nonCanonical('negative REAL'); // code 7 holds the bits of a positive value
  return -v;
}

/** UTF-8 decodes bytes[start, start + n); short ASCII text skips TextDecoder and its temporary view. */
function decodeUtf8(bytes: Uint8Array, start: number, n: number): string {
  if (n > 64) return UTF8_DECODER.decode(bytes.subarray(start, start + n));
  const codes = ASCII_SCRATCH[n] as number[];
  for (let i = 0; i < n; i++) {
    const c = bytes[start + i]!;
    if (c >= 0x80) return UTF8_DECODER.decode(bytes.subarray(start, start + n));
    codes[i] = c;
  }
  return String.fromCharCode.apply(null, codes);
}

// --- errors ---------------------------------------------------------------------------------

function nonCanonical(what: string): CodecError {
  return new CodecError('BAD_VALUE', `non-canonical or invalid ${what} encoding`);
}

function typeName(code: number): string {
  return ['INTEGER', 'INTEGER', 'REAL', 'TEXT', 'BLOB', 'NULL', 'INTEGER', 'REAL'][code] ?? 'unknown';
}

function describe(v: unknown): string {
  return v === undefined ? 'undefined' : typeof v === 'object' ? Object.prototype.toString.call(v) : typeof v;
}
