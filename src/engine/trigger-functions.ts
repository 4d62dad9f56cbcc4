// The pure SQL functions that the triggers call: clocks arithmetic and local time. They never run
// SQL themselves, so they work on bindings that forbid re-entrant calls (better-sqlite3).

import type { SqlValue } from '../codec/value.js';
import type { Clock } from './clock.js';
import type { Connection } from './connection.js';
import { CloudSyncError } from './errors.js';
import { clocksAfterDelete, clocksAfterInsert, clocksAfterKeyChange, storedAfterUpdate, type WriteTime } from './local-writes.js';
import { freshClocks, type RowClocks, readRowClocks, UNTRACKED, writeRowClocks } from './row-clocks.js';
import type { SyncedTable } from './synced-table.js';
import { changedColumns, LOG_DELETE, LOG_INSERT, LOG_SKIP, LOG_UPDATE } from './meta-schema.js';

/** What the trigger functions need from the engine. */
export interface TriggerContext {
  clock: Clock;
  /** The synced table by name, loading the registry if needed; undefined when unknown. */
  table(name: string): SyncedTable | undefined;
  /** True while a merge writes (triggers must not track those writes). */
  merging(): boolean;
  /** Counts one write appended to a log (the engine folds the logs when they grow). */
  loggedWrite(): void;
  /** True when the tables may have changed under this connection (see SeenVersions.staleSchema). */
  staleSchema(schema: number, data: number): boolean;
  /** True when `data` (PRAGMA data_version) says another connection committed since this one last looked. */
  othersCommitted(data: number): boolean;
}

