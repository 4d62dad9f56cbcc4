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

import { clockBuffer, freshClockParts, PART_SIZE, parseClockText } from './clock-text.js';
import { CloudSyncError } from './errors.js';

// The buffer readRowClocks reads into.
let scratch = new Float64Array(64);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

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
  scratch = clockBuffer(scratch, cellCount + 1);
  readClockParts(stored, cellCount + 1, scratch);
  const cells: (CellClock | null)[] = [];
  for (let i = 1; i <= cellCount; i++) cells.push(clockAt(scratch, i));
  return { sentinel: clockAt(scratch, 0), cells };
}

/**
 * Reads the `clocks` column into a flat buffer of `partCount` parts (sentinel, then cells; see
 * clock-text.ts), without an object per cell: for the loops that read every meta row.
 */
export function readClockParts(stored: unknown, partCount: number, out: Float64Array): void {
  if (typeof stored === 'bigint' || typeof stored === 'number') {
    let dbVersion: number;
    let first: number;
    if (typeof stored === 'number' || stored <= MAX_SAFE) {
      const value = Number(stored);
      dbVersion = Math.floor(value / FRESH_SEQ_LIMIT);
      first = value - dbVersion * FRESH_SEQ_LIMIT;
    } else {
      dbVersion = Number(stored / BigInt(FRESH_SEQ_LIMIT));
      first = Number(stored % BigInt(FRESH_SEQ_LIMIT));
    }
    freshClockParts(dbVersion, first, partCount, out);
    return;
  }
  if (typeof stored !== 'string' || !parseClockText(stored, partCount, out)) throw corruptClocks();
}

/** The causal length of clocks in a flat buffer (see causalLength). */
export function causalLengthOfParts(parts: Float64Array, partCount: number): number {
  if ((parts[0] as number) >= 0) return parts[0] as number;
  for (let p = 1; p < partCount; p++) if ((parts[p * PART_SIZE] as number) >= 0) return 1;
  return 0;
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

function clockAt(parts: Float64Array, part: number): CellClock | null {
  const at = part * PART_SIZE;
  const version = parts[at] as number;
  return version < 0 ? null : { version, dbVersion: parts[at + 1] as number, seq: parts[at + 2] as number, site: parts[at + 3] as number };
}

/** Throws the error of a meta row whose clocks cannot be read. */
export function corruptClocks(): CloudSyncError {
  return new CloudSyncError('SCHEMA', 'cloudsync: corrupt clocks in a meta row');
}
