// Folds a table's log of local writes into its meta rows: every log row replays, in order, the
// write it records with the pure functions of local-writes.ts, at the db_version and seqs its
// clock reserved, so the meta rows end exactly as if the triggers had written them. Runs inside
// the caller's transaction; the log rows it folded are deleted.

import { encodePk } from '../codec/pk.js';
import type { SqlValue } from '../codec/value.js';
import type { Connection } from './connection.js';
import { logTableName, quoteIdentifier as q } from './identifiers.js';
import { BatchedWrites } from './batched-writes.js';
import { clockBuffer, formatClockParts, PART_SIZE } from './clock-text.js';
import { clocksAfterDelete, clocksAfterInsert, clocksAfterKeyChange, stampUpdatedCells, storedAfterUpdate, type WriteTime } from './local-writes.js';
import { changedColumns, LOG_DELETE, LOG_INSERT, LOG_MOVE, LOG_UPDATE, maskCount, maskHas } from './meta-schema.js';
import { FRESH_SEQ_LIMIT, freshClocks, readClockParts, type RowClocks, readRowClocks, UNTRACKED, writeRowClocks } from './row-clocks.js';
import { CloudSyncError } from './errors.js';
import { collatedKey } from './row-keys.js';
import type { SyncedTable } from './synced-table.js';
import { byteKey } from '../codec/bytes.js';

/** The state of one row while the log is replayed. */
interface RowState {
  key: SqlValue[];
  /** The row's `clocks` as stored (INTEGER fresh form or TEXT), null without a meta row. */
  stored: SqlValue;
  changed: boolean;
}

/** Log rows read and folded per step: bounds the memory of a large fold. */
const BATCH = 1 << 18;

/** True when the table's log holds writes not folded yet. */
export function hasPendingLog(table: SyncedTable): boolean {
  return table.statement('log.any', () => `SELECT 1 FROM main.${q(logTableName(table.name))} LIMIT 1`).get() !== undefined;
}

/**
 * Folds the logged writes of `table` into its meta rows, oldest first, `limit` log rows at most
 * (default all), and deletes them from the log; returns how many it folded.
 */
export function foldLog(table: SyncedTable, folder: LogFolder, limit = Number.POSITIVE_INFINITY): number {
  let folded = 0;
  while (folded < limit) {
    const n = foldBatch(table, folder, Math.min(BATCH, limit - folded));
    folded += n;
    if (n === 0) break;
  }
  return folded;
}

/**
 * Folds the oldest `size` log rows. The meta rows they touch are read in one join; the entries
 * are then replayed in order on each row's stored form, with the same fast paths as the direct
 * triggers, and every touched row is written once.
 */
