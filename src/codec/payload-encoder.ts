// Streaming payload encoder: rows are appended to a growing body, then finish() adds the
// header and compresses. Repeated table and column names are encoded once and copied.

import { ByteWriter } from './byte-writer.js';
import type { Change } from './change.js';
import { payloadChecksum } from './checksum.js';
import { CodecError } from './codec-error.js';
import { assertCompressionLevel, compressBlock } from './compression.js';
import { encodePayloadHeader, PAYLOAD_COLUMNS, PAYLOAD_HEADER_SIZE } from './payload-header.js';
import { writeInt, writeValue, type SqlValue } from './value.js';

/** How to build a payload. */
export interface EncodeOptions {
  /** Schema hash of the sender, unsigned or signed 64-bit (stored unsigned). */
  schemaHash: bigint;
  /** Payload version: 2 (default) adds a body checksum, 1 is what sqlite-sync 0.8 writes. */
  version?: 1 | 2;
  /** LZ4-compress the body when that makes it smaller (default true); otherwise raw with expandedSize 0. */
  compress?: boolean;
  /** LZ4 effort when compressing: 1 fastest .. 9 smallest (default DEFAULT_COMPRESSION_LEVEL in compression.ts). */
  compressionLevel?: number;
  /** Library version written in the header (default [0, 8, 12]). */
  libVersion?: [number, number, number];
  /** Expected body size in bytes, to allocate once instead of growing (default 64 KiB). */
  sizeHint?: number;
}

const DEFAULT_LIB_VERSION: [number, number, number] = [0, 8, 12];
const MAX_CACHED_NAMES = 4096;
const SITE_ID_BYTES = 16;

/** Builds one payload row by row; `finish()` returns the complete payload. */
export class PayloadEncoder {
  private readonly body: ByteWriter;
  private rows = 0;
  private readonly version: 1 | 2;
  private readonly compress: boolean;
  private readonly compressionLevel: number | undefined;
  private readonly libVersion: [number, number, number];
  private readonly schemaHash: bigint;
  // Encoded TEXT values of table and column names, keyed by the name.
  private readonly names = new Map<string, Uint8Array>();
  private lastTbl = '';
  private lastTblBytes: Uint8Array | null = null;

  constructor(options: EncodeOptions) {
    const version = options.version ?? 2;
    if (version !== 1 && version !== 2) throw new CodecError('BAD_VERSION', `cannot write payload version ${String(version)}`);
    const libVersion = options.libVersion ?? DEFAULT_LIB_VERSION;
    if (libVersion.length !== 3 || !libVersion.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
      throw new CodecError('BAD_VALUE', 'libVersion must be three integers 0..255');
    }
    const hash = options.schemaHash;
    if (typeof hash !== 'bigint' || hash < -(2n ** 63n) || hash >= 2n ** 64n) {
      throw new CodecError('BAD_VALUE', 'schemaHash must be a 64-bit integer (signed or unsigned)');
    }
    this.version = version;
    this.compress = options.compress ?? true;
    if (options.compressionLevel !== undefined) assertCompressionLevel(options.compressionLevel);
    this.compressionLevel = options.compressionLevel;
    this.libVersion = [libVersion[0], libVersion[1], libVersion[2]];
    this.schemaHash = BigInt.asUintN(64, hash);
    this.body = new ByteWriter(Math.min(Math.max(options.sizeHint ?? 0, 64 * 1024), 1 << 30));
  }

  /** Number of rows added so far. */
  get count(): number {
    return this.rows;
  }

  /** Size of the uncompressed body so far, in bytes. */
  get bodySize(): number {
    return this.body.length;
  }

  /** Appends one change. */
  add(change: Change): void {
    this.addRow(
      change.tbl,
      change.pk,
      change.colName,
      change.colValue,
      change.colVersion,
      change.dbVersion,
      change.siteId,
      change.cl,
      change.seq,
    );
  }

  /** Appends one change given as its 9 fields, in payload order (no object needed). */
  addRow(
    tbl: string,
    pk: Uint8Array,
    colName: string,
    colValue: SqlValue,
    colVersion: number,
    dbVersion: number,
    siteId: Uint8Array,
    cl: number,
    seq: number,
  ): void {
    this.checkRoom();
    if (!(pk instanceof Uint8Array)) throw new CodecError('BAD_TYPE', 'pk must be a BLOB');
    if (!(siteId instanceof Uint8Array) || siteId.length !== SITE_ID_BYTES) {
      throw new CodecError('BAD_VALUE', `site_id must be a ${SITE_ID_BYTES}-byte BLOB`);
    }
    const w = this.body;
    const start = w.position;
    try {
      w.writeBytes(this.tableBytes(tbl));
      writeValue(w, pk);
      w.writeBytes(this.nameBytes(colName));
      writeValue(w, colValue);
      this.writeClock(colVersion, dbVersion, siteId, cl, seq);
    } catch (error) {
      w.position = start; // a rejected change leaves no partial row behind
      throw error;
    }
    this.rows++;
  }

