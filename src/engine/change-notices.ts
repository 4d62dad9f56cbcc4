// Change notices for UIs: after a commit of this connection (a local write or a merge), the
// synced tables whose data moved are told to the listeners. Table-level invalidation: a table's
// stamp is the newest db_version in its meta rows or its log, which every tracked write raises and
// folding leaves as it is; a cheap total_changes() check skips the stamps when nothing was written.

import type { Connection, Statement } from './connection.js';
import { logTableName, quoteIdentifier as q } from './identifiers.js';
import type { SyncedTable } from './synced-table.js';

/** Called with the names of the synced tables that changed. */
export type ChangeListener = (tables: string[]) => void;

/** The listeners of one connection and the stamps they were last told at. */
export class ChangeNotices {
  private readonly listeners = new Set<{ tables: Set<string> | null; listener: ChangeListener }>();
  private readonly stamps = new Map<string, number>();
  private totalChanges: Statement | null = null;
  private lastTotal = -1;

  constructor(
    private readonly db: Connection,
    private readonly syncedTables: () => SyncedTable[],
  ) {}

  /** Calls `listener` after commits that changed any of `tables` (case-insensitive; all synced tables when left out); returns the unsubscribe. */
  subscribe(listener: ChangeListener, tables?: readonly string[]): () => void {
    if (this.listeners.size === 0) this.takeStamps(); // from now on
    const entry = { tables: tables ? new Set(tables.map((t) => t.toLowerCase())) : null, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /** After a commit (no transaction open): tells the listeners which tables changed since the last notice. */
  afterCommit(): void {
    if (this.listeners.size === 0 || this.db.inTransaction) return;
    const total = this.total();
    if (total === this.lastTotal) return;
    this.lastTotal = total;
    const changed: string[] = [];
    for (const table of this.syncedTables()) {
      const stamp = this.stampOf(table);
      const previous = this.stamps.get(table.name);
      // a table synced since the last look starts at its stamp: cloudsync_init changes no data
      if (previous !== undefined && stamp > previous) changed.push(table.name);
      this.stamps.set(table.name, stamp);
    }
    if (changed.length === 0) return;
    for (const { tables, listener } of [...this.listeners]) {
      const hit = tables === null ? changed : changed.filter((name) => tables.has(name.toLowerCase()));
      if (hit.length > 0) listener(hit);
    }
  }

  private takeStamps(): void {
    this.lastTotal = this.total();
    for (const table of this.syncedTables()) this.stamps.set(table.name, this.stampOf(table));
  }

  private total(): number {
    this.totalChanges ??= this.db.prepare('SELECT total_changes()');
    return Number(this.totalChanges.get()?.[0] ?? 0);
  }

  private stampOf(table: SyncedTable): number {
    const statement = table.statement('notices.stamp', () => {
      const meta = `(SELECT max(db_version) FROM ${table.quotedMeta})`;
      const log = table.layout.log ? `(SELECT clock >> 30 FROM main.${q(logTableName(table.name))} ORDER BY rowid DESC LIMIT 1)` : 'NULL';
      return `SELECT max(coalesce(${meta}, 0), coalesce(${log}, 0))`;
    });
    return Number(statement.get()?.[0] ?? 0);
  }
}
