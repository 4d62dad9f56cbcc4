// The database's logical clock: db_version per local transaction, seq per change, and the
// Lamport fast-forward used when merging remote changes.

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
