// Transaction tracking for one connection: the engine's own transactions (or savepoints inside
// the caller's), and the driver's calls around every user statement, which end the clock's
// transaction, catch up with other connections and notice rollbacks.

import type { Clock } from './clock.js';
import type { Connection } from './connection.js';
import type { ChangeNotices } from './change-notices.js';
import type { LocalLog } from './local-log.js';
import { changesReaders } from './meta-schema.js';

/** True when `sql` may create or drop a view (it names the word), after which viewsChanged is due. */
export function mayChangeViews(sql: string): boolean {
  return /\bview\b/i.test(sql);
}

/** What the tracking needs from its engine. */
export interface TransactionHost {
  readonly db: Connection;
  readonly clock: Clock;
  readonly log: LocalLog;
  readonly notices: ChangeNotices;
  /** True once the global tables exist (after the first cloudsync_init). */
  synced(): boolean;
  /** Catches up with other connections' commits (clock, enabled flags, registry). */
  catchUp(): void;
  /** Moves the clock up to the newest db_version stored. */
  readClock(): void;
  /** Forgets in-memory state and reads it again from the database. */
  reload(): void;
  /** Drops what a rollback of the caller's may have undone. */
  afterPossibleRollback(): void;
}

/** The transactions of one connection, as the engine sees them. */
export class Transactions {
  /** This connection's cloudsync writes ran inside a transaction of the caller's, which may yet roll back. */
  private wroteInTransaction = false;
  /** Matches the names of cloudsync_changes and of the views that read it; null: to be found again. */
  private changesReaders: RegExp | null = null;

  constructor(private readonly host: TransactionHost) {}

  /** Runs `work` in a transaction of its own, or a savepoint inside the caller's. */
  atomically(work: () => void, deferForeignKeys = false): void {
    const { db, clock } = this.host;
    const outer = db.inTransaction;
    if (outer) this.wroteInTransaction = true;
    else clock.endTransaction();
    db.exec(outer ? 'SAVEPOINT cloudsync' : 'BEGIN IMMEDIATE');
    if (deferForeignKeys && !outer) db.exec('PRAGMA defer_foreign_keys = ON');
    try {
      // Holding the write lock now: no other connection can commit a newer version meanwhile, and
      // another connection's ALTER committed while this one waited is seen before the work.
      if (this.host.synced()) {
        this.host.catchUp();
        this.host.readClock();
      }
      work();
      db.exec(outer ? 'RELEASE cloudsync' : 'COMMIT');
    } catch (error) {
      db.exec(outer ? 'ROLLBACK TO cloudsync; RELEASE cloudsync' : 'ROLLBACK');
      this.host.reload();
      throw error;
    } finally {
      this.afterWrite();
    }
  }

  /** Ends the clock's transaction when no transaction is open any more. */
  afterWrite(): void {
    if (!this.host.db.inTransaction) this.host.clock.endTransaction();
  }

  /**
   * Called before a user statement runs. `readsChanges`: its SQL names cloudsync_changes.
   * `lookFirst`: catch up with other connections' work before it runs (outside a transaction),
   * for a statement that calls cloudsync_* functions, or that writes and cannot be run again after
   * a STALE failure (see cloudsync_write_first).
   */
  beforeStatement(readsChanges: boolean, lookFirst: boolean): void {
    const { db, clock } = this.host;
    // cloudsync_changes is a view over the meta rows: fold the logged writes first
    if (readsChanges && this.host.synced()) this.host.log.foldAll();
    if (db.inTransaction) {
      // the caller may have rolled back to a savepoint since our last write in this transaction
      if (lookFirst && this.wroteInTransaction) this.host.afterPossibleRollback();
      return;
    }
    clock.endTransaction();
    // Never inside an explicit transaction: a read there would pin a snapshot that a later write
    // may fail to upgrade (SQLITE_BUSY). The clock itself is safe either way (see cloudsync_write_first).
    if (lookFirst) this.host.catchUp();
  }

  /** Called after a user statement ran. */
  afterStatement(): void {
    if (this.host.db.inTransaction) return;
    this.host.clock.endTransaction();
    if (this.wroteInTransaction) {
      this.wroteInTransaction = false;
      this.host.afterPossibleRollback();
    }
    this.host.notices.afterCommit();
    this.host.log.afterCommit();
  }

  /** True when `sql` names cloudsync_changes or a (temp) view that reads it, views of such views included. */
  readsChanges(sql: string): boolean {
    this.changesReaders ??= changesReaders(this.host.db);
    return this.changesReaders.test(sql);
  }

  /** Forgets which views read cloudsync_changes (after a statement that may have created or dropped one). */
  viewsChanged(): void {
    this.changesReaders = null;
  }
}
