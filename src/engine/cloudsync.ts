// The engine: makes tables of one SQLite connection replicated, and produces and merges changes.
// Every cloudsync_* SQL function and the TypeScript API end up in these methods.

import type { Change } from '../codec/payload.js';
import { schemaHash, toSignedInt64 } from '../codec/schema-hash.js';
import type { SqlValue } from '../codec/value.js';
import { parseAlgo } from './algorithms.js';
import { ChangeFeed } from './change-feed.js';
import { ChangeNotices } from './change-notices.js';
import { Clock } from './clock.js';
import type { Connection, Statement } from './connection.js';
import { CloudSyncError } from './errors.js';
import { foldName, quoteLiteral } from './identifiers.js';
import { ChangeApplier } from './apply.js';
import { type AlterStatement, AlterState } from './alter-state.js';
import { type Algo, createChangesView, createMaxVersionView, dropLogTable, createTriggers, dropMetaTable, dropTriggers, MAX_VERSION_VIEW, type TableLayout } from './meta-schema.js';
import { LocalLog } from './local-log.js';
import { collatedPk, type RowKeyOf } from './row-keys.js';
import { ALL_COLUMNS, dropGlobalTables, Settings } from './settings.js';
import type { SyncedTable } from './synced-table.js';
import { TableRegistry } from './table-registry.js';
import { checkSyncable, refuseForeignTables, userTables } from './table-schema.js';
import { backfillMeta, fillMissingCells, migrateClocks } from './table-migrations.js';
import { registerTriggerFunctions } from './trigger-functions.js';
import { SeenVersions } from './seen-versions.js';
import { Transactions } from './transactions.js';
import { cryptoRandomBytes, createUuidBytes, formatUuid, type RandomBytes } from './uuid.js';
import type { ApplyHooks, EngineOptions, InitOptions } from './engine-options.js';

export type { EncodedPayload } from './payload-split.js';
export type { ApplyHooks, EngineOptions, InitOptions, PayloadOptions } from './engine-options.js';

/** Table settings the engine keeps itself, and the functions that manage them. */
const MANAGED_TABLE_KEYS: ReadonlyMap<string, string> = new Map([
  ['algo', 'cloudsync_init'],
  ['columns', 'cloudsync_init and cloudsync_commit_alter'],
  ['writes', 'cloudsync_init'],
  ['enabled', 'cloudsync_enable and cloudsync_disable'],
]);

/** The library version reported by cloudsync_version(). */
export const LIBRARY_VERSION = '0.1.0';

/** The cloudsync engine of one connection. */
export class CloudSyncEngine {
  readonly clock = new Clock();
  readonly settings: Settings;
  /** The tracked changes, read or encoded. */
  readonly feed: ChangeFeed;
  /** The logged local writes and their folding. */
  readonly log: LocalLog;
  /** Change notices for UIs: which synced tables a commit changed. */
  readonly notices: ChangeNotices;
  /** Transaction tracking; the driver calls it around every user statement. */
  readonly transactions: Transactions;
  private readonly tables: TableRegistry;
  private readonly applier: ChangeApplier;
  private maxVersion: Statement | null = null;
  private readonly alters = new AlterState();
  private localSite: Uint8Array | null = null;
  private cachedSchemaHash: bigint | null = null;
  private readonly now: () => number;
  private readonly logWrites: boolean;
  private readonly random: RandomBytes;
  private readonly seen: SeenVersions;