function foldBatch(table: SyncedTable, folder: LogFolder, size: number): number {
  const keyCount = table.layout.pk.length;
  const cellCount = table.cellCount;
  const masks = maskCount(cellCount);
  const log = `main.${q(logTableName(table.name))}`;
  const keys = table.layout.pk.map((_, i) => `pk${i + 1}`);
  const oldKeys = table.layout.pk.map((_, i) => `opk${i + 1}`);
  const maskColumns = Array.from({ length: masks }, (_, i) => `, mask${i}`).join('');
  // The batch's last rowid: the log's last when the whole log fits (two index ends, no scan).
  const ends = table.statement('log.ends', () => `SELECT min(rowid), max(rowid) FROM ${log}`).get() ?? [];
  const [first, end] = ends;
  if (typeof first !== 'bigint' || typeof end !== 'bigint') return 0;
  const whole = end - first < BigInt(size);
  const last = whole ? end : (table.statement('log.last', () => `SELECT max(rowid) FROM (SELECT rowid FROM ${log} ORDER BY rowid LIMIT ?)`).get([BigInt(size)])?.[0] as bigint);
  // Without key changes rows are independent: SQLite groups the entries per key, the
  // cloudsync_fold_collect aggregate keeps each group's entries (numbers only) and returns a
  // handle, and cloudsync_fold_apply replays them on the row's meta clocks, read once per row. No
  // entry crosses into a JavaScript row. (LIMIT -1 keeps SQLite from flattening the outer
  // subquery, which would call cloudsync_fold_apply twice.)
  const hasMoves = table.statement('log.moves', () => `SELECT 1 FROM ${log} WHERE rowid <= ? AND op = ${LOG_MOVE} LIMIT 1`);
  const foldInSql = table.statement('log.fold', () => {
    const join = keys.map((k) => `m.${k} = g.${k}`).join(' AND ');
    const args = ['rowid', 'op', 'clock >> 30', `clock & ${FRESH_SEQ_LIMIT - 1}`, ...Array.from({ length: masks }, (_, i) => `mask${i}`)].join(', ');
    return `INSERT OR REPLACE INTO ${table.quotedMeta} (${keys.join(', ')}, clocks)
      SELECT ${keys.join(', ')}, c FROM (
        SELECT ${keys.map((k) => `g.${k}`).join(', ')}, cloudsync_fold_apply(m.clocks, g.entries) AS c
        FROM (SELECT ${keys.join(', ')}, cloudsync_fold_collect(${args}) AS entries FROM ${log} WHERE rowid <= ? GROUP BY ${keys.join(', ')}) AS g
        LEFT JOIN ${table.quotedMeta} AS m ON ${join} LIMIT -1
      ) WHERE c IS NOT NULL`;
  });
  if (hasMoves.get([last]) === undefined) {
    folder.over(table, () => foldInSql.run([last]));
    return clearLog(table, last, whole);
  }

  const touched = table.statement('log.meta', () => {
    const match = keys.map((k) => `m.${k} = l.${k}`).join(' AND ');
    return `SELECT ${keys.map((k) => `m.${k}`).join(', ')}, m.clocks FROM (
      SELECT ${keys.join(', ')} FROM ${log} WHERE rowid <= ?
      UNION SELECT ${oldKeys.map((k, i) => `${k} AS ${keys[i] as string}`).join(', ')} FROM ${log} WHERE rowid <= ? AND op = ${LOG_MOVE}
    ) AS l JOIN ${table.quotedMeta} AS m ON ${match}`;
  });
  // one row per log entry: key, op, db_version (-1: written while disabled), first seq, masks, old key
  const read = table.statement('log.read', () => `SELECT ${keys.join(', ')}, op, clock >> 30, clock & ${FRESH_SEQ_LIMIT - 1}${maskColumns}, ${oldKeys.join(', ')} FROM ${log} WHERE rowid <= ? ORDER BY rowid`);
  const rows = new Map<string, RowState>();
  // keys equal under their column's collation (NOCASE, RTRIM) are the same row, as in SQLite
  const collations = table.keyCollations;
  const canonical = (key: SqlValue[]) => (collations === null ? key : collatedKey(key, collations));
  const idOf = (key: SqlValue[]) => {
    const values = canonical(key);
    return keyCount === 1 && typeof values[0] === 'string' ? `s${values[0]}` : `b${byteKey(encodePk(values))}`;
  };
  for (const row of touched.iterate([last, last])) rows.set(idOf(row.slice(0, keyCount)), { key: row.slice(0, keyCount), stored: row[keyCount] ?? null, changed: false });
  const stateOf = (key: SqlValue[]): RowState => {
    const id = idOf(key);
    let state = rows.get(id);
    if (state === undefined) {
      state = { key, stored: null, changed: false };
      rows.set(id, state);
    }
    return state;
  };
  const objects = (state: RowState): RowClocks | null => (state.stored === null ? null : readRowClocks(state.stored, cellCount));

  /** Replays one entry on `state` (`mask(k)`: its k-th mask; `from`: the old key of a key change). */
  const replay = (state: RowState, op: number, dbVersion: number, firstSeq: number, mask: (k: number) => number, from?: RowState): void => {
    if (op !== LOG_MOVE) {
      const stored = afterEntry(table, state.stored, op, dbVersion, firstSeq, mask);
      if (stored !== state.stored) state.changed = true;
      state.stored = stored;
      return;
    }
    if (from === undefined) throw corruptLog(table);
    if (dbVersion < 0) {
      // a key change while disabled: not tracked; the new key gets an untracked meta row if it has none
      if (state.stored === null) {
        state.stored = UNTRACKED;
        state.changed = true;
      }
      return;
    }
    let seq = firstSeq;
    const time: WriteTime = { dbVersion, takeSeq: () => seq++ };
    const moved = clocksAfterKeyChange(table.name, objects(from), objects(state), cellCount, changedColumns(cellCount, mask), time, false);
    from.stored = writeRowClocks(moved.oldKey);
    from.changed = true;
    state.stored = writeRowClocks(moved.newKey);
    state.changed = true;
  };

  // Entries are read one at a time (no statement runs meanwhile) and die young; only row states stay.
  for (const entry of read.iterate([last])) {
    const op = Number(entry[keyCount]);
    const from = op === LOG_MOVE ? stateOf(entry.slice(keyCount + 3 + masks, keyCount + 3 + masks + keyCount)) : undefined;
    replay(stateOf(entry.slice(0, keyCount)), op, Number(entry[keyCount + 1]), Number(entry[keyCount + 2]), (k) => Number(entry[keyCount + 3 + k]), from);
  }

  const writes = new BatchedWrites();
  for (const state of rows.values()) if (state.changed && state.stored !== null) writes.putMeta(table, state.key, state.stored);
  writes.flush();
  return clearLog(table, last, whole);
}

