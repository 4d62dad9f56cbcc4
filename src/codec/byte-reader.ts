// A bounds-checked cursor over bytes: the input side of every decoder in this folder.
// Every read checks the bytes that remain and throws CodecError('TRUNCATED') on underflow.

import { CodecError } from './codec-error.js';

/** Cursor over `bytes[offset, end)` whose reads never run past `end`. */
export class ByteReader {
  /** The underlying bytes (reads return views into them). */
  readonly bytes: Uint8Array;
  /** Index of the next byte to read. */
  offset: number;
  /** Index one past the last readable byte. */
  readonly end: number;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    if (!(offset >= 0 && offset <= end && end <= bytes.length)) {
      throw new RangeError(`ByteReader: bad range [${offset}, ${end}) of ${bytes.length} bytes`);
    }
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
  }

  /** Number of bytes left to read. */
  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws TRUNCATED unless at least `n` bytes remain. */
  need(n: number): void {
    if (n > this.end - this.offset) throw truncated(n, this.end - this.offset);
  }

  /** Reads one byte. */
  readByte(): number {
    if (this.offset >= this.end) throw truncated(1, 0);
    return this.bytes[this.offset++]!;
  }

  /** Reads `n` bytes as a view into the underlying bytes (no copy). */
  readBytes(n: number): Uint8Array {
    if (n > this.end - this.offset) throw truncated(n, this.end - this.offset);
    const start = this.offset;
    this.offset = start + n;
    return this.bytes.subarray(start, start + n);
  }

  /** Skips `n` bytes. */
  skip(n: number): void {
    if (n > this.end - this.offset) throw truncated(n, this.end - this.offset);
    this.offset += n;
  }

  /** Reads an unsigned 16-bit big-endian integer. */
  readUint16BE(): number {
    if (2 > this.end - this.offset) throw truncated(2, this.end - this.offset);
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  /** Reads an unsigned 32-bit big-endian integer. */
  readUint32BE(): number {
    if (4 > this.end - this.offset) throw truncated(4, this.end - this.offset);
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
}

function truncated(wanted: number, left: number): CodecError {
  return new CodecError('TRUNCATED', `need ${wanted} bytes, ${left} left`);
}
