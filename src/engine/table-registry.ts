// The synced tables of one connection, by name (case-insensitive), read from the settings on
// first use; registering a table stores its layout and creates its meta table and log.

import type { Connection } from './connection.js';
import { CloudSyncError } from './errors.js';
import { foldName } from './identifiers.js';
import type { LocalLog } from './local-log.js';
import { createLogTable, createMetaTable, dropLogTable, hasLogCheck, type TableLayout } from './meta-schema.js';
import type { Settings } from './settings.js';
import { loadSyncedTables, SyncedTable } from './synced-table.js';

/** The synced tables of one connection. */
export class TableRegistry {
  private tables: Map<string, SyncedTable> | null = null;

  constructor(
    private readonly db: Connection,
    private readonly settings: Settings,
    private readonly log: LocalLog,
  ) {}

  /** The synced table by name (case-insensitive), or undefined. */
  get(name: string): SyncedTable | undefined {
    const tables = this.map();
    return tables.get(name) ?? tables.get(foldName(name));
  }

  /** The synced table by name, or a MISUSE error naming `fn`. */
  require(fn: string, name: string): SyncedTable {
    const table = this.get(name);
    if (!table) throw new CloudSyncError('MISUSE', `${fn}: table ${name} is not synced; call cloudsync_init('${name}') first`);
    return table;
  }

  /** Every synced table, in creation order. */
  all(): SyncedTable[] {
    return [...this.map().values()];
  }

  /** Forgets the tables: they are read from the database again on next use. */
  forget(): void {
    this.tables = null;
  }

  /** Holds no table (after cloudsync_cleanup('*')). */
  clear(): void {
    this.tables = new Map();
  }

  /** Forgets one table (its meta rows and settings are the caller's to drop). */
  delete(name: string): void {
    this.map().delete(foldName(name));
  }

  /** Stores a table's layout, creates its meta table (and log) and holds it here. */
  register(layout: TableLayout, enabled: boolean): void {
    this.settings.setTable(layout.name, 'algo', layout.algo);
    this.settings.setTable(layout.name, 'columns', JSON.stringify(layout.columns));
    this.settings.setTable(layout.name, 'writes', layout.log ? 'log' : 'direct');
    createMetaTable(this.db, layout);
    if (layout.log) this.ensureLog(layout);
    this.map().set(foldName(layout.name), new SyncedTable(this.db, layout, enabled));
  }

  /**
   * Creates the table's log; one made before its clock CHECK (0.1.0), which today's log triggers
   * need, is folded and made again.
   */
  ensureLog(layout: TableLayout): void {
    if (!hasLogCheck(this.db, layout.name)) {
      const existing = this.get(layout.name);
      if (existing) this.log.foldTable(existing);
      dropLogTable(this.db, layout.name);
    }
    createLogTable(this.db, layout);
  }

  private map(): Map<string, SyncedTable> {
    this.tables ??= loadSyncedTables(this.db, this.settings);
    return this.tables;
  }
}
