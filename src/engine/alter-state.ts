// What the engine remembers of a synced table between cloudsync_begin_alter and
// cloudsync_commit_alter: its key columns before the ALTER, the columns the ALTER statements
// rename, and whether begin_alter opened the transaction; and the rules for ALTER statements.

import { CloudSyncError } from './errors.js';
import { foldName } from './identifiers.js';
import type { SyncedTable } from './synced-table.js';

/** One ALTER TABLE statement, as the SQL layer reads it from the text before it runs. */
export interface AlterStatement {
  schema: string | null;
  table: string;
  renamesTable: boolean;
  renamesColumn: { from: string; to: string } | null;
}

interface Alter {
  /** The key columns before the ALTER (folded, as JSON): a change of key rebuilds the meta table. */
  keys: string;
  /** Renamed columns: new name → name before the ALTER (folded). */
  renames: Map<string, string>;
  /** begin_alter opened the transaction, which commit_alter commits. */
  ownsTransaction: boolean;
}

/** The tables in an ALTER on one connection. */
export class AlterState {
  private readonly alters = new Map<string, Alter>();

  /** Starts the ALTER of `table`. */
  begin(table: SyncedTable, ownsTransaction: boolean): void {
    this.alters.set(foldName(table.name), { keys: keyColumns(table.layout.pk), renames: new Map(), ownsTransaction });
  }

  /** True when the table is between begin_alter and commit_alter. */
  has(table: string): boolean {
    return this.alters.has(foldName(table));
  }

  /** The table's key columns before the ALTER (its current ones when not in one). */
  keysBefore(table: SyncedTable): string {
    return this.alters.get(foldName(table.name))?.keys ?? keyColumns(table.layout.pk);
  }

  /** The name before the ALTER of a column renamed by it (folded), if any. */
  renamedFrom(table: string, column: string): string | undefined {
    return this.alters.get(foldName(table))?.renames.get(column);
  }

  /** True when begin_alter opened the transaction of the table's ALTER. */
  ownsTransaction(table: string): boolean {
    return this.alters.get(foldName(table))?.ownsTransaction ?? false;
  }

  /** Forgets the table's ALTER (after commit_alter, or its failure). */
  end(table: string): void {
    this.alters.delete(foldName(table));
  }

  /**
   * Refuses, before it runs, an ALTER TABLE of a synced table outside begin_alter/commit_alter
   * (its triggers and clocks would not follow the new columns) and any rename of a synced table
   * (its metadata is named after it); records a renamed column (commit_alter checks that the
   * rename happened, and the column keeps its clocks).
   */
  check(statement: AlterStatement, synced: SyncedTable | undefined): void {
    if (synced === undefined || (statement.schema !== null && foldName(statement.schema) !== 'main')) return;
    if (statement.renamesTable) {
      throw new CloudSyncError('UNSUPPORTED', `ALTER TABLE ${synced.name} RENAME TO: a synced table cannot be renamed; cloudsync_cleanup('${synced.name}') it, rename it, then cloudsync_init the new name`);
    }
    const alter = this.alters.get(foldName(synced.name));
    if (alter === undefined) {
      throw new CloudSyncError('MISUSE', `ALTER TABLE ${synced.name}: the table is synced; run the ALTER between SELECT cloudsync_begin_alter('${synced.name}') and SELECT cloudsync_commit_alter('${synced.name}')`);
    }
    const rename = statement.renamesColumn;
    if (rename === null) return;
    const original = alter.renames.get(foldName(rename.from)) ?? foldName(rename.from);
    alter.renames.delete(foldName(rename.from));
    alter.renames.set(foldName(rename.to), original);
  }
}

function keyColumns(pk: readonly { name: string }[]): string {
  return JSON.stringify(pk.map((c) => foldName(c.name)));
}