  constructor(
    readonly db: Connection,
    options: EngineOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.logWrites = options.logWrites ?? true;
    this.random = options.random ?? cryptoRandomBytes;
    this.settings = new Settings(db);
    this.seen = new SeenVersions(db);
    registerTriggerFunctions(db, {
      clock: this.clock,
      table: (name) => this.table(name),
      merging: () => this.applier.merging,
      loggedWrite: () => this.log.loggedWrite(),
      staleSchema: (schema, data) => this.seen.staleSchema(schema, data),
      othersCommitted: (data) => this.seen.othersCommitted(data),
    });
    this.log = new LocalLog(
      {
        db,
        syncedTables: () => this.syncedTables(),
        catchUp: () => this.refreshIfChanged(),
        refuseDrift: (fn) => this.refuseDrift(fn),
        atomically: (work) => this.atomically(work),
      },
      { softLimit: options.logSoftLimit, idleFold: options.idleFold },
    );
    this.tables = new TableRegistry(db, this.settings, this.log);
    this.notices = new ChangeNotices(db, () => this.syncedTables());
    this.transactions = new Transactions({
      db,
      clock: this.clock,
      log: this.log,
      notices: this.notices,
      synced: () => this.settings.exist(),
      catchUp: () => this.refreshIfChanged(),
      readClock: () => this.readClock(),
      reload: () => this.reload(),
      afterPossibleRollback: () => this.afterPossibleRollback(),
    });
    this.applier = new ChangeApplier({
      clock: this.clock,
      log: this.log,
      rowKeyOf: this.rowKeyOf,
      table: (name) => this.table(name),
      siteOrdinal: (siteId) => this.siteOrdinal(siteId),
      catchUp: () => this.refreshIfChanged(),
      refuseDrift: (fn) => this.refuseDrift(fn),
      atomically: (work, deferForeignKeys) => this.atomically(work, deferForeignKeys),
      markMerging: (merging) => this.settings.markMerging(merging),
    });
    this.feed = new ChangeFeed({
      settings: this.settings,
      readFolded: (work) => this.log.readFolded(work),
      syncedTables: () => this.syncedTables(),
      schemaHash: () => this.schemaHash(),
    });
    this.reload();
  }

  /** The bytes of a change's row when its table's key folds text (NOCASE, RTRIM): such keys group as SQLite compares them. */
  readonly rowKeyOf: RowKeyOf = (change) => {
    const collations = this.table(change.tbl)?.keyCollations ?? null;
    return collations === null ? null : collatedPk(change.pk, collations);
  };

  /** The synced table by name (case-insensitive), or undefined. */
  table(name: string): SyncedTable | undefined {
    return this.tables.get(name);
  }

  /** The ordinal of a site id in cloudsync_site_id, adding it when new. */
  siteOrdinal(siteId: Uint8Array): number {
    return this.settings.siteOrdinal(siteId);
  }