/** Registers the trigger helper functions on a connection. */
export function registerTriggerFunctions(db: Connection, context: TriggerContext): void {
  const time: WriteTime = { dbVersion: 0, takeSeq: () => context.clock.takeSeq() };
  const now = (): WriteTime => {
    time.dbVersion = context.clock.localVersion();
    return time;
  };
  const tableOf = (name: SqlValue): SyncedTable => {
    const table = context.table(String(name));
    if (!table) throw new CloudSyncError('MISUSE', `cloudsync: table ${String(name)} is not synced on this connection; run cloudsync_init('${String(name)}')`);
    return table;
  };
  const clocksOf = (table: SyncedTable, stored: SqlValue | undefined): RowClocks | null =>
    stored === null || stored === undefined ? null : readRowClocks(stored, table.cellCount);
  const changedOf = (table: SyncedTable, masks: SqlValue[]): boolean[] => changedColumns(table.cellCount, (k) => Number(masks[k] ?? 0));
  let movedFrom: SqlValue = null;
  let current: SyncedTable | undefined;

  db.registerFunction('cloudsync_is_sync', ([name]) => {
    if (context.merging()) return 1n;
    const table = context.table(String(name));
    return table === undefined || table.enabled ? 0n : 1n;
  });
  // The WHEN clause of every tracking trigger:
  //   coalesce(cloudsync_write_ready('t'), cloudsync_write_first(-1, V),
  //     cloudsync_write_first((SELECT v FROM cloudsync_max_version), V)) = 1
  // with V = (SELECT schema_version FROM pragma_schema_version), (SELECT data_version FROM pragma_data_version).
  // ready: 0 skips the trigger (merging), 2 means the table is disabled (only the insert trigger
  // runs then, to leave an untracked meta row), 1 proceeds, NULL asks for the second call, which
  // SQLite evaluates only then: for the first write of a transaction, and for the first tracked
  // one (which takes the db_version). Both hold the write lock:
  // - the first tracked write takes the db_version after the newest one stored, which the clock
  //   knows unless another connection committed since; then the second call gives NULL and the
  //   third reads it (the view), so that no two transactions take the same db_version;
  // - the first write checks that the schema is the one the engine's tables were loaded at, or a
  //   change of this connection's own (the data version tells: another connection's commit moves
  //   it). Another connection's init, ALTER, enable or disable changes the schema (enable and
  //   disable re-create the triggers for that), and then the write fails with STALE: the driver
  //   reloads and runs the statement again. So a connection need not look for other connections'
  //   work before every statement, which on a WAL file costs a read transaction (about 10 µs).
  // ready also remembers the table (`current`): the body of a log trigger runs right after its
  // WHEN clause, and its cloudsync_log_seqs call needs no name then.
  db.registerFunction('cloudsync_write_ready', ([name]) => {
    if (context.merging()) return 0n;
    const table = context.table(String(name));
    current = table;
    const clock = context.clock;
    if (!clock.checked) return null;
    if (table !== undefined && !table.enabled) return 2n;
    return clock.allocated ? 1n : null;
  });
  // Takes the transaction's db_version above `stored`, the newest one stored, or -1 when it is not
  // read yet: the clock knows it unless another connection committed since it was last set from
  // the database (`data`: PRAGMA data_version now). False then: the caller's next call reads it.
  const startVersion = (stored: SqlValue | undefined, data: SqlValue | undefined): boolean => {
    const unread = stored != null && Number(stored) === -1;
    if (unread && context.othersCommitted(Number(data ?? -1))) return false;
    context.clock.startLocal(unread || stored == null ? 0 : Number(stored));
    return true;
  };
  db.registerFunction('cloudsync_write_first', ([stored, schema, data]) => {
    const clock = context.clock;
    if (!clock.checked) {
      // (no schema argument: a trigger created before the check existed)
      if (schema !== undefined && context.staleSchema(Number(schema), Number(data ?? -1))) {
        throw new CloudSyncError('STALE', 'cloudsync: another connection changed the synced tables since this one loaded them (cloudsync_init, ALTER, enable or disable); run the statement again');
      }
      clock.checked = true;
    }
    if (current !== undefined && !current.enabled) return 2n;
    return startVersion(stored, data) ? 1n : null;
  });
  // A row inserted while its table is disabled gets an untracked meta row, so that every base row
  // has one and the update trigger never needs a second statement for a missing meta row.
  db.registerFunction('cloudsync_fresh_clocks', ([name, count]) => {
    if (!tableOf(name ?? null).enabled) return UNTRACKED;
    return freshClocks(context.clock.localVersion(), context.clock.takeSeq(Number(count)));
  });
  // Log-structured tables: the clock of one log row, reserving the `count` seqs the write may take
  // when it is folded (see log-fold.ts).
  const logClock = (count: number): SqlValue => {
    context.loggedWrite();
    return context.clock.takeLogClock(count);
  };
  db.registerFunction('cloudsync_log_seqs', ([count]) => {
    if (current === undefined) throw new CloudSyncError('MISUSE', 'cloudsync_log_seqs: called outside a tracking trigger');
    return current.enabled ? logClock(Number(count)) : -1n;
  });
  // The clock of a log trigger, in its body (no WHEN clause calls JavaScript):
  //   coalesce((SELECT cloudsync_log_take(n)), (SELECT cloudsync_log_first(n, -1, D)),
  //     (SELECT cloudsync_log_first(n, (SELECT v FROM cloudsync_max_version), D)))
  // with D = (SELECT data_version FROM pragma_data_version). They are aggregates over one row, not
  // scalar functions: SQLite gives a statement that calls a function and writes through a trigger a
  // statement journal, in case the function fails half way (in memory about 0.5 µs per single-row
  // UPDATE inside a transaction), and an aggregate step does not count as such a call. So these
  // must never throw: they need nothing but the clock (the table's enabled state is in its
  // triggers, which enable and disable re-create), and the driver catches no STALE for them.
  // take: the write's clock (reserving `n` seqs), NULL before the transaction's db_version is
  // taken (then first takes it, above the newest stored, which the clock knows unless another
  // connection committed since: then first gives NULL and its third call reads the view), and
  // SKIP while a merge writes (the trigger drops the row).
  db.registerAggregate<SqlValue>('cloudsync_log_take', {
    numbers: true,
    initial: null,
    step: (_, [count]) => {
      if (context.merging()) return LOG_SKIP;
      return context.clock.allocated ? logClock(Number(count)) : null;
    },
  });
  db.registerAggregate<SqlValue>('cloudsync_log_first', {
    numbers: true,
    initial: null,
    step: (_, [count, stored, data]) => {
      if (context.merging()) return LOG_SKIP;
      if (!context.clock.allocated && !startVersion(stored, data)) return null;
      return logClock(Number(count));
    },
  });
  // The same for triggers created by 0.1.0 before cloudsync_log_seqs: (table, operation).
  db.registerFunction('cloudsync_log_clock', ([name, op]) => {
    const table = tableOf(name ?? null);
    const n = table.cellCount;
    if (!table.enabled) return -1n;
    return logClock(op === BigInt(LOG_INSERT) ? n + 1 : op === BigInt(LOG_UPDATE) ? n : op === BigInt(LOG_DELETE) ? 1 : 2 * n + 2);
  });
  db.registerFunction('cloudsync_clocks_insert', ([name, stored]) => {
    const table = tableOf(name ?? null);
    if (!table.enabled) return stored ?? UNTRACKED;
    return writeRowClocks(clocksAfterInsert(table.name, clocksOf(table, stored), table.cellCount, now(), table.layout.algo === 'dws'));
  });
  db.registerFunction('cloudsync_clocks_update', ([name, stored, ...masks]) => {
    const table = tableOf(name ?? null);
    return storedAfterUpdate(stored, table.cellCount, changedOf(table, masks), now());
  });
  db.registerFunction('cloudsync_clocks_delete', ([name, stored]) => {
    const table = tableOf(name ?? null);
    return writeRowClocks(clocksAfterDelete(clocksOf(table, stored), table.cellCount, now()));
  });
  db.registerFunction('cloudsync_clocks_move', ([name, oldStored, newStored, ...masks]) => {
    const table = tableOf(name ?? null);
    if (!table.enabled) {
      // not tracked: both keys keep their meta rows, the new key gets an untracked one if it has none
      movedFrom = oldStored ?? UNTRACKED;
      return newStored ?? UNTRACKED;
    }
    const moved = clocksAfterKeyChange(
      table.name,
      clocksOf(table, oldStored),
      clocksOf(table, newStored),
      table.cellCount,
      changedOf(table, masks),
      now(),
      table.layout.algo === 'dws',
    );
    movedFrom = writeRowClocks(moved.oldKey);
    return writeRowClocks(moved.newKey);
  });
  db.registerFunction('cloudsync_clocks_moved_from', () => {
    const clocks = movedFrom;
    movedFrom = null;
    if (clocks === null) throw new CloudSyncError('MISUSE', 'cloudsync_clocks_moved_from: called outside a key-change trigger');
    return clocks;
  });
}

