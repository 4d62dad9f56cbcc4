// Folds a table's log of local writes into its meta rows: every log row replays, in order, the
// write it records with the pure functions of local-writes.ts, at the db_version and seqs its
// clock reserved, so the meta rows end exactly as if the triggers had written them. Runs inside
// the caller's transaction; the log rows it folded are deleted.

import { encodePk } from '../codec/pk.js';
import type { SqlValue } from '../codec/value.js';
import { logTableName, quoteIdentifier as q } from './identifiers.js';
import { clocksAfterDelete, clocksAfterInsert, clocksAfterKeyChange, clocksAfterUpdate, type WriteTime } from './local-writes.js';
import { LOG_DELETE, LOG_INSERT, LOG_MOVE, LOG_UPDATE, maskCount } from './meta-schema.js';
import { FRESH_SEQ_LIMIT, freshClocks, type RowClocks, readRowClocks, UNTRACKED, writeRowClocks } from './row-clocks.js';
import { CloudSyncError } from './errors.js';
import type { SyncedTable } from './synced-table.js';

/** The state of one row while the log is replayed. */
interface RowState {
  key: SqlValue[];
  clocks: RowClocks | null;
  /** A fresh insert of a row without meta, kept in its INTEGER form until another write needs objects. */
  fresh: bigint | null;
  /** The row has the untracked meta row of a write while its table was disabled. */
  untracked: boolean;
  changed: boolean;
}

const MASK_BITS = 30;
const SEQ_LIMIT = BigInt(FRESH_SEQ_LIMIT);
/** Log rows read and folded per step: bounds the memory of a large fold. */
const BATCH = 4096;

/** True when the table's log holds writes not folded yet. */
export function hasPendingLog(table: SyncedTable): boolean {
  return table.statement('log.any', () => `SELECT 1 FROM ${q(logTableName(table.name))} LIMIT 1`).get() !== undefined;
}

/**
 * Folds the logged writes of `table` into its meta rows, oldest first, `limit` log rows at most
 * (default all), and deletes them from the log; returns how many it folded.
 */
export function foldLog(table: SyncedTable, limit = Number.POSITIVE_INFINITY): number {
  let folded = 0;
  while (folded < limit) {
    const n = foldBatch(table, Math.min(BATCH, limit - folded));
    folded += n;
    if (n === 0) break;
  }
  return folded;
}

