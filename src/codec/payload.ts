// Payloads: a 32-byte header (payload-header.ts) and a body of `nrows` rows of 9 values each
// (tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq), no separators,
// optionally one LZ4 block. Decoding trusts no size field: every length is checked against
// the bytes that remain, inflation is bounded before allocating, and nothing is preallocated
// from nrows.

import { ByteReader } from './byte-reader.js';
import { SENTINEL, type Change } from './change.js';
import { payloadChecksum } from './checksum.js';
import { CodecError } from './codec-error.js';
import { decompressBlock } from './compression.js';
import { PayloadEncoder, type EncodeOptions } from './payload-encoder.js';
import { decodePayloadHeader, PAYLOAD_HEADER_SIZE, type PayloadHeader } from './payload-header.js';
import { readIntNumber, readValue } from './value.js';

export { SENTINEL, type Change } from './change.js';
export { PayloadEncoder, type EncodeOptions } from './payload-encoder.js';
export { decodePayloadHeader, type PayloadHeader } from './payload-header.js';

/** Limits applied while decoding. */
export interface DecodeOptions {
  /** Largest inflated body accepted, in bytes (default 512 MiB). */
  maxExpandedSize?: number;
}

/** What decodePayload returns. */
export interface DecodedPayload {
  header: PayloadHeader;
  changes: Change[];
}

const DEFAULT_MAX_EXPANDED_SIZE = 512 * 1024 * 1024;
const MIN_ROW_BYTES = 32; // 2 (tbl) + 2 (pk) + 1 (col_name) + 1 (col_value) + 4 * 2 + 18 (site_id)
/** The length of a site id. */
export const SITE_ID_BYTES = 16;
const TEXT_1 = (1 << 3) | 3; // type byte of a TEXT whose length takes one byte
const BLOB_1 = (1 << 3) | 4;
const NULL_BYTE = 5;
const NAME_CACHE_SIZE = 32;
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Encodes changes into one payload (an empty iterable gives a valid payload with nrows 0). */
export function encodePayload(changes: Iterable<Change>, options: EncodeOptions): Uint8Array {
  const encoder = new PayloadEncoder(options);
  for (const change of changes) encoder.add(change);
  return encoder.finish();
}

/**
 * Decodes a version 1 or 2 payload into its header and changes, or throws CodecError.
 * Decoded BLOBs (pk, site_id, BLOB values) are views into one private copy of the body;
 * repeated site ids and consecutive equal primary keys are the same Uint8Array object.
 */
export function decodePayload(bytes: Uint8Array, options: DecodeOptions = {}): DecodedPayload {
  const changes: Change[] = [];
  const header = forEachPayloadChange(bytes, (change) => changes.push(change), options);
  return { header, changes };
}

/**
 * Decodes a payload row by row, calling `visit` with each change as soon as it is read, and
 * returns the header. The header and (in version 2) the checksum are verified before the first
 * call, but a malformed row can still throw CodecError after earlier rows were visited, so
 * apply inside a transaction. Faster than decodePayload when changes are not kept.
 */
export function forEachPayloadChange(bytes: Uint8Array, visit: (change: Change) => void, options: DecodeOptions = {}): PayloadHeader {
  const rows = new PayloadRows(bytes, options);
  for (let row = 0; row < rows.header.nrows; row++) visit(rows.read());
  rows.finish();
  return rows.header;
}

/**
 * The rows of one payload, read in order and read again at a remembered offset: lets a caller
 * walk a large payload once, keep only offsets, and decode each row again when it needs it, so
 * that decoded changes die young instead of all living until the end.
 */
export class PayloadRows {
  readonly header: PayloadHeader;
  /** The verified (and inflated) body; BLOBs of read changes are views into it. */
  readonly body: Uint8Array;
  private readonly r: ByteReader;
  private readonly names = new NameCache();
  private lastSite: Uint8Array | null = null;
  private lastPk: Uint8Array | null = null;
  private rowsRead = 0;

  /** Verifies the header and checksum and inflates the body (bounded); throws CodecError. */
  constructor(bytes: Uint8Array, options: DecodeOptions = {}) {
    this.header = decodePayloadHeader(bytes);
    this.body = readBody(bytes, this.header, options.maxExpandedSize ?? DEFAULT_MAX_EXPANDED_SIZE);
    if (this.header.nrows > this.body.length / MIN_ROW_BYTES) {
      throw new CodecError('BAD_SIZE', `${this.header.nrows} rows cannot fit in a ${this.body.length}-byte body`);
    }
    this.r = new ByteReader(this.body);
  }

  /** Offset in the body of the next row `read()` reads. */
  get offset(): number {
    return this.r.offset;
  }

  /** Reads the row at `offset` (default: the next one), or throws CodecError. */
  read(offset?: number): Change {
    const r = this.r;
    if (offset === undefined) {
      if (this.rowsRead >= this.header.nrows) throw new CodecError('BAD_SIZE', `the payload has only ${this.header.nrows} rows`);
      this.rowsRead++;
    } else {
      if (!(offset >= 0 && offset < r.end)) throw new RangeError(`no row at offset ${offset}`);
      r.offset = offset;
    }
    const tbl = readName(r, this.names, 'tbl') ?? fieldError('tbl', null);
    const pk = readBlob(r, this.lastPk, 'pk');
    this.lastPk = pk;
    const colName = readName(r, this.names, 'col_name') ?? SENTINEL;
    const colValue = readValue(r);
    const colVersion = readVersion(r, 'col_version');
    const dbVersion = readVersion(r, 'db_version');
    const siteId = readSiteId(r, this.lastSite);
    this.lastSite = siteId;
    const cl = readVersion(r, 'cl');
    const seq = readVersion(r, 'seq');
    return { tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq };
  }