/** Deletes the log rows up to `last` (folded), all of them when `whole` (SQLite then drops its pages at once); returns how many. */
function clearLog(table: SyncedTable, last: bigint, whole: boolean): number {
  if (whole) return table.statement('log.clearAll', () => `DELETE FROM main.${q(logTableName(table.name))}`).run();
  return table.statement('log.clear', () => `DELETE FROM main.${q(logTableName(table.name))} WHERE rowid <= ?`).run([last]);
}

/**
 * The stored form of a row's clocks (`stored`: INTEGER fresh form, TEXT, or null without a meta
 * row) after one logged write other than a key change, through the direct triggers' fast paths.
 * A write while the table was disabled (db_version -1) leaves an untracked meta row if none.
 */
export function afterEntry(table: SyncedTable, stored: SqlValue, op: number, dbVersion: number, firstSeq: number, mask: (k: number) => number): SqlValue {
  const cellCount = table.cellCount;
  if (dbVersion < 0) return op === LOG_INSERT && stored === null ? UNTRACKED : stored;
  let seq = firstSeq;
  const time: WriteTime = { dbVersion, takeSeq: () => seq++ };
  const clocks = () => (stored === null ? null : readRowClocks(stored, cellCount));
  if (op === LOG_INSERT) return stored === null && cellCount > 0 ? freshClocks(dbVersion, seq) : writeRowClocks(clocksAfterInsert(table.name, clocks(), cellCount, time, false));
  if (op === LOG_UPDATE) return storedAfterUpdate(stored, cellCount, changedColumns(cellCount, mask), time);
  if (op === LOG_DELETE) return writeRowClocks(clocksAfterDelete(clocks(), cellCount, time));
  throw corruptLog(table);
}

/**
 * The fold's SQL functions on one connection, for the table set around each fold statement
 * (`over`):
 * - cloudsync_fold_collect(rowid, op, db_version, first seq, masks…), an aggregate over one row's
 *   log entries (integers as numbers), appends them to one flat buffer and returns where they
 *   start (no object per group);
 * - cloudsync_fold_apply(stored clocks, start) replays them in log (rowid) order on the row's
 *   stored form and returns the new one, or NULL when they change nothing.
 * SQLite steps a GROUP BY one group at a time, so a group's entries stay together; collect checks
 * it. The aggregate sees a group's entries in no particular order (SQLite promises none without an
 * ORDER BY, whose sorter would cost a third of the fold), so apply sorts them when they are not.
 */
export class LogFolder {
  private table: SyncedTable | null = null;
  /** The groups collected by the running statement: per group its entry count, then its entries, `width` numbers each. */
  private entries = new Float64Array(0);
  private length = 0;
  /** Where the group being collected starts. */
  private current = -1;
  private width = 0;
  // the clock buffer replay edits (replays run one at a time)
  private parts = new Float64Array(64);