  /** Every synced table, in creation order. */
  syncedTables(): SyncedTable[] {
    return this.tables.all();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Makes a table (or '*': every user table) replicated; idempotent. */
  init(table: string, options: InitOptions = {}): void {
    const fn = 'cloudsync_init';
    const algo = parseAlgo(fn, options.algo ?? 'cls');
    const names = table === '*' ? userTables(this.db) : [table];
    this.atomically(() => {
      this.ensureSettings();
      for (const name of names) this.initTable(fn, name, algo, options.force ?? false);
      this.afterSchemaChange();
    });
  }

  /** Stops tracking a table (or '*': every table, and forgets the site id). */
  cleanup(table: string): void {
    if (!this.settings.exist()) return;
    this.atomically(() => {
      this.keepClockFloor();
      // only tables the engine registered: a user table that merely has a name like a meta table stays
      const names = table === '*' ? this.syncedTables().map((t) => t.name) : [this.table(table)?.name ?? table].filter((name) => this.settings.getTable(name, 'algo') !== null);
      for (const name of names) {
        dropTriggers(this.db, name);
        dropMetaTable(this.db, name);
        this.settings.deleteTable(name);
        this.tables.delete(name);
      }
      if (table === '*') {
        dropGlobalTables(this.db);
        this.settings.forget();
        this.db.exec(`DROP VIEW IF EXISTS main.${MAX_VERSION_VIEW}`);
        createChangesView(this.db, []);
        this.tables.clear();
        this.localSite = null;
        this.cachedSchemaHash = null;
        this.clock.reset(0);
        return;
      }
      this.afterSchemaChange();
    });
  }

  /** Turns tracking of a table (or '*') on or off; the state is stored in the database. */
  setEnabled(table: string, enabled: boolean): void {
    const fn = enabled ? 'cloudsync_enable' : 'cloudsync_disable';
    if (table !== '*') this.tables.require(fn, table);
    this.atomically(() => {
      // looked up under the lock: the registry may have been read again (another connection's ALTER)
      const targets = table === '*' ? this.syncedTables() : [this.tables.require(fn, table)];
      for (const target of targets) {
        this.settings.setTable(target.name, 'enabled', enabled ? '1' : '0');
        target.enabled = enabled;
        if (target.layout.log) this.tables.ensureLog(target.layout);
        // the triggers again, for the new state: a schema change, which other connections notice
        createTriggers(this.db, target.layout, enabled);
      }
      this.seen.seeSchema();
    });
  }

  /** True if the table is synced and enabled. */
  isEnabled(table: string): boolean {
    return this.table(table)?.enabled ?? false;
  }

  /** Forgets in-memory state and statements, and reads the state again from the database. */
  terminate(): void {
    this.reload();
  }

  /** Starts a schema change of a synced table: opens a savepoint and removes its triggers. */
  beginAlter(table: string): void {
    this.tables.require('cloudsync_begin_alter', table);
    // Outside a transaction, take the write lock first: the versions the ALTER writes are read
    // under it (a SAVEPOINT alone would start a deferred transaction on an old snapshot).
    const owns = !this.db.inTransaction;
    this.db.exec(owns ? 'BEGIN IMMEDIATE; SAVEPOINT cloudsync_alter' : 'SAVEPOINT cloudsync_alter');
    try {
      this.refreshIfChanged();
      const synced = this.tables.require('cloudsync_begin_alter', table);
      this.alters.begin(synced, owns);
      this.log.foldTable(synced);
      dropTriggers(this.db, synced.name);
      // the changes view names the table's columns: without the table, a column can be dropped
      createChangesView(this.db, this.syncedTables().filter((t) => t !== synced).map((t) => t.layout));
    } catch (error) {
      this.alters.end(table);
      this.db.exec(owns ? 'ROLLBACK' : 'ROLLBACK TO cloudsync_alter; RELEASE cloudsync_alter');
      this.reload();
      throw error;
    }
  }

  /** Refuses an ALTER statement before it runs (see AlterState.check); records a column it renames. */
  checkAlter(statement: AlterStatement): void {
    this.alters.check(statement, this.table(statement.table));
  }

  /** Finishes a schema change: migrates the clocks to the new columns and re-creates triggers. */
  commitAlter(table: string): void {
    const fn = 'cloudsync_commit_alter';
    const synced = this.tables.require(fn, table);
    const owns = this.alters.ownsTransaction(synced.name);
    try {
      const shape = checkSyncable(this.db, fn, synced.name, true);
      // the newest version stored, now that this transaction holds the write lock
      this.readClock();
      this.keepClockFloor();
      const layout: TableLayout = { name: shape.name, pk: shape.pk, columns: shape.columns, algo: synced.layout.algo, log: synced.layout.log };
      if (JSON.stringify(shape.pk.map((c) => foldName(c.name))) !== this.alters.keysBefore(synced)) {
        dropMetaTable(this.db, synced.name);
        this.tables.register(layout, synced.enabled);
        this.backfill(this.tables.require(fn, layout.name));
      } else {
        // the log was folded and emptied by beginAlter; its mask columns follow the new columns
        if (synced.layout.log) dropLogTable(this.db, synced.name);
        this.migrateClocks(synced, layout);
        this.backfill(this.tables.require(fn, layout.name)); // rows written between begin and commit
      }
      createTriggers(this.db, layout, synced.enabled);
      this.alters.end(synced.name);
      this.db.exec(owns ? 'RELEASE cloudsync_alter; COMMIT' : 'RELEASE cloudsync_alter');
    } catch (error) {
      this.alters.end(synced.name);
      if (this.db.inTransaction) this.db.exec(owns ? 'ROLLBACK' : 'ROLLBACK TO cloudsync_alter; RELEASE cloudsync_alter');
      this.reload();
      throw error;
    }
    this.afterSchemaChange();
    this.afterWrite();
  }

  // ---- identity and clocks ----------------------------------------------------------------

  /** This database's site id (16 bytes), or null before the first cloudsync_init. */
  siteId(): Uint8Array | null {
    return this.localSite;
  }

  /** The current db_version. */
  dbVersion(): number {
    return this.clock.current;
  }

  /** The newest db_version stored in the database, read now (other connections' commits included). */
  storedVersion(): number {
    this.maxVersion ??= this.db.prepare(`SELECT v FROM ${MAX_VERSION_VIEW}`);
    return Number(this.maxVersion.get()?.[0] ?? 0);
  }

  /** A new UUIDv7 string. */
  uuid(): string {
    return formatUuid(createUuidBytes(this.now(), this.random));
  }

  /** The current schema hash (unsigned), as cached after the last schema change. */
  schemaHash(): bigint {
    this.cachedSchemaHash ??= this.computeSchemaHash();
    return this.cachedSchemaHash;
  }

  private computeSchemaHash(): bigint {
    const names = this.syncedTables().map((t) => t.name);
    if (names.length === 0) return schemaHash([]);
    const sql = this.db
      .prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(quoteLiteral).join(', ')}) ORDER BY rowid`)
      .all()
      .map((r) => String(r[0]));
    return schemaHash(sql);
  }

  // ---- settings ---------------------------------------------------------------------------

  /** cloudsync_set: writes a global setting (null deletes it). */
  set(key: string, value: SqlValue): void {
    this.setAll({ [key]: value });
  }

  /** Writes several global settings in one transaction (null deletes a key). */
  setAll(entries: Readonly<Record<string, SqlValue>>): void {
    this.atomically(() => {
      this.ensureSettings();
      for (const [key, value] of Object.entries(entries)) this.settings.set(key, value);
    });
  }

  /** cloudsync_set_table / cloudsync_set_column: writes a table or column setting. */
  setTable(table: string, key: string, value: SqlValue, column: string = ALL_COLUMNS): void {
    const managed = MANAGED_TABLE_KEYS.get(foldName(key));
    if (managed !== undefined && column === ALL_COLUMNS) throw new CloudSyncError('MISUSE', `cloudsync_set_table: '${key}' is managed by ${managed}`);
    this.atomically(() => {
      this.ensureSettings();
      this.settings.setTable(table, key, value, column);
    });
  }

  // ---- merging (see apply.ts) ---------------------------------------------------------------

  /** Applies changes atomically: all of them or none, with `alongside` in the same transaction. Returns how many were given. */
  applyChanges(changes: readonly Change[], fn = 'cloudsync_changes', alongside?: (changes: readonly Change[]) => void): number {
    const count = this.applier.applyChanges(changes, fn, alongside);
    this.notices.afterCommit();
    return count;
  }

  /** Applies a payload atomically and returns its number of changes (see ChangeApplier.applyPayload). */
  applyPayload(payload: Uint8Array, fn = 'cloudsync_payload_decode', hooks: ApplyHooks = {}): number {
    const count = this.applier.applyPayload(payload, fn, hooks);
    this.notices.afterCommit();
    return count;
  }

  /** Catches up with other connections' work after a write failed with STALE (inside the caller's transaction, if any). */
  resync(): void {
    this.seen.forgetData();
    this.refreshIfChanged();
  }

  /**
   * Refuses to read or merge changes while a synced table's columns are not the ones its clocks
   * follow (an ALTER by a connection without sqlite-sync: its new column would stay untracked and
   * replicas would differ without a word); begin_alter and commit_alter adopt the new columns.
   */
  private refuseDrift(fn: string): void {
    for (const table of this.syncedTables()) {
      if (table.drift === null || this.alters.has(table.name)) continue;
      throw new CloudSyncError(
        'SCHEMA',
        `${fn}: table ${table.name} was altered without cloudsync (columns ${table.drift.join(', ')}); run SELECT cloudsync_begin_alter('${table.name}'); SELECT cloudsync_commit_alter('${table.name}') to track its columns again`,
      );
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Creates the global tables and the site id on first use. */
  private ensureSettings(): void {
    if (this.settings.exist()) return;
    this.settings.create(LIBRARY_VERSION, this.now(), this.random);
    // the view every write's clock reads, before any table is synced
    createMaxVersionView(this.db, this.syncedTables().map((t) => t.layout));
  }

  private initTable(fn: string, name: string, algo: Algo, force: boolean): void {
    const shape = checkSyncable(this.db, fn, name, force);
    const existing = this.table(shape.name);
    const storedAlgo = this.settings.getTable(shape.name, 'algo');
    if (storedAlgo !== null && storedAlgo !== algo) {
      throw new CloudSyncError('MISUSE', `${fn}: table ${shape.name} uses algorithm ${storedAlgo}; before changing a table algorithm you must call cloudsync_cleanup('${shape.name}')`);
    }
    if (storedAlgo === null) refuseForeignTables(this.db, fn, shape.name);
    const layout: TableLayout = existing?.layout ?? { name: shape.name, pk: shape.pk, columns: shape.columns, algo, log: this.logWrites && algo !== 'dws' };
    if (existing) this.log.foldTable(existing);
    const enabled = existing?.enabled ?? this.settings.getTable(shape.name, 'enabled') !== '0';
    this.tables.register(layout, enabled);
    createTriggers(this.db, layout, enabled);
    this.backfill(this.tables.require(fn, shape.name));
  }

  /** Gives every base row without a tracked meta row a fresh-insert clock (rows written before init). */
  private backfill(table: SyncedTable): void {
    // Every base row gets a meta row (an untracked one while the table is disabled), so that the
    // update trigger always finds one.
    const written = backfillMeta(this.db, table) + (table.enabled ? fillMissingCells(this.db, this.clock, table) : 0);
    if (written > 0) this.afterWrite();
  }

  /** Rewrites every meta row of a table for a new column list (after ALTER TABLE). */
  private migrateClocks(table: SyncedTable, layout: TableLayout): void {
    migrateClocks(this.db, this.clock, table, layout.columns, (column) => this.alters.renamedFrom(table.name, column));
    this.tables.register(layout, table.enabled);
  }

  private afterSchemaChange(): void {
    this.cachedSchemaHash = this.computeSchemaHash();
    this.localSite = this.settings.localSiteId();
    this.settings.recordSchemaHash(toSignedInt64(this.cachedSchemaHash));
    createChangesView(this.db, this.syncedTables().map((t) => t.layout));
    createMaxVersionView(this.db, this.syncedTables().map((t) => t.layout));
    this.seen.seeSchema();
  }

  /** Stores the clock so that it never goes back when meta tables are dropped. */
  private keepClockFloor(): void {
    this.settings.set('pre_alter_dbversion', String(this.clock.current));
  }

  /**
   * After a transaction of the caller's in which this connection wrote (or inside it, before the
   * next cloudsync call): a rollback may have undone what the registry and the site-id cache hold.
   * Any schema change the engine made moved the schema version, which a rollback moves back.
   */
  private afterPossibleRollback(): void {
    if (this.seen.schemaMoved()) this.reload();
    else this.settings.forgetSites();
  }

  /** Runs `work` in a transaction of its own, or a savepoint inside the caller's. */
  private atomically(work: () => void, deferForeignKeys = false): void {
    this.transactions.atomically(work, deferForeignKeys);
  }

  private afterWrite(): void {
    this.transactions.afterWrite();
  }

  /**
   * Catches up with writes of other connections: the clock after any write, the enabled flags,
   * and, after a schema change, the whole registry (which re-prepares statements).
   */
  private refreshIfChanged(): void {
    const version = this.seen.dataMoved();
    if (version === null) return;
    if (this.seen.schemaMoved()) {
      this.reload();
      return;
    }
    this.seen.see(version);
    if (!this.settings.exist()) return;
    for (const table of this.syncedTables()) table.enabled = this.settings.getTable(table.name, 'enabled') !== '0';
    this.readClock();
  }

  private reload(): void {
    // the versions first (see SeenVersions)
    const data = this.seen.readData();
    const schema = this.seen.readSchema();
    this.tables.forget();
    this.settings.forget();
    this.cachedSchemaHash = null;
    const tables = this.tables.all();
    this.localSite = this.settings.exist() ? this.settings.localSiteId() : null;
    this.cachedSchemaHash = this.computeSchemaHash();
    // an empty view before the first init, as the reference's virtual table
    createChangesView(this.db, tables.map((t) => t.layout));
    if (this.settings.exist()) {
      const hasView = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = ?").get([MAX_VERSION_VIEW]);
      if (!hasView) createMaxVersionView(this.db, tables.map((t) => t.layout));
      this.readClock();
    }
    this.seen.see(data, schema);
  }

  /**
   * Moves the clock up to the newest db_version stored (another connection may have written),
   * read from the view the triggers read too.
   */
  private readClock(): void {
    const max = this.storedVersion();
    if (max > this.clock.current || !this.db.inTransaction) this.clock.reset(Math.max(max, this.clock.current));
  }
}
