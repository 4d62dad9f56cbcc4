// The 32-byte payload header, big-endian. Version 1 is what sqlite-sync 0.8 writes; version 2
// (newer releases) fills the last 6 bytes with a checksum of the body as transmitted.
//
// | offset | size | field                                                                   |
// |--------|------|-------------------------------------------------------------------------|
// | 0      | 4    | signature 'CLSY' (0x434C5359)                                           |
// | 4      | 1    | payload version: 1 or 2                                                 |
// | 5      | 3    | library version major, minor, patch                                     |
// | 8      | 4    | expanded_size: 0 = raw body, else the body is one LZ4 block of this size |
// | 12     | 2    | ncols: always 9                                                         |
// | 14     | 4    | nrows                                                                   |
// | 18     | 8    | schema hash, unsigned 64-bit                                            |
// | 26     | 6    | v1: unused (zero); v2: low 48 bits of FNV-1a 64 of the transmitted body |

import { CodecError } from './codec-error.js';

/** Size of the payload header in bytes. */
export const PAYLOAD_HEADER_SIZE = 32;

/** Number of values in every payload row. */
export const PAYLOAD_COLUMNS = 9;

const SIGNATURE = 0x434c5359; // 'CLSY'

/** The decoded fields of a payload header. */
export interface PayloadHeader {
  version: number;
  libVersion: [number, number, number];
  /** 0 when the body is raw, otherwise the exact size the LZ4 body inflates to. */
  expandedSize: number;
  ncols: number;
  nrows: number;
  /** Unsigned 64-bit; SQLite stores it signed (see toSignedInt64). */
  schemaHash: bigint;
  /** 48-bit body checksum of a version-2 payload; null for version 1. */
  checksum: number | null;
}

/** Writes `header` into the first 32 bytes of `out` (checksum null writes zeros). */
export function encodePayloadHeader(header: PayloadHeader, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, PAYLOAD_HEADER_SIZE);
  view.setUint32(0, SIGNATURE);
  view.setUint8(4, header.version);
  view.setUint8(5, header.libVersion[0]);
  view.setUint8(6, header.libVersion[1]);
  view.setUint8(7, header.libVersion[2]);
  view.setUint32(8, header.expandedSize);
  view.setUint16(12, header.ncols);
  view.setUint32(14, header.nrows);
  view.setBigUint64(18, header.schemaHash);
  const checksum = header.checksum ?? 0;
  view.setUint16(26, Math.floor(checksum / 4294967296));
  view.setUint32(28, checksum >>> 0);
}

/** Decodes and checks a payload header (signature, version 1 or 2, ncols 9); the body is not read. */
export function decodePayloadHeader(bytes: Uint8Array): PayloadHeader {
  if (bytes.length < PAYLOAD_HEADER_SIZE) {
    throw new CodecError('TRUNCATED', `a payload needs a ${PAYLOAD_HEADER_SIZE}-byte header, got ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, PAYLOAD_HEADER_SIZE);
  if (view.getUint32(0) !== SIGNATURE) throw new CodecError('BAD_SIGNATURE', 'not a payload: missing CLSY signature');
  const version = view.getUint8(4);
  if (version !== 1 && version !== 2) throw new CodecError('BAD_VERSION', `unsupported payload version ${version}`);
  const ncols = view.getUint16(12);
  if (ncols !== PAYLOAD_COLUMNS) throw new CodecError('BAD_SIZE', `payload rows have ${PAYLOAD_COLUMNS} columns, header says ${ncols}`);
  return {
    version,
    libVersion: [view.getUint8(5), view.getUint8(6), view.getUint8(7)],
    expandedSize: view.getUint32(8),
    ncols,
    nrows: view.getUint32(14),
    schemaHash: view.getBigUint64(18),
    checksum: version === 2 ? view.getUint16(26) * 4294967296 + view.getUint32(28) : null,
  };
}
