// The clocks of one row, as stored in the `clocks` column of its `<table>_cloudsync` meta row.
//
// One meta row per base row holds every clock the reference keeps in one meta row per cell:
// | part     | fields                                   | meaning                                   |
// |----------|------------------------------------------|-------------------------------------------|
// | sentinel | version (= causal length), dbv, seq, site | present once the row was deleted, re-inserted or merged; absent means cl 1 |
// | cell i   | version, dbv, seq, site                  | one per non-PK column, in column order; absent when never written or deleted |
//
// Encodings of the `clocks` column (the meta row's `db_version` is generated from it):
// - INTEGER v: the fresh-insert form, v = db_version × 2^30 + s: no sentinel, every cell version 1
//   at that db_version, seq s + i, local site. A local insert writes it with one function call.
// - TEXT: the row's newest db_version in decimal, then a JSON array `[sentinel, cell0, cell1, …]`
//   whose parts are null (absent) or `[version, db_version, seq, site]`, e.g.
//   `9[null,[1,5,0,0],[2,9,3,0]]`. Text rather than a BLOB because a string crosses into
//   JavaScript without allocating a Buffer (this matters in triggers); the leading number because
//   SQLite derives `db_version` from it with a plain CAST; JSON because SQLite's json_each then
//   expands the cells in the cloudsync_changes view without calling JavaScript.

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

/** The clocks of a row written while its table was disabled: no sentinel, no cell, db_version 0. */
export const UNTRACKED = '0[null]';

/** Multiplier of db_version in the INTEGER form (seq numbers of a transaction stay below it). */
export const FRESH_SEQ_LIMIT = 2 ** 30;

/** The INTEGER form for a fresh insert at `dbVersion` whose first cell takes seq `firstSeq`. */
export function freshClocks(dbVersion: number, firstSeq: number): bigint {
  if (firstSeq >= FRESH_SEQ_LIMIT) throw new CloudSyncError('MISUSE', `cloudsync: more than ${FRESH_SEQ_LIMIT} tracked cells written in one transaction`);
  return BigInt(dbVersion) * BigInt(FRESH_SEQ_LIMIT) + BigInt(firstSeq);
}

/** Reads the `clocks` column of a meta row. */
export function readRowClocks(stored: unknown, cellCount: number): RowClocks {
  if (typeof stored === 'bigint' || typeof stored === 'number') {
    const value = BigInt(stored);
    const dbVersion = Number(value / BigInt(FRESH_SEQ_LIMIT));
    const first = Number(value % BigInt(FRESH_SEQ_LIMIT));
    const cells: CellClock[] = [];
    for (let i = 0; i < cellCount; i++) cells.push({ version: 1, dbVersion, seq: first + i, site: 0 });
    return { sentinel: null, cells };
  }
  if (typeof stored !== 'string') throw corrupt();
  const open = stored.indexOf('[');
  if (open < 1 || !/^[0-9]+$/.test(stored.slice(0, open))) throw corrupt();
  let parts: unknown;
  try {
    parts = JSON.parse(stored.slice(open));
  } catch {
    throw corrupt();
  }
  if (!Array.isArray(parts) || parts.length === 0) throw corrupt();
  const cells: (CellClock | null)[] = [];
  for (let i = 1; i <= cellCount; i++) cells.push(i < parts.length ? clockOf(parts[i]) : null);
  return { sentinel: clockOf(parts[0]), cells };
}

/** Encodes clocks for the `clocks` column (always the TEXT form). */
export function writeRowClocks(clocks: RowClocks): string {
  let text = `${maxDbVersion(clocks)}[${partText(clocks.sentinel)}`;
  for (const cell of clocks.cells) text += `,${partText(cell)}`;
  return `${text}]`;
}

function partText(clock: CellClock | null): string {
  return clock === null ? 'null' : `[${clock.version},${clock.dbVersion},${clock.seq},${clock.site}]`;
}

function clockOf(part: unknown): CellClock | null {
  if (part === null) return null;
  if (!Array.isArray(part) || part.length !== 4 || !part.every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) throw corrupt();
  return { version: part[0] as number, dbVersion: part[1] as number, seq: part[2] as number, site: part[3] as number };
}

function corrupt(): CloudSyncError {
  return new CloudSyncError('SCHEMA', 'cloudsync: corrupt clocks in a meta row');
}
