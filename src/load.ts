// load(): the entry point. Registers the cloudsync_* functions on a better-sqlite3 connection and
// returns the typed TypeScript API over the same engine.

import type BetterSqlite3 from 'better-sqlite3';
import type { Change } from './codec/payload.js';
import type { SqlValue } from './codec/value.js';
import { createBetterSqlite3Connection, instrumentBetterSqlite3, refuseInstrumented } from './drivers/better-sqlite3.js';
import type { ChangeFilter } from './engine/changes.js';
import { CloudSyncEngine, type EncodedPayload, type EngineOptions, type InitOptions } from './engine/cloudsync.js';
import { NetworkSync, type NetworkOptions } from './client/network-sync.js';
import { CloudSyncError } from './engine/errors.js';
import { alterStatements } from './sql/alter-statements.js';
import { DeferredCalls } from './sql/deferred-calls.js';
import { answerEncodeStatement } from './sql/encode-statement.js';
import { registerNetworkFunctions } from './sql/register-network.js';
import { registerSqlFunctions } from './sql/register.js';

/** Options of load(). */
export interface LoadOptions extends EngineOptions {
  /**
   * Keep statement journals in memory (`PRAGMA temp_store = MEMORY`, the default here). Every
   * write to a synced table runs triggers, so SQLite journals each statement; on a file database
   * that journal otherwise spills to a temporary file and inserts get about four times slower.
   */
  memoryTempStore?: boolean;
  /** Options of the network client (timeouts, payload size). */
  network?: NetworkOptions;
}

/** The typed API of one synced connection; each method is the SQL function of the same name. */
export class CloudSync {
  /** The network client: cloudsync_network_* as async methods, status events and automatic sync. */
  readonly network: NetworkSync;

  /** @internal */
  constructor(
    readonly engine: CloudSyncEngine,
    network?: NetworkSync,
  ) {
    this.network = network ?? new NetworkSync(engine);
  }

  /** cloudsync_init: makes a table (or '*') replicated. */
  init(table: string, options?: InitOptions): void {
    this.engine.init(table, options);
  }
  /** cloudsync_enable. */
  enable(table: string): void {
    this.engine.setEnabled(table, true);
  }
  /** cloudsync_disable. */
  disable(table: string): void {
    this.engine.setEnabled(table, false);
  }
  /** cloudsync_is_enabled. */
  isEnabled(table: string): boolean {
    return this.engine.isEnabled(table);
  }
  /** cloudsync_cleanup. */
  cleanup(table: string): void {
    this.engine.cleanup(table);
  }
  /** cloudsync_terminate. */
  terminate(): void {
    this.engine.terminate();
  }
  /** cloudsync_begin_alter. */
  beginAlter(table: string): void {
    this.engine.beginAlter(table);
  }
  /** cloudsync_commit_alter. */
  commitAlter(table: string): void {
    this.engine.commitAlter(table);
  }
  /** cloudsync_siteid (null before the first init). */
  siteId(): Uint8Array | null {
    return this.engine.siteId();
  }
  /** cloudsync_db_version. */
  dbVersion(): number {
    return this.engine.dbVersion();
  }
  /** cloudsync_uuid. */
  uuid(): string {
    return this.engine.uuid();
  }
  /** cloudsync_set. */
  set(key: string, value: SqlValue): void {
    this.engine.set(key, value);
  }
  /** cloudsync_set_table. */
  setTable(table: string, key: string, value: SqlValue): void {
    this.engine.setTable(table, key, value);
  }
  /** cloudsync_set_column. */
  setColumn(table: string, column: string, key: string, value: SqlValue): void {
    this.engine.setTable(table, key, value, column);
  }
  /** SELECT … FROM cloudsync_changes: tracked changes ordered by db_version and seq. */
  changes(filter?: ChangeFilter): Change[] {
    return this.engine.feed.changes(filter);
  }
  /** cloudsync_payload_encode over the filtered changes; null when there are none. */
  encodePayload(filter?: ChangeFilter): Uint8Array | null {
    return this.engine.feed.encodePayload(filter);
  }
  /** Like encodePayload, split into payloads of about `maxBytes` (default 5 MiB), each with its last position. */
  encodePayloads(filter?: ChangeFilter, options?: { maxBytes?: number }): EncodedPayload[] {
    return this.engine.feed.encodePayloads(filter, options);
  }
  /** cloudsync_payload_decode: applies a payload atomically; returns its number of changes. */
  applyPayload(payload: Uint8Array): number {
    return this.engine.applyPayload(payload, 'applyPayload');
  }
  /** INSERT INTO cloudsync_changes: applies changes atomically. */
  applyChanges(changes: readonly Change[]): number {
    return this.engine.applyChanges(changes, 'applyChanges');
  }
}

/** Loads sqlite-sync into an open better-sqlite3 connection. Call it right after opening. */
export function load(db: BetterSqlite3.Database, options: LoadOptions = {}): CloudSync {
  // before anything is registered: a second load would replace the first one's functions
  refuseInstrumented(db);
  if (options.memoryTempStore ?? true) db.pragma('temp_store = MEMORY');
  const connection = createBetterSqlite3Connection(db);
  const engine = new CloudSyncEngine(connection, options);
  const deferred = new DeferredCalls(connection.reentrant);
  registerSqlFunctions(engine, deferred);
  const network = new NetworkSync(engine, options.network);
  registerNetworkFunctions(connection, network, deferred);
  instrumentBetterSqlite3(db, {
    before: (readsChanges, lookFirst) => engine.transactions.beforeStatement(readsChanges, lookFirst),
    readsChanges: (sql) => engine.transactions.readsChanges(sql),
    viewsChanged: () => engine.transactions.viewsChanged(),
    answer: (sql) => answerEncodeStatement(engine, sql),
    checkAlter: (sql) => {
      for (const alter of alterStatements(sql)) engine.checkAlter(alter);
    },
    retry: (error) => {
      if (!(error instanceof CloudSyncError) || error.code !== 'STALE') return false;
      engine.resync();
      return true;
    },
    capture: (method, statement, args, present, writes) => deferred.capture(method, statement, args, present, writes),
    after: () => engine.transactions.afterStatement(),
  });
  return new CloudSync(engine, network);
}