  constructor(db: Connection) {
    db.registerAggregate<number>('cloudsync_fold_collect', {
      numbers: true,
      initial: -1,
      step: (start, args) => this.collect(start, args),
    });
    db.registerFunction('cloudsync_fold_apply', ([stored, start]) => {
      const table = this.table;
      const at = Number(start);
      if (table === null || !(at >= 0 && at < this.length)) throw new CloudSyncError('MISUSE', 'cloudsync_fold_apply: runs only inside a fold of the logged writes');
      return this.replay(table, stored ?? null, at);
    });
  }

  /** Runs `fold` (a statement calling the fold functions) for `table`. */
  over<T>(table: SyncedTable, fold: () => T): T {
    this.table = table;
    this.width = 4 + maskCount(table.cellCount);
    this.length = 0;
    this.current = -1;
    try {
      return fold();
    } finally {
      this.table = null;
      this.entries = new Float64Array(0);
    }
  }

  /** Appends one entry to the group that starts at `start` (-1: a new group); returns where the group starts. */
  private collect(start: number, args: SqlValue[]): number {
    if (this.table === null) throw new CloudSyncError('MISUSE', 'cloudsync_fold_collect: runs only inside a fold of the logged writes');
    let at = start;
    if (at < 0) {
      at = this.length;
      this.reserve(1);
      this.entries[this.length++] = 0;
      this.current = at;
    } else if (at !== this.current) {
      throw new CloudSyncError('MISUSE', 'cloudsync_fold_collect: groups must be collected one after the other');
    }
    this.reserve(args.length);
    const entries = this.entries;
    let n = this.length;
    for (const value of args) entries[n++] = Number(value ?? 0);
    this.length = n;
    this.entries[at] = (this.entries[at] as number) + 1;
    return at;
  }

  private reserve(count: number): void {
    if (this.length + count <= this.entries.length) return;
    const grown = new Float64Array(Math.max(1024, this.entries.length * 2, this.length + count));
    grown.set(this.entries.subarray(0, this.length));
    this.entries = grown;
  }

  /**
   * The stored form after the group of entries at `start`. Updates (most entries) are stamped on
   * a clock buffer that stays parsed until an entry of another kind or the end, so a row's text is
   * read and written once.
   */
  private replay(table: SyncedTable, stored: SqlValue, start: number): SqlValue {
    const entries = this.entries;
    const width = this.width;
    const count = entries[start] as number;
    const first = start + 1;
    const cellCount = table.cellCount;
    let order: number[] | null = null;
    for (let i = 1; i < count && order === null; i++) {
      if ((entries[first + i * width] as number) < (entries[first + (i - 1) * width] as number)) {
        order = Array.from({ length: count }, (_, k) => k).sort((a, b) => (entries[first + a * width] as number) - (entries[first + b * width] as number));
      }
    }
    let state = stored;
    let parsed = false; // `this.parts` holds the state, not `state`
    let changed = false;
    for (let k = 0; k < count; k++) {
      const at = first + (order === null ? k : (order[k] as number)) * width;
      const op = entries[at + 1] as number;
      const dbVersion = entries[at + 2] as number;
      if (op === LOG_UPDATE && dbVersion >= 0) {
        if (!parsed) {
          this.parts = clockBuffer(this.parts, cellCount + 1);
          if (state === null) for (let p = 0; p <= cellCount; p++) this.parts[p * PART_SIZE] = -1;
          else readClockParts(state, cellCount + 1, this.parts);
          parsed = true;
        }
        let seq = entries[at + 3] as number;
        const mask = (m: number) => entries[at + 4 + m] ?? 0;
        stampUpdatedCells(this.parts, cellCount, (cell) => maskHas(mask, cell), { dbVersion, takeSeq: () => seq++ });
        changed = true;
        continue;
      }
      if (parsed) {
        state = formatClockParts(this.parts, cellCount + 1);
        parsed = false;
      }
      const next = afterEntry(table, state, op, dbVersion, entries[at + 3] as number, (m) => entries[at + 4 + m] ?? 0);
      if (next !== state) changed = true;
      state = next;
    }
    if (parsed) state = formatClockParts(this.parts, cellCount + 1);
    return changed ? state : null;
  }
}

function corruptLog(table: SyncedTable): CloudSyncError {
  return new CloudSyncError('SCHEMA', `cloudsync: corrupt log of local writes for table ${table.name}`);
}