function foldBatch(table: SyncedTable, size: number): number {
  const keyCount = table.layout.pk.length;
  const cellCount = table.cellCount;
  const masks = maskCount(cellCount);
  const log = q(logTableName(table.name));
  const keys = table.layout.pk.map((_, i) => `pk${i + 1}`);
  const oldKeys = table.layout.pk.map((_, i) => `opk${i + 1}`);
  const maskColumns = Array.from({ length: masks }, (_, i) => `mask${i}`);
  const entries = table
    .statement('log.read', () => `SELECT rowid, ${[...keys, 'op', 'clock', ...maskColumns, ...oldKeys].join(', ')} FROM ${log} ORDER BY rowid LIMIT ?`)
    .all([BigInt(size)]);
  if (entries.length === 0) return 0;

  const rows = new Map<unknown, RowState>();
  const stateOf = (key: SqlValue[]): RowState => {
    const id = keyCount === 1 && typeof key[0] === 'string' ? `s${key[0]}` : `b${Buffer.from(encodePk(key)).toString('latin1')}`;
    let state = rows.get(id);
    if (state === undefined) {
      const stored = table.storedClocks(key);
      state = { key, clocks: stored === undefined ? null : readRowClocks(stored, cellCount), fresh: null, untracked: stored === UNTRACKED, changed: false };
      rows.set(id, state);
    }
    return state;
  };
  const clocksOf = (state: RowState): RowClocks | null => {
    if (state.fresh !== null) {
      state.clocks = readRowClocks(state.fresh, cellCount);
      state.fresh = null;
    }
    return state.clocks;
  };
  const at = (entry: SqlValue[], column: number) => entry[1 + column] ?? null;

  for (const entry of entries) {
    const state = stateOf(entry.slice(1, 1 + keyCount));
    const op = Number(at(entry, keyCount));
    const clock = at(entry, keyCount + 1);
    if (typeof clock !== 'bigint') throw corruptLog(table);
    if (clock < 0n) {
      // an insert while the table was disabled: an untracked meta row unless the row has one
      if (op === LOG_INSERT && state.clocks === null && state.fresh === null) {
        state.clocks = readRowClocks(UNTRACKED, cellCount);
        state.untracked = true;
        state.changed = true;
      }
      continue;
    }
    state.changed = true;
    if (op === LOG_INSERT && state.clocks === null && state.fresh === null && cellCount > 0) {
      state.fresh = clock; // the fresh form: no sentinel, every cell version 1 from the reserved seq
      continue;
    }
    let seq = Number(clock % SEQ_LIMIT);
    const time: WriteTime = { dbVersion: Number(clock / SEQ_LIMIT), takeSeq: () => seq++ };
    const changed = () => {
      const flags: boolean[] = [];
      for (let i = 0; i < cellCount; i++) flags.push((Number(at(entry, keyCount + 2 + Math.floor(i / MASK_BITS)) ?? 0) >> i % MASK_BITS) % 2 !== 0);
      return flags;
    };
    const clocks = clocksOf(state);
    if (op === LOG_INSERT) state.clocks = clocksAfterInsert(table.name, clocks, cellCount, time, false);
    else if (op === LOG_UPDATE) state.clocks = clocksAfterUpdate(clocks, cellCount, changed(), time);
    else if (op === LOG_DELETE) state.clocks = clocksAfterDelete(clocks, cellCount, time);
    else if (op === LOG_MOVE) {
      const from = stateOf(entry.slice(1 + keyCount + 2 + masks, 1 + keyCount + 2 + masks + keyCount));
      const moved = clocksAfterKeyChange(table.name, clocksOf(from), clocks, cellCount, changed(), time, false);
      from.clocks = moved.oldKey;
      from.untracked = false;
      from.changed = true;
      state.clocks = moved.newKey;
    } else {
      throw corruptLog(table);
    }
    state.untracked = false;
  }

  const put = table.statement('meta.put', () => `INSERT OR REPLACE INTO ${table.quotedMeta} (${keys.join(', ')}, clocks) VALUES (${keys.map(() => '?').join(', ')}, ?)`);
  for (const state of rows.values()) {
    if (!state.changed) continue;
    if (state.fresh !== null) put.run([...state.key, state.fresh]);
    else if (state.clocks !== null) put.run([...state.key, state.untracked ? UNTRACKED : storedForm(state.clocks)]);
  }
  table.statement('log.clear', () => `DELETE FROM ${log} WHERE rowid <= ?`).run([(entries[entries.length - 1] as SqlValue[])[0] ?? 0n]);
  return entries.length;
}

/** The INTEGER form when the clocks are a fresh insert's (what the direct insert trigger writes), else the TEXT form. */
function storedForm(clocks: RowClocks): bigint | string {
  const first = clocks.cells[0];
  if (clocks.sentinel !== null || !first || first.version !== 1 || first.site !== 0) return writeRowClocks(clocks);
  for (let i = 0; i < clocks.cells.length; i++) {
    const cell = clocks.cells[i];
    if (!cell || cell.version !== 1 || cell.site !== 0 || cell.dbVersion !== first.dbVersion || cell.seq !== first.seq + i) return writeRowClocks(clocks);
  }
  return first.seq + clocks.cells.length <= FRESH_SEQ_LIMIT ? freshClocks(first.dbVersion, first.seq) : writeRowClocks(clocks);
}

function corruptLog(table: SyncedTable): CloudSyncError {
  return new CloudSyncError('SCHEMA', `cloudsync: corrupt log of local writes for table ${table.name}`);
}
