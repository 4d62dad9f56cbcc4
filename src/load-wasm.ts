// loadWasm(): sqlite-sync on SQLite's WebAssembly build (in a browser worker, or in Node in
// memory). Registers the cloudsync_* functions on an oo1 database and returns the typed API plus
// exec/query/transaction, the statements that keep the engine informed (the engine code is the
// one better-sqlite3 uses).

import type { SqlValue } from './codec/value.js';
import { CloudSync } from './cloud-sync.js';
import { NetworkSync, type NetworkOptions } from './client/network-sync.js';
import { createSqliteWasmConnection, type WasmConnection, type WasmDatabase, type WasmSqlite3 } from './drivers/sqlite-wasm.js';
import { CloudSyncEngine, type EngineOptions } from './engine/cloudsync.js';
import { mayChangeViews } from './engine/transactions.js';
import { DeferredCalls } from './sql/deferred-calls.js';
import { registerNetworkFunctions } from './sql/register-network.js';
import { registerSqlFunctions } from './sql/register.js';
import { alterStatements, mayAlter } from './sql/alter-statements.js';
import { splitStatements } from './sql/split-statements.js';

/** Options of loadWasm(). */
export interface WasmLoadOptions extends EngineOptions {
  /** Options of the network client (timeouts, payload size, transport). */
  network?: NetworkOptions;
  /** The page size of a database created by this open (an existing one keeps its own); default SQLite's. */
  pageSize?: number;
}

/**
 * The page size the browser worker gives new databases on the origin private file system. Each
 * call into OPFS costs about as much as a page write; the worker joins adjacent writes (see
 * browser/coalesced-writes.ts), and 16 KiB pages still write big transactions fastest: against 4
 * and 8 KiB in bench/browser.bench.ts (`--page-size`; figures in the README), 4 KiB took 20% more
 * for a large insert and 70% more for a large update, with the apply and the first sync alike.
 * In memory, SQLite's own 4 KiB stays.
 */
export const OPFS_PAGE_SIZE = 16384;

/** A value as the page sees it: INTEGER as number when it is a safe integer, else bigint. */
export type RowValue = string | number | bigint | Uint8Array | null;

/** One result row, by column name. */
export type Row = Record<string, RowValue>;

/** sqlite-sync on one sqlite-wasm database. */
export class WasmCloudSync extends CloudSync {
  /** @internal */
  constructor(
    engine: CloudSyncEngine,
    network: NetworkSync,
    private readonly db: OoDatabase,
    private readonly connection: WasmConnection,
  ) {
    super(engine, network);
  }

  /**
   * Runs SQL (one or more statements; `bind` goes to the first) and returns the rows of the
   * statements that return rows. Numbers bind as SQLite's oo1 API binds them (an integer-valued
   * number as INTEGER); pass a bigint for an INTEGER beyond 2^53, and REAL values that are
   * whole numbers through SQL (`CAST(? AS REAL)`).
   */
  exec(sql: string, bind?: readonly RowValue[]): Row[] {
    const { transactions } = this.engine;
    if (mayAlter(sql)) {
      // an ALTER of a synced table outside begin/commit_alter is refused before it runs, as on
      // better-sqlite3: statement by statement, so that a cloudsync_begin_alter() before it counts
      const texts = splitStatements(sql);
      if (texts.length > 1) return texts.flatMap((text, i) => this.exec(text, i === 0 ? bind : undefined));
      for (const alter of alterStatements(sql)) this.engine.checkAlter(alter);
    }
    transactions.beforeStatement(transactions.readsChanges(sql), true);
    try {
      return this.connection.running(() => this.db.exec({ sql, bind: bind === undefined ? undefined : [...bind], rowMode: 'object', returnValue: 'resultRows' }) as Row[]);
    } finally {
      if (mayChangeViews(sql)) transactions.viewsChanged();
      transactions.afterStatement();
    }
  }

  /** Runs `work` in a transaction (BEGIN … COMMIT, ROLLBACK when it throws; a savepoint inside an open one); returns its result. */
  transaction<T>(work: () => T): T {
    // inside an open transaction, a savepoint (as better-sqlite3's transactions nest)
    const nested = this.engine.db.inTransaction;
    this.exec(nested ? 'SAVEPOINT cloudsync_transaction' : 'BEGIN');
    try {
      const result = work();
      this.exec(nested ? 'RELEASE cloudsync_transaction' : 'COMMIT');
      return result;
    } catch (error) {
      if (nested) this.exec('ROLLBACK TO cloudsync_transaction; RELEASE cloudsync_transaction');
      else if (this.engine.db.inTransaction) this.exec('ROLLBACK');
      throw error;
    }
  }
}

/** The oo1 database as loadWasm uses it (sqlite3.oo1.DB or the SAH-pool VFS's database). */
export interface OoDatabase extends WasmDatabase {
  exec(options: { sql: string; bind?: unknown[] | undefined; rowMode: 'object'; returnValue: 'resultRows' }): unknown;
  exec(sql: string): unknown;
}

/** Loads sqlite-sync into an open sqlite-wasm database. Call it right after opening. */
export function loadWasm(sqlite3: WasmSqlite3, db: OoDatabase, options: WasmLoadOptions = {}): WasmCloudSync {
  const connection = createSqliteWasmConnection(sqlite3, db);
  connection.exec('PRAGMA temp_store = MEMORY');
  // takes effect only while the database is empty (before its first table)
  if (options.pageSize !== undefined) connection.exec(`PRAGMA page_size = ${pageSizeOf(options.pageSize)}`);
  const engine = new CloudSyncEngine(connection, options);
  // SQL functions may run statements on this binding: cloudsync_init() works inside any statement
  const deferred = new DeferredCalls(true);
  registerSqlFunctions(engine, deferred);
  const network = new NetworkSync(engine, options.network);
  // the blocking cloudsync_network_* functions: on options.network.blockingTransport (the browser
  // worker gives one on XMLHttpRequest); without one they refuse, with a clear error
  registerNetworkFunctions(connection, network, deferred);
  return new WasmCloudSync(engine, network, db, connection);
}

/** A page size SQLite takes: a power of two from 512 to 65536. */
function pageSizeOf(size: number): number {
  if (!Number.isInteger(size) || size < 512 || size > 65536 || (size & (size - 1)) !== 0) throw new RangeError(`pageSize must be a power of two from 512 to 65536, got ${size}`);
  return size;
}

export type { SqlValue };
