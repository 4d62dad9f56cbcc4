// How a local INSERT, UPDATE, DELETE or primary-key change moves a row's clocks (the reference's
// insert/update/delete algorithms). Pure functions: the triggers call them through SQL functions.

import { clockBuffer, formatClockParts, PART_SIZE, parseClockText } from './clock-text.js';
import { CloudSyncError } from './errors.js';
import { type CellClock, causalLength, corruptClocks, FRESH_SEQ_LIMIT, readRowClocks, type RowClocks, writeRowClocks } from './row-clocks.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

let scratch = new Float64Array(64);

/** Local time for one write: the transaction's db_version and a seq source. */
export interface WriteTime {
  dbVersion: number;
  takeSeq: () => number;
}

/** Clocks after a local INSERT of the row (`old` is the meta row, if any). */
export function clocksAfterInsert(table: string, old: RowClocks | null, cellCount: number, time: WriteTime, deleteWins: boolean): RowClocks {
  if (deleteWins && old !== null && causalLength(old) % 2 === 0) refuseReinsert(table);
  const sentinel = insertSentinel(old, cellCount, time);
  const cells = (old?.cells ?? new Array<CellClock | null>(cellCount).fill(null)).map((cell) => stamp(cell === null ? 1 : cell.version + 1, time));
  return { sentinel, cells };
}

/** Clocks after a local UPDATE that changed the columns flagged in `changed` (no key change). */
export function clocksAfterUpdate(old: RowClocks | null, cellCount: number, changed: readonly boolean[], time: WriteTime): RowClocks {
  const cells = old ? [...old.cells] : new Array<CellClock | null>(cellCount).fill(null);
  for (let i = 0; i < cellCount; i++) {
    if (changed[i]) cells[i] = stamp((cells[i]?.version ?? 0) + 1, time);
  }
  return { sentinel: old?.sentinel ?? null, cells };
}

/**
 * The stored form of a row's clocks after a local UPDATE, from its stored form (`clocks` of its
 * meta row, null or undefined without one), through the fast paths below when they apply.
 */
export function storedAfterUpdate(stored: unknown, cellCount: number, changed: readonly boolean[], time: WriteTime): string {
  if (typeof stored === 'bigint' && stored <= MAX_SAFE) return freshClocksAfterUpdate(Number(stored), cellCount, changed, time);
  if (typeof stored === 'string') return textClocksAfterUpdate(stored, cellCount, changed, time);
  return writeRowClocks(clocksAfterUpdate(stored === null || stored === undefined ? null : readRowClocks(stored, cellCount), cellCount, changed, time));
}

/**
 * The text form of clocksAfterUpdate for a row whose stored clocks are still the fresh-insert
 * INTEGER (`stored` = db_version × 2^30 + first seq, below 2^53): the same string that
 * writeRowClocks(clocksAfterUpdate(readRowClocks(stored), …)) gives, without building clock
 * objects. The first update of a row is the common case, and it runs in a trigger.
 */
export function freshClocksAfterUpdate(stored: number, cellCount: number, changed: readonly boolean[], time: WriteTime): string {
  const dbVersion = Math.floor(stored / FRESH_SEQ_LIMIT);
  const firstSeq = stored - dbVersion * FRESH_SEQ_LIMIT;
  let cells = '';
  let max = 0;
  for (let i = 0; i < cellCount; i++) {
    if (changed[i]) {
      cells += `,[2,${time.dbVersion},${time.takeSeq()},0]`;
      if (time.dbVersion > max) max = time.dbVersion;
    } else {
      cells += `,[1,${dbVersion},${firstSeq + i},0]`;
      if (dbVersion > max) max = dbVersion;
    }
  }
  return `${max}[null${cells}]`;
}

/**
 * The text form of clocksAfterUpdate for a row whose stored clocks are TEXT: the same string that
 * writeRowClocks(clocksAfterUpdate(readRowClocks(stored), …)) gives, edited in a flat buffer.
 */
export function textClocksAfterUpdate(stored: string, cellCount: number, changed: readonly boolean[], time: WriteTime): string {
  scratch = clockBuffer(scratch, cellCount + 1);
  const parts = scratch;
  if (!parseClockText(stored, cellCount + 1, parts)) throw corruptClocks();
  stampUpdatedCells(parts, cellCount, (i) => changed[i] === true, time);
  return formatClockParts(parts, cellCount + 1);
}

/** clocksAfterUpdate on a clock buffer (see clock-text.ts): each changed cell counts one more, at this write's time. */
export function stampUpdatedCells(parts: Float64Array, cellCount: number, changed: (cell: number) => boolean, time: WriteTime): void {
  for (let i = 0; i < cellCount; i++) {
    if (!changed(i)) continue;
    const at = (i + 1) * PART_SIZE;
    parts[at] = Math.max(parts[at] as number, 0) + 1;
    parts[at + 1] = time.dbVersion;
    parts[at + 2] = time.takeSeq();
    parts[at + 3] = 0;
  }
}

/** Clocks after a local DELETE: the sentinel counts one more (even: deleted); cells are dropped. */
export function clocksAfterDelete(old: RowClocks | null, cellCount: number, time: WriteTime): RowClocks {
  const version = old?.sentinel ? old.sentinel.version + 1 : 2;
  return { sentinel: stamp(version, time), cells: new Array<CellClock | null>(cellCount).fill(null) };
}

/**
 * Clocks of the old and the new key after a primary-key change: the old key gets a tombstone, its
 * cells move to the new key re-stamped as local at version 1 (each with its own seq), the new key
 * gets a live sentinel, then changed columns count one more.
 */
export function clocksAfterKeyChange(
  table: string,
  oldKey: RowClocks | null,
  newKey: RowClocks | null,
  cellCount: number,
  changed: readonly boolean[],
  time: WriteTime,
  deleteWins: boolean,
): { oldKey: RowClocks; newKey: RowClocks } {
  if (deleteWins && newKey !== null && causalLength(newKey) % 2 === 0) refuseReinsert(table);
  const tombstone = clocksAfterDelete(oldKey, cellCount, time);
  const cells = newKey ? [...newKey.cells] : new Array<CellClock | null>(cellCount).fill(null);
  const moved = oldKey?.cells ?? [];
  for (let i = 0; i < cellCount; i++) if (moved[i]) cells[i] = stamp(1, time);
  const sentinel = newKey?.sentinel ? stamp(liveAgain(newKey.sentinel.version), time) : stamp(1, time);
  return { oldKey: tombstone, newKey: clocksAfterUpdate({ sentinel, cells }, cellCount, changed, time) };
}

/** The next odd causal length: an even one gets +1, an odd one +2. */
export function liveAgain(version: number): number {
  return version % 2 === 0 ? version + 1 : version + 2;
}

function insertSentinel(old: RowClocks | null, cellCount: number, time: WriteTime): CellClock | null {
  if (old?.sentinel) return stamp(liveAgain(old.sentinel.version), time);
  // A key-only table is represented by its sentinel alone.
  if (cellCount === 0) return stamp(old === null ? 1 : liveAgain(causalLength(old)), time);
  return null;
}

function stamp(version: number, time: WriteTime): CellClock {
  return { version, dbVersion: time.dbVersion, seq: time.takeSeq(), site: 0 };
}

function refuseReinsert(table: string): never {
  throw new CloudSyncError('CONSTRAINT', `cloudsync: table ${table} uses the delete-wins algorithm (dws): a deleted primary key cannot be inserted again`);
}
