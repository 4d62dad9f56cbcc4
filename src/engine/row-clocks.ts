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
//   seq s + i, local site. Local inserts write this, so they need no JavaScript for the clocks.
// - TEXT: `sentinel|cell0|cell1|…`, each part empty (absent) or `version,dbv,seq,site` in decimal,
//   e.g. `|1,5,0,0|2,9,3,0|` (no sentinel, two cells). TEXT rather than BLOB because a string
//   crosses into JavaScript without allocating a Buffer, which matters in triggers.

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
  if (typeof stored !== 'string') throw corrupt();
  let position = 0;
  const readPart = (): CellClock | null => {
    if (position >= stored.length || stored.charCodeAt(position) === BAR) return null;
    const version = readNumber(true);
    const dbVersion = readNumber(true);
    const seq = readNumber(true);
    const site = readNumber(false);
    return { version, dbVersion, seq, site };
  };
  // Reads decimal digits; with `comma`, requires and steps over the ',' that must follow.
  const readNumber = (comma: boolean): number => {
    let value = 0;
    let digits = 0;
    while (position < stored.length) {
      const c = stored.charCodeAt(position);
      if (c < 48 || c > 57) break;
      value = value * 10 + (c - 48);
      digits++;
      position++;
    }
    if (digits === 0 || digits > 15) throw corrupt();
    if (comma) {
      if (stored.charCodeAt(position) !== COMMA) throw corrupt();
      position++;
    }
    return value;
  };
  const sentinel = readPart();
  const cells: (CellClock | null)[] = [];
  while (position < stored.length) {
    if (stored.charCodeAt(position) !== BAR) throw corrupt();
    position++;
    const cell = readPart();
    if (cells.length < cellCount) cells.push(cell);
  }
  while (cells.length < cellCount) cells.push(null);
  return { sentinel, cells };
}

/** Encodes clocks for the `clocks` column (always the TEXT form). */
export function writeRowClocks(clocks: RowClocks): string {
  let text = clocks.sentinel === null ? '' : partText(clocks.sentinel);
  for (const cell of clocks.cells) text += cell === null ? '|' : `|${partText(cell)}`;
  return text;
}

const BAR = 124; // '|'
const COMMA = 44; // ','

function partText(clock: CellClock): string {
  return `${clock.version},${clock.dbVersion},${clock.seq},${clock.site}`;
}

function corrupt(): CloudSyncError {
  return new CloudSyncError('SCHEMA', 'cloudsync: corrupt clocks in a meta row');
}