  /**
   * Appends one change whose pk and col_value are given already encoded (each one value in the
   * value encoding, as writeValue writes it): the engine's read path writes them once and copies.
   */
  addEncodedRow(
    tbl: string,
    encodedPk: Uint8Array,
    colName: string,
    encodedValue: Uint8Array,
    colVersion: number,
    dbVersion: number,
    siteId: Uint8Array,
    cl: number,
    seq: number,
  ): void {
    this.checkRoom();
    if (siteId.length !== SITE_ID_BYTES) throw new CodecError('BAD_VALUE', `site_id must be a ${SITE_ID_BYTES}-byte BLOB`);
    const w = this.body;
    const start = w.position;
    try {
      w.writeBytes(this.tableBytes(tbl));
      w.writeBytes(encodedPk);
      w.writeBytes(this.nameBytes(colName));
      w.writeBytes(encodedValue);
      this.writeClock(colVersion, dbVersion, siteId, cl, seq);
    } catch (error) {
      w.position = start;
      throw error;
    }
    this.rows++;
  }

  /** Returns the payload: header, then the body (LZ4 when enabled and smaller). */
  finish(): Uint8Array {
    const raw = this.body.finish();
    if (raw.length > 0xffffffff) throw new CodecError('TOO_LARGE', 'payload body exceeds 4 GiB');
    const compressed = this.compress ? compressBlock(raw, this.compressionLevel) : null;
    const body = compressed ?? raw;
    const out = new Uint8Array(PAYLOAD_HEADER_SIZE + body.length);
    out.set(body, PAYLOAD_HEADER_SIZE);
    encodePayloadHeader(
      {
        version: this.version,
        libVersion: this.libVersion,
        expandedSize: compressed === null ? 0 : raw.length,
        ncols: PAYLOAD_COLUMNS,
        nrows: this.rows,
        schemaHash: this.schemaHash,
        checksum: this.version === 2 ? payloadChecksum(body) : null,
      },
      out,
    );
    return out;
  }

  private checkRoom(): void {
    if (this.rows >= 0xffffffff) throw new CodecError('TOO_LARGE', 'a payload holds at most 2^32-1 rows');
  }

  /** The five fields after col_value: col_version, db_version, site_id, cl, seq. */
  private writeClock(colVersion: number, dbVersion: number, siteId: Uint8Array, cl: number, seq: number): void {
    const w = this.body;
    writeVersion(w, colVersion, 'col_version');
    writeVersion(w, dbVersion, 'db_version');
    writeValue(w, siteId);
    writeVersion(w, cl, 'cl');
    writeVersion(w, seq, 'seq');
  }

  /** The encoded TEXT of a table name: the last one is kept at hand (rows come grouped by table). */
  private tableBytes(tbl: string): Uint8Array {
    if (tbl === this.lastTbl && this.lastTblBytes !== null) return this.lastTblBytes;
    const bytes = this.nameBytes(tbl);
    this.lastTbl = tbl;
    this.lastTblBytes = bytes;
    return bytes;
  }

  /** The encoded TEXT value of a table or column name, cached. */
  private nameBytes(name: string): Uint8Array {
    let bytes = this.names.get(name);
    if (bytes === undefined) {
      if (typeof name !== 'string') throw new CodecError('BAD_TYPE', 'table and column names must be TEXT');
      const w = new ByteWriter(name.length * 3 + 10);
      writeValue(w, name);
      bytes = w.finish().slice();
      if (this.names.size < MAX_CACHED_NAMES) this.names.set(name, bytes);
    }
    return bytes;
  }
}

/** Writes a version field: a non-negative safe integer. */
function writeVersion(w: ByteWriter, n: number, field: string): void {
  if (typeof n !== 'number') throw new CodecError('BAD_TYPE', `${field} must be a number`);
  if (!(n >= 0)) throw new CodecError('BAD_VALUE', `${field} must be a non-negative integer, got ${n}`);
  writeInt(w, n);
}
