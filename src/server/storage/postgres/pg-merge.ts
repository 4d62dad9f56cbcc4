// The merge rules (section 4 of the reference notes, as src/engine/merge.ts applies them to a
// SQLite database) over one row whose clocks and values were read beforehand: the PostgreSQL
// store reads every row an upload touches in a few queries, decides here, then writes the
// outcome in a few more. The rules and their order are the engine's; only the I/O differs.

import { type Change, SENTINEL } from '../../../codec/payload.js';
import { compareValues, type SqlValue } from '../../../codec/value.js';
import type { Algo } from '../../../engine/meta-schema.js';
import { type CellClock, causalLength, type RowClocks } from '../../../engine/row-clocks.js';

/** What merging needs of a table. */
export interface MergeTable {
  readonly algo: Algo;
  readonly cellCount: number;
  /** Column index by name, -1 when unknown (checked before merging). */
  indexOf(column: string): number;
  /** Each column's value in a row created with none of its columns written. */
  readonly defaults: readonly SqlValue[];
}

/** The local db_version of a winning change of source transaction (site ordinal, remote db_version). */
export type VersionOf = (site: number, remoteDbVersion: number) => number;

/** How the base row changes. */
export type BaseWrite =
  /** untouched */
  | 'none'
  /** insert the row, or update it, with the written columns */
  | 'upsert'
  /** delete the row if there, then insert it with the written columns (the others take defaults) */
  | 'replace'
  /** delete the row */
  | 'delete';

/** The outcome of merging a row's changes. */
export interface RowOutcome {
  base: BaseWrite;
  /** Column index → value, for 'upsert' and 'replace'. */
  written: Map<number, SqlValue>;
  /** 'keep': the meta row is unchanged; 'put': write `clocks`; 'delete': remove the meta row. */
  meta: 'keep' | 'put' | 'delete';
  clocks: RowClocks | null;
}

/**
 * Merges the changes of one row, in order, against its stored clocks and base values (null when
 * there is no meta row or no base row). `siteOf` gives a change's site ordinal.
 */
export function mergeRow(table: MergeTable, clocks: RowClocks | null, base: SqlValue[] | null, changes: readonly Change[], siteOf: (change: Change) => number, versionOf: VersionOf): RowOutcome {
  const existed = base !== null;
  let values = base === null ? null : base.slice();
  let current = clocks === null ? null : { sentinel: clocks.sentinel, cells: clocks.cells.slice() };
  let changed = false;
  let evicted = false;
  let recreated = false;
  const written = new Map<number, SqlValue>();
  const emptyCells = () => new Array<CellClock | null>(table.cellCount).fill(null);
  const deleteBase = () => {
    written.clear();
    values = null;
    recreated = false;
  };

  // the change being merged: its site, and its local db_version once taken (at its first win)
  let change = changes[0] as Change;
  let site = 0;
  let version = -1;
  const versionFor = () => (version < 0 ? (version = versionOf(site, change.dbVersion)) : version);
  const clockOf = (v: number): CellClock => ({ version: v, dbVersion: versionFor(), seq: change.seq, site });
  const resurrect = () => {
    if (values === null) {
      // the key is inserted alone: every other column takes its default
      values = table.defaults.slice();
      recreated = true;
    }
    const at = versionFor();
    const cells = (current?.cells ?? emptyCells()).map((cell): CellClock | null => (cell === null ? null : { ...cell, version: 0, dbVersion: at }));
    current = { sentinel: clockOf(change.cl), cells };
    changed = true;
  };

  // the row's causal length, kept as the clocks change (what causalLength(current) would say)
  let localCl = causalLength(current);
  for (change of changes) {
    site = siteOf(change);
    version = -1;

    if (change.cl === 0 && change.colName === SENTINEL) {
      // a removal a server sends when policies hide a row: row and clocks leave, no delete recorded
      deleteBase();
      current = null;
      localCl = 0;
      changed = false;
      evicted = true;
      continue;
    }
    const cl = change.cl;
    if (cl < localCl) continue;
    if (table.algo === 'dws' && localCl > 0 && localCl % 2 === 0) continue; // a delete is final
    if (cl % 2 === 0) {
      if (cl === localCl || table.algo === 'gos') continue;
      deleteBase();
      current = { sentinel: clockOf(change.colVersion), cells: emptyCells() };
      localCl = change.colVersion;
      changed = true;
      continue;
    }
    if (change.colName === SENTINEL) {
      if (cl !== localCl) {
        resurrect();
        localCl = cl;
      }
      continue;
    }
    const index = table.indexOf(change.colName);
    const needsResurrect = cl > localCl;
    const existsLocally = localCl !== 0;
    if (needsResurrect && (existsLocally || cl > 1)) {
      resurrect();
      localCl = cl;
    }
    let wins = needsResurrect || !existsLocally;
    if (!wins) {
      const local = current?.cells[index] ?? null;
      if (local === null) wins = true;
      else if (change.colVersion !== local.version) wins = change.colVersion > local.version;
      else wins = values === null || compareValues(change.colValue, values[index] ?? null) > 0;
    }
    if (!wins) continue;
    // a row without a base row gets one: the written column, defaults for the others
    if (values === null) values = table.defaults.slice();
    values[index] = change.colValue;
    written.set(index, change.colValue);
    const next: RowClocks = current ?? { sentinel: null, cells: emptyCells() };
    next.cells[index] = clockOf(change.colVersion);
    current = next;
    if (next.sentinel === null) localCl = 1;
    changed = true;
  }

  let write: BaseWrite = 'none';
  if (values === null) write = existed ? 'delete' : 'none';
  else if (recreated) write = 'replace';
  else if (written.size > 0) write = 'upsert';
  const meta = evicted && current === null ? (clocks === null ? 'keep' : 'delete') : changed && current !== null ? 'put' : 'keep';
  return { base: write, written, meta, clocks: current };
}
