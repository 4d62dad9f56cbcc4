// The database's logical clock: db_version per local transaction, seq per change, and the
// Lamport fast-forward used when merging remote changes.

import { FRESH_SEQ_LIMIT } from './row-clocks.js';

/** Local logical time of one connection. The engine tells it where transactions end. */
export class Clock {
  /** Highest db_version used by a finished transaction (committed or not: gaps are allowed). */
  private committed = 0;
  /** db_version of the open local transaction, or -1 before its first tracked write. */
  private pending = -1;
  /** Next seq of the open transaction. */
  private nextSeq = 0;
  /** True once the open transaction's first write checked the schema (see cloudsync_write_first). */
  checked = false;

  /** Sets the committed version, as read from the database. */
  reset(committed: number): void {
    this.committed = committed;
    this.pending = -1;
    this.nextSeq = 0;
    this.checked = false;
  }

  /** The current database version (the open transaction's, if it wrote). */
  get current(): number {
    return this.pending >= 0 ? this.pending : this.committed;
  }

  /** The db_version of the current local transaction, allocating it on the first write. */
  localVersion(): number {
    if (this.pending < 0) this.pending = this.committed + 1;
    return this.pending;
  }

  /** True once the current local transaction has its db_version. */
  get allocated(): boolean {
    return this.pending >= 0;
  }

  /**
   * Allocates the current transaction's db_version above `stored`, the newest version in the
   * database as read while this connection holds the write lock (other connections may have
   * committed since this clock last looked).
   */
  startLocal(stored: number): number {
    if (stored > this.committed) this.committed = stored;
    return this.localVersion();
  }

  /** Reserves `count` consecutive seq numbers and returns the first. */
  takeSeq(count = 1): number {
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  /**
   * The clock of one log row: db_version × 2^30 + the first of `count` seqs it reserves, a number
   * while exact (no BigInt to allocate). Never throws, since a log trigger cannot report an error
   * safely (see cloudsync_log_take): a transaction that has used every seq of its db_version goes
   * on at the next one, which no other transaction can take while it holds the write lock.
   */
  takeLogClock(count: number): number | bigint {
    if (this.nextSeq + count > FRESH_SEQ_LIMIT) {
      this.pending = this.localVersion() + 1;
      this.nextSeq = 0;
    }
    const version = this.localVersion();
    const first = this.takeSeq(count);
    return version < 2 ** 23 ? version * FRESH_SEQ_LIMIT + first : BigInt(version) * BigInt(FRESH_SEQ_LIMIT) + BigInt(first);
  }

  /**
   * The local db_version for one merged change that wins: max(current + 1, remote), as if each
   * winning change committed on its own (what the reference does), so order of arrival is kept.
   */
  mergeVersion(remote: number): number {
    this.endTransaction();
    const version = Math.max(this.committed + 1, remote);
    this.committed = version;
    return version;
  }

  /** Closes the open transaction: the next local write takes a new db_version. */
  endTransaction(): void {
    if (this.pending > this.committed) this.committed = this.pending;
    this.pending = -1;
    this.nextSeq = 0;
    this.checked = false;
  }
}
