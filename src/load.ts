// load(): the entry point. Registers the cloudsync_* functions on a better-sqlite3 connection and
// returns the typed TypeScript API over the same engine.

import { readFileSync, writeFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { createBetterSqlite3Connection, instrumentBetterSqlite3, refuseInstrumented } from './drivers/better-sqlite3.js';
import { CloudSyncEngine, type EngineOptions } from './engine/cloudsync.js';
import { blockingTransport } from './client/blocking-transport.js';
import { NetworkSync, type NetworkOptions } from './client/network-sync.js';
import type { LiveSocketClass } from './client/live-sync.js';
import { WebSocket } from 'ws';
import { nodeHttpTransport } from './client/node-http-transport.js';
import { CloudSync } from './cloud-sync.js';
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

/** Loads sqlite-sync into an open better-sqlite3 connection. Call it right after opening. */
export function load(db: BetterSqlite3.Database, options: LoadOptions = {}): CloudSync {
  // before anything is registered: a second load would replace the first one's functions
  refuseInstrumented(db);
  if (options.memoryTempStore ?? true) db.pragma('temp_store = MEMORY');
  const connection = createBetterSqlite3Connection(db);
  const engine = new CloudSyncEngine(connection, options);
  const deferred = new DeferredCalls(connection.reentrant);
  registerSqlFunctions(engine, deferred, { read: (path) => readFileSync(path), write: (path, bytes) => writeFileSync(path, bytes) });
  const network = new NetworkSync(engine, { transport: nodeHttpTransport, blockingTransport, webSocket: WebSocket as unknown as LiveSocketClass, ...options.network });
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
