// The clocks of one row, as stored in the `clocks` column of its `<table>_cloudsync` meta row.
//
// One meta row per base row holds every clock the reference keeps in one meta row per cell:
// | part     | fields                                   | meaning                                   |
// |----------|------------------------------------------|-------------------------------------------|
// | sentinel | version (= causal length), dbv, seq, site | present once the row was deleted, re-inserted or merged; absent means cl 1 |
// | cell i   | version, dbv, seq, site                  | one per non-PK column, in column order; absent when never written or deleted |
//
// Encodings of the `clocks` column:
// - INTEGER s: the fresh-insert form: no sentinel, every cell version 1 at the row's db_version,
//   seq s + i, local site. Local inserts write this, so they need no blob.
// - BLOB: byte 0 = flags (bit 0: sentinel present); sentinel as 4 varints; varint cell count;
//   per cell a varint (version + 1, 0 = absent) then, if present, 3 varints dbv, seq, site.

import { CloudSyncError } from './errors.js';

/** The clock of one cell or of the sentinel. `site` is an ordinal: 0 is the local site. */
export interface CellClock {
  version: number;
  dbVersion: number;
  seq: number;
  site: number;
}

/** All clocks of one row. */
export interface RowClocks {
  sentinel: CellClock | null;
  cells: (CellClock | null)[];
}

/** The causal length the reference derives: the sentinel's version, 1 if only cells exist, else 0. */
export function causalLength(clocks: RowClocks | null): number {
  if (clocks === null) return 0;
  if (clocks.sentinel !== null) return clocks.sentinel.version;
  return clocks.cells.some((c) => c !== null) ? 1 : 0;
}

/** The highest db_version among the row's clocks (the indexed `db_version` of the meta row). */
export function maxDbVersion(clocks: RowClocks): number {
  let max = clocks.sentinel?.dbVersion ?? 0;
  for (const cell of clocks.cells) if (cell !== null && cell.dbVersion > max) max = cell.dbVersion;
  return max;
}

/** Reads the `clocks` column of a meta row; `rowDbVersion` is its `db_version` column. */
export function readRowClocks(stored: unknown, rowDbVersion: number, cellCount: number): RowClocks {
  if (typeof stored === 'bigint' || typeof stored === 'number') {
    const first = Number(stored);
    const cells: CellClock[] = [];
    for (let i = 0; i < cellCount; i++) cells.push({ version: 1, dbVersion: rowDbVersion, seq: first + i, site: 0 });
    return { sentinel: null, cells };
  }
  if (!(stored instanceof Uint8Array)) throw corrupt();
  const reader = new VarintReader(stored);
  const flags = reader.byte();
  const sentinel = flags & 1 ? readClock(reader, reader.varint()) : null;
  const stored_count = reader.varint();
  const cells: (CellClock | null)[] = [];
  for (let i = 0; i < stored_count; i++) {
    const tag = reader.varint();
    const cell = tag === 0 ? null : readClock(reader, tag - 1);
    if (i < cellCount) cells.push(cell);
  }
  while (cells.length < cellCount) cells.push(null);
  if (!reader.done) throw corrupt();
  return { sentinel, cells };
}

/** Encodes clocks for the `clocks` column (always the BLOB form). */
export function writeRowClocks(clocks: RowClocks): Uint8Array {
  const out: number[] = [clocks.sentinel ? 1 : 0];
  if (clocks.sentinel) writeClock(out, clocks.sentinel, clocks.sentinel.version);
  pushVarint(out, clocks.cells.length);
  for (const cell of clocks.cells) {
    if (cell === null) out.push(0);
    else writeClock(out, cell, cell.version + 1);
  }
  return Uint8Array.from(out);
}

function readClock(reader: VarintReader, version: number): CellClock {
  return { version, dbVersion: reader.varint(), seq: reader.varint(), site: reader.varint() };
}

function writeClock(out: number[], clock: CellClock, first: number): void {
  pushVarint(out, first);
  pushVarint(out, clock.dbVersion);
  pushVarint(out, clock.seq);
  pushVarint(out, clock.site);
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

class VarintReader {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.offset === this.bytes.length;
  }
  byte(): number {
    const b = this.bytes[this.offset++];
    if (b === undefined) throw corrupt();
    return b;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw corrupt();
  }
}

function corrupt(): CloudSyncError {
  return new CloudSyncError('SCHEMA', 'cloudsync: corrupt clocks in a meta row');
}
