// The typed TypeScript API of one synced connection, the same on every driver: each method is
// the SQL function of the same name, over the connection's engine and network client.

import type { Change } from './codec/payload.js';
import type { SqlValue } from './codec/value.js';
import type { ChangeFilter } from './engine/changes.js';
import type { CloudSyncEngine, EncodedPayload, InitOptions } from './engine/cloudsync.js';
import { NetworkSync } from './client/network-sync.js';

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

  /**
   * Calls `listener` with the names of the synced tables that changed, after each commit of this
   * connection that changed any of `tables` (all synced tables when left out): local writes and
   * merged changes alike. Returns the unsubscribe.
   */
  subscribe(listener: (tables: string[]) => void, tables?: readonly string[]): () => void {
    return this.engine.notices.subscribe(listener, tables);
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
