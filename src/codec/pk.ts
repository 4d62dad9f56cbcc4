// Primary-key blobs: one count byte (1..255) followed by that many encoded values.
// Row identity is byte identity of this blob, so decoding is strict and canonical.

import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { CodecError } from './codec-error.js';
import { readValue, writeValue, type SqlValue } from './value.js';

const MAX_PK_COLUMNS = 255;

// Reused across calls: encodePk is on the local-write hot path.
const scratch = new ByteWriter(256);

/** Encodes the primary-key values of a row (1..255 of them) into its primary-key blob. */
export function encodePk(values: readonly SqlValue[]): Uint8Array {
  const n = values.length;
  if (n < 1 || n > MAX_PK_COLUMNS) {
    throw new CodecError('BAD_VALUE', `a primary key has 1..${MAX_PK_COLUMNS} values, got ${n}`);
  }
  scratch.reset();
  scratch.writeByte(n);
  for (let i = 0; i < n; i++) writeValue(scratch, values[i]!);
  const out = scratch.finish().slice();
  if (scratch.buffer.length > 65536) scratch.buffer = new Uint8Array(256); // do not pin a huge key
  return out;
}

/**
 * Appends the primary-key blob of `values[0..count)` as a BLOB value (the payload's pk field),
 * without allocating the blob.
 */
export function writePkValue(w: ByteWriter, values: readonly SqlValue[], count: number): void {
  if (count < 1 || count > MAX_PK_COLUMNS || count > values.length) {
    throw new CodecError('BAD_VALUE', `a primary key has 1..${MAX_PK_COLUMNS} values, got ${count}`);
  }
  scratch.reset();
  scratch.writeByte(count);
  for (let i = 0; i < count; i++) writeValue(scratch, values[i]!);
  writeValue(w, scratch.finish());
  if (scratch.buffer.length > 65536) scratch.buffer = new Uint8Array(256);
}

/** Decodes a primary-key blob; exactly `count` canonical values and no trailing bytes, or CodecError. */
export function decodePk(blob: Uint8Array): SqlValue[] {
  const r = new ByteReader(blob);
  const n = r.readByte();
  if (n < 1) throw new CodecError('BAD_VALUE', 'a primary key has at least one value');
  const values: SqlValue[] = [];
  for (let i = 0; i < n; i++) {
    const v = readValue(r);
    values.push(v instanceof Uint8Array ? v.slice() : v);
  }
  if (r.remaining !== 0) throw new CodecError('BAD_SIZE', `${r.remaining} trailing bytes after the primary key`);
  return values;
}
