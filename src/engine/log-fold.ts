// Folds a table's log of local writes into its meta rows: every log row replays, in order, the
// write it records with the pure functions of local-writes.ts, at the db_version and seqs its
// clock reserved, so the meta rows end exactly as if the triggers had written them. Runs inside
// the caller's transaction; the log rows it folded are deleted.

import { encodePk } from '../codec/pk.js';
import type { SqlValue } from '../codec/value.js';
import { logTableName, quoteIdentifier as q } from './identifiers.js';
import { BatchedWrites } from './batched-writes.js';
import { clocksAfterDelete, clocksAfterInsert, clocksAfterKeyChange, storedAfterUpdate, type WriteTime } from './local-writes.js';
import { LOG_DELETE, LOG_INSERT, LOG_MOVE, LOG_UPDATE, maskCount } from './meta-schema.js';
import { FRESH_SEQ_LIMIT, freshClocks, type RowClocks, readRowClocks, UNTRACKED, writeRowClocks } from './row-clocks.js';
import { CloudSyncError } from './errors.js';
import type { SyncedTable } from './synced-table.js';

/** The state of one row while the log is replayed. */
interface RowState {
  key: SqlValue[];
  /** The row's `clocks` as stored (INTEGER fresh form or TEXT), null without a meta row. */
  stored: SqlValue;
  changed: boolean;
}

const MASK_BITS = 30;
/** Log rows read and folded per step: bounds the memory of a large fold. */
const BATCH = 1 << 18;

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

/**
 * Folds the oldest `size` log rows. The meta rows they touch are read in one join; the entries
 * are then replayed in order on each row's stored form, with the same fast paths as the direct
 * triggers, and every touched row is written once.
 */
function foldBatch(table: SyncedTable, size: number): number {
  const keyCount = table.layout.pk.length;
  const cellCount = table.cellCount;
  const masks = maskCount(cellCount);
  const log = q(logTableName(table.name));
  const keys = table.layout.pk.map((_, i) => `pk${i + 1}`);
  const oldKeys = table.layout.pk.map((_, i) => `opk${i + 1}`);
  const maskColumns = Array.from({ length: masks }, (_, i) => `, mask${i}`).join('');
  const lastRow = table.statement('log.last', () => `SELECT max(rowid) FROM (SELECT rowid FROM ${log} ORDER BY rowid LIMIT ?)`).get([BigInt(size)]);
  const last = lastRow?.[0];
  if (typeof last !== 'bigint') return 0;
  const touched = table.statement('log.meta', () => {
    const match = keys.map((k) => `m.${k} = l.${k}`).join(' AND ');
    return `SELECT ${keys.map((k) => `m.${k}`).join(', ')}, m.clocks FROM (
      SELECT ${keys.join(', ')} FROM ${log} WHERE rowid <= ?
      UNION SELECT ${oldKeys.map((k, i) => `${k} AS ${keys[i] as string}`).join(', ')} FROM ${log} WHERE rowid <= ? AND op = ${LOG_MOVE}
    ) AS l JOIN ${table.quotedMeta} AS m ON ${match}`;
  });
  // one row per log entry: key, op, db_version (-1: written while disabled), first seq, masks, old key
  const read = table.statement('log.read', () => `SELECT ${keys.join(', ')}, op, clock >> 30, clock & ${FRESH_SEQ_LIMIT - 1}${maskColumns}, ${oldKeys.join(', ')} FROM ${log} WHERE rowid <= ? ORDER BY rowid`);
  // without key changes rows are independent: one row per key, its entries in order as text
  // ("op,db_version,seq,mask0,…;…"), a third of the rows to bring into JavaScript here
  const hasMoves = table.statement('log.moves', () => `SELECT 1 FROM ${log} WHERE rowid <= ? AND op = ${LOG_MOVE} LIMIT 1`);
  const grouped = table.statement('log.grouped', () => {
    const fields = ['op', 'clock >> 30', `clock & ${FRESH_SEQ_LIMIT - 1}`, ...Array.from({ length: masks }, (_, i) => `mask${i}`)].map((f) => `(${f})`).join(" || ',' || ");
    return `SELECT ${keys.join(', ')}, group_concat(${fields}, ';' ORDER BY rowid), count(*) FROM ${log} WHERE rowid <= ? GROUP BY ${keys.join(', ')}`;
  });

  const rows = new Map<string, RowState>();
  const idOf = (key: SqlValue[]) => (keyCount === 1 && typeof key[0] === 'string' ? `s${key[0]}` : `b${Buffer.from(encodePk(key)).toString('latin1')}`);
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
    if (dbVersion < 0) {
      // an insert while the table was disabled: an untracked meta row unless the row has one
      if (op === LOG_INSERT && state.stored === null) {
        state.stored = UNTRACKED;
        state.changed = true;
      }
      return;
    }
    let seq = firstSeq;
    const time: WriteTime = { dbVersion, takeSeq: () => seq++ };
    const changed = () => {
      const flags: boolean[] = [];
      for (let c = 0; c < cellCount; c++) flags.push((mask(Math.floor(c / MASK_BITS)) >> c % MASK_BITS) % 2 !== 0);
      return flags;
    };
    const stored = state.stored;
    state.changed = true;
    if (op === LOG_INSERT) {
      state.stored = stored === null && cellCount > 0 ? freshClocks(dbVersion, seq) : writeRowClocks(clocksAfterInsert(table.name, objects(state), cellCount, time, false));
    } else if (op === LOG_UPDATE) {
      state.stored = storedAfterUpdate(stored, cellCount, changed(), time);
    } else if (op === LOG_DELETE) {
      state.stored = writeRowClocks(clocksAfterDelete(objects(state), cellCount, time));
    } else if (op === LOG_MOVE && from !== undefined) {
      const moved = clocksAfterKeyChange(table.name, objects(from), objects(state), cellCount, changed(), time, false);
      from.stored = writeRowClocks(moved.oldKey);
      from.changed = true;
      state.stored = writeRowClocks(moved.newKey);
    } else {
      throw corruptLog(table);
    }
  };

  // Rows are read one at a time (no statement runs meanwhile) and die young; only row states stay.
  let count = 0;
  if (hasMoves.get([last]) === undefined) {
    for (const row of grouped.iterate([last])) {
      const state = stateOf(row.slice(0, keyCount));
      count += Number(row[keyCount + 1]);
      for (const text of String(row[keyCount]).split(';')) {
        const fields = text.split(',').map(Number);
        if (fields.length !== 3 + masks || !fields.every(Number.isSafeInteger)) throw corruptLog(table);
        replay(state, fields[0] as number, fields[1] as number, fields[2] as number, (k) => fields[3 + k] as number);
      }
    }
  } else {
    for (const entry of read.iterate([last])) {
      count++;
      const op = Number(entry[keyCount]);
      const from = op === LOG_MOVE ? stateOf(entry.slice(keyCount + 3 + masks, keyCount + 3 + masks + keyCount)) : undefined;
      replay(stateOf(entry.slice(0, keyCount)), op, Number(entry[keyCount + 1]), Number(entry[keyCount + 2]), (k) => Number(entry[keyCount + 3 + k]), from);
    }
  }

  const writes = new BatchedWrites();
  for (const state of rows.values()) if (state.changed && state.stored !== null) writes.putMeta(table, state.key, state.stored);
  writes.flush();
  table.statement('log.clear', () => `DELETE FROM ${log} WHERE rowid <= ?`).run([last]);
  return count;
}

function corruptLog(table: SyncedTable): CloudSyncError {
  return new CloudSyncError('SCHEMA', `cloudsync: corrupt log of local writes for table ${table.name}`);
}