  /** After reading every row in order: throws BAD_SIZE when bytes remain after the last one. */
  finish(): void {
    if (this.r.remaining !== 0) throw new CodecError('BAD_SIZE', `${this.r.remaining} bytes after the last of ${this.header.nrows} rows`);
  }
}

/** Verifies the checksum and returns the raw body: a private copy, or the bounded inflate. */
function readBody(bytes: Uint8Array, header: PayloadHeader, maxExpandedSize: number): Uint8Array {
  const transmitted = bytes.subarray(PAYLOAD_HEADER_SIZE);
  if (header.checksum !== null && payloadChecksum(transmitted) !== header.checksum) {
    throw new CodecError('BAD_CHECKSUM', 'payload body does not match its checksum (truncated or corrupted in transit)');
  }
  const size = header.expandedSize;
  if (size === 0) return transmitted.slice();
  if (size > maxExpandedSize) {
    throw new CodecError('TOO_LARGE', `body inflates to ${size} bytes, limit is ${maxExpandedSize}`);
  }
  return decompressBlock(transmitted, size); // refuses more than 255:1 before allocating
}

/** Reads a TEXT field through the name cache; NULL gives null; any other type is BAD_TYPE. */
function readName(r: ByteReader, names: NameCache, field: string): string | null {
  const b = r.bytes;
  const o = r.offset;
  if (o + 1 < r.end && b[o] === TEXT_1 && b[o + 1]! < 0x80) {
    const start = o + 2;
    const end = start + b[o + 1]!;
    if (end > r.end) throw new CodecError('TRUNCATED', `${field} runs past the body`);
    r.offset = end;
    return names.get(b, start, end);
  }
  if (o < r.end && b[o] === NULL_BYTE) {
    r.offset = o + 1;
    return null;
  }
  const v = readValue(r);
  if (typeof v !== 'string') fieldError(field, v);
  return v;
}

/** Reads a BLOB field, returning `last` itself when the bytes are the same (rows of one row share them). */
function readBlob(r: ByteReader, last: Uint8Array | null, field: string): Uint8Array {
  const b = r.bytes;
  const o = r.offset;
  if (o + 1 < r.end && b[o] === BLOB_1 && b[o + 1]! < 0x80) {
    const n = b[o + 1]!;
    const start = o + 2;
    if (start + n > r.end) throw new CodecError('TRUNCATED', `${field} runs past the body`);
    r.offset = start + n;
    if (last !== null && last.length === n) {
      let i = 0;
      while (i < n && last[i] === b[start + i]) i++;
      if (i === n) return last;
    }
    return b.subarray(start, start + n);
  }
  const v = readValue(r);
  if (!(v instanceof Uint8Array)) fieldError(field, v);
  return v;
}

/** Reads the 16-byte site id BLOB, returning `last` itself when the bytes are the same. */
function readSiteId(r: ByteReader, last: Uint8Array | null): Uint8Array {
  const v = readBlob(r, last, 'site_id');
  if (v.length !== SITE_ID_BYTES) throw new CodecError('BAD_VALUE', `site_id must be ${SITE_ID_BYTES} bytes, got ${v.length}`);
  return v;
}

function readVersion(r: ByteReader, field: string): number {
  const n = readIntNumber(r);
  if (n < 0) throw new CodecError('BAD_VALUE', `${field} must not be negative, got ${n}`);
  return n;
}

function fieldError(field: string, value: unknown): never {
  const found =
    value === null
      ? 'NULL'
      : typeof value === 'bigint'
        ? 'INTEGER'
        : typeof value === 'number'
          ? 'REAL'
          : typeof value === 'string'
            ? 'TEXT'
            : 'BLOB';
  throw new CodecError('BAD_TYPE', `payload field ${field} has the wrong type (${found})`);
}

/** Decoded strings of recently seen table and column names, matched by their raw bytes. */
class NameCache {
  private readonly raw: Uint8Array[] = [];
  private readonly text: string[] = [];
  private next = 0;

  get(bytes: Uint8Array, start: number, end: number): string {
    const n = end - start;
    const raw = this.raw;
    for (let k = 0; k < raw.length; k++) {
      const candidate = raw[k]!;
      if (candidate.length !== n) continue;
      let i = 0;
      while (i < n && candidate[i] === bytes[start + i]) i++;
      if (i === n) return this.text[k]!;
    }
    const value = n === 0 ? '' : UTF8.decode(bytes.subarray(start, end));
    if (raw.length < NAME_CACHE_SIZE) {
      raw.push(bytes.subarray(start, end));
      this.text.push(value);
    } else {
      raw[this.next] = bytes.subarray(start, end);
      this.text[this.next] = value;
      this.next = (this.next + 1) % NAME_CACHE_SIZE;
    }
    return value;
  }
}
