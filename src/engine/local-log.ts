// The logged local writes of one connection: how many wait to be folded into the meta rows, and
// when they are folded: before changes are read or merged, past a soft limit, and in idle time.

import type { SqlValue } from '../codec/value.js';
import type { Connection } from './connection.js';
import { CloudSyncError } from './errors.js';
import { foldLog, hasPendingLog, LogFolder } from './log-fold.js';
import type { SyncedTable } from './synced-table.js';

/** Default of EngineOptions.logSoftLimit. */
export const LOG_SOFT_LIMIT = 200_000;

/** Log rows one idle step folds: about 30 ms of work on a 2-core machine, so a server or worker stays responsive. */
const IDLE_STEP = 8192;

/** What the log needs from its engine. */
export interface LogHost {
  readonly db: Connection;
  syncedTables(): SyncedTable[];
  /** Catches up with other connections' commits. */
  catchUp(): void;
  /** Throws when a synced table was altered without cloudsync. */
  refuseDrift(fn: string): void;
  /** Runs `work` in a transaction of its own, or a savepoint inside the caller's. */
  atomically(work: () => void): void;
}

/** When to fold, beyond the folds that reads and merges need. */
export interface LogOptions {
  softLimit?: number;
  idleFold?: boolean;
}

/** Folds the logged writes of a connection's log-structured tables. */
export class LocalLog {
  private readonly folder: LogFolder;
  private readonly softLimit: number;
  private readonly idleFold: boolean;
  /** Writes this connection logged that are not folded yet (others' are found by looking). */
  private logged = 0;
  private idleScheduled = false;

  constructor(
    private readonly host: LogHost,
    options: LogOptions = {},
  ) {
    this.folder = new LogFolder(host.db);
    this.softLimit = options.softLimit ?? LOG_SOFT_LIMIT;
    this.idleFold = options.idleFold ?? true;
  }

  /** This connection's logged writes not folded yet. */
  get pending(): number {
    return this.logged;
  }

  /** Counts one write appended to a log (called by the log triggers). */
  loggedWrite(): void {
    this.logged++;
  }

  /** Folds one table's whole log in the caller's transaction (before its triggers or layout change). */
  foldTable(table: SyncedTable): void {
    if (table.layout.log) foldLog(table, this.folder);
  }

  /**
   * Folds the logged local writes of every log-structured table into its meta rows (see
   * log-fold.ts), oldest first and `limit` at most, in one transaction; nothing to do when the
   * logs are empty. It catches up with other connections first: the fold reads each log by its
   * table's layout, which another connection's ALTER changes (log writes catch no STALE).
   */
  foldAll(limit = Number.POSITIVE_INFINITY): void {
    const { host } = this;
    host.catchUp();
    host.refuseDrift('cloudsync');
    const pending = host.syncedTables().find((t) => t.layout.log && hasPendingLog(t));
    if (pending === undefined) {
      this.logged = 0;
      return;
    }
    if (host.db.isReadonly) {
      throw new CloudSyncError(
        'UNSUPPORTED',
        `cloudsync: table ${pending.name} has local writes that are not folded into its metadata yet, and this connection is read-only; read its changes on a writable connection (which folds them) first`,
      );
    }
    host.atomically(() => this.foldPending(limit));
  }

  /** Folds up to `limit` logged writes, oldest first, in the caller's transaction. */
  foldPending(limit = Number.POSITIVE_INFINITY): void {
    let folded = 0;
    for (const table of this.host.syncedTables()) if (table.layout.log && folded < limit) folded += foldLog(table, this.folder, limit - folded);
    this.logged = limit === Number.POSITIVE_INFINITY ? 0 : Math.max(0, this.logged - folded);
  }

  /**
   * Runs `work` (reads of changes) on one snapshot in which every logged write is folded: the fold
   * and the reads share one transaction (the caller's, if any). Read separately, every table on
   * its own snapshot, another connection's commit in between could put a change behind the last
   * one read, where a receiver's watermark would pass it by.
   */
  readFolded(work: () => void): void {
    const { host } = this;
    if (host.db.inTransaction) {
      this.foldAll();
      work();
    } else if (host.db.isReadonly) {
      // no fold here (foldAll says why when one is needed): a read transaction
      host.db.exec('BEGIN');
      try {
        this.foldAll();
        work();
      } finally {
        host.db.exec('COMMIT');
      }
    } else {
      host.atomically(() => {
        host.refuseDrift('cloudsync');
        this.foldPending();
        work();
      });
    }
  }

  /**
   * After a statement committed (outside any transaction): past the soft limit, folds the older
   * half at once so that a database that does not sync keeps a bounded log; otherwise schedules
   * the fold for idle time, so that the next read of changes finds little to do.
   */
  afterCommit(): void {
    if (this.logged > this.softLimit) {
      try {
        this.foldAll(Math.ceil(this.logged / 2));
      } catch {
        // the statement itself succeeded (and committed): a fold that could not run now (another
        // connection holds the write lock) runs after a later statement, or before changes are read
      }
    }
    if (this.logged > 0 && this.idleFold && !this.idleScheduled) {
      this.idleScheduled = true;
      whenIdle(() => this.idleStep());
    }
  }

  /**
   * One step of idle folding, in its own transaction; reschedules itself while writes remain. It
   * gives way at once to a transaction in progress, and to another connection holding the write
   * lock (no busy wait: the next statement or read folds instead).
   */
  private idleStep(): void {
    this.idleScheduled = false;
    const { db } = this.host;
    if (!db.isOpen || db.inTransaction || db.isReadonly || this.logged === 0) return;
    let timeout: SqlValue | undefined;
    try {
      timeout = db.prepare('PRAGMA busy_timeout').get()?.[0];
      db.exec('PRAGMA busy_timeout = 0');
      this.foldAll(IDLE_STEP);
    } catch {
      return; // busy (another connection writes, or a query of this one is open): left to the next fold
    } finally {
      if (timeout !== undefined && db.isOpen) db.exec(`PRAGMA busy_timeout = ${String(timeout)}`);
    }
    this.afterCommit();
  }
}

/** Runs `work` once the event loop is idle (after pending I/O), without keeping a Node process alive. */
function whenIdle(work: () => void): void {
  if (typeof setImmediate === 'function') setImmediate(work).unref();
  else setTimeout(work, 0);
}
