// The embedded backend: a data directory with server.db (the admin records) and one SQLite file
// per hosted database in databases/, each opened on first use and kept open up to a limit.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { load } from '../../../load.js';
import { HttpError } from '../../http-error.js';
import type { Store } from '../storage.js';
import { type TransferLimits, type Transfers, TransferStore } from '../../transfers.js';
import { AdminStore } from './admin-store.js';
import { openSqlitePeer, type SqlitePeer } from './sqlite-peer.js';

/** The embedded store of a data directory. */
export class SqliteStore implements Store {
  readonly admin: AdminStore;
  private readonly peers = new Map<string, SqlitePeer>();

  /**
   * @param maxOpen hosted databases kept open at once: past it, the one used least recently is
   * closed (each open database holds three file descriptors and about 0.4 MiB)
   */
  constructor(
    readonly dir: string,
    private readonly maxOpen = 2048,
  ) {
    mkdirSync(join(dir, 'databases'), { recursive: true });
    this.admin = new AdminStore(join(dir, 'server.db'));
  }

  watch(): () => void {
    return () => undefined; // one process per data directory: its own hub hears every upload
  }

  async reachable(): Promise<boolean> {
    try {
      await this.admin.listDatabases();
      return true;
    } catch {
      return false;
    }
  }

  openTransfers(now: () => number, limits: TransferLimits): Transfers {
    return new TransferStore(now, limits);
  }

  get openDatabases(): number {
    return this.peers.size;
  }

  async createData(name: string, schema: string): Promise<void> {
    const file = this.fileOf(name);
    removeDatabaseFiles(file);
    try {
      const db = new Database(file);
      try {
        db.pragma('journal_mode = WAL');
        const sync = load(db);
        db.exec(schema);
        const synced = new Set(sync.engine.syncedTables().map((t) => t.name.toLowerCase()));
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'cloudsync_%' AND name NOT LIKE '%_cloudsync' AND name NOT LIKE '%_cloudsync_log' ORDER BY rowid").all() as { name: string }[]).map((r) => r.name);
        for (const table of tables) if (!synced.has(table.toLowerCase())) sync.init(table);
        if (sync.engine.syncedTables().length === 0) throw new HttpError(400, 'the schema creates no table');
      } finally {
        db.close();
      }
    } catch (error) {
      removeDatabaseFiles(file);
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, `the schema failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async peer(name: string): Promise<SqlitePeer> {
    return this.open(name);
  }

  /** The open peer of a hosted database, opened now if needed (synchronous: the embedded store needs no wait). */
  open(name: string): SqlitePeer {
    const open = this.peers.get(name);
    if (open) {
      // Map order is insertion order: re-inserting keeps the least recently used first.
      this.peers.delete(name);
      this.peers.set(name, open);
      return open;
    }
    while (this.peers.size >= Math.max(1, this.maxOpen)) {
      const [oldest, peer] = this.peers.entries().next().value as [string, SqlitePeer];
      peer.close();
      this.peers.delete(oldest);
    }
    const peer = openSqlitePeer(this.fileOf(name));
    this.peers.set(name, peer);
    return peer;
  }

  /** Closes a hosted database if it is open (dropped, possibly by the CLI in another process). */
  forget(name: string): void {
    this.peers.get(name)?.close();
    this.peers.delete(name);
  }

  async dropData(name: string): Promise<void> {
    this.forget(name);
    removeDatabaseFiles(this.fileOf(name));
  }

  async close(): Promise<void> {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.admin.close();
  }

  private fileOf(name: string): string {
    return join(this.dir, 'databases', `${name}.db`);
  }
}

function removeDatabaseFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
}
