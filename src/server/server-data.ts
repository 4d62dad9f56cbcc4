// A server's data directory and its administration: hosted databases, API keys and status. The
// CLI's admin commands and the HTTP server both work through this class.

import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { load } from '../load.js';
import { createApiKey, hashApiKey, isSameKeyHash } from './api-keys.js';
import { HttpError } from './http-error.js';
import { AdminStore, type ApiKeyRecord, type DatabaseRecord, type SiteRecord } from './storage/sqlite/admin-store.js';
import { openSqlitePeer, type SqlitePeer } from './storage/sqlite/sqlite-peer.js';
import type { PeerStatus } from './storage/storage.js';

export type { ApiKeyRecord, DatabaseRecord, SiteRecord } from './storage/sqlite/admin-store.js';

/** A new API key: `key` is shown once and never stored. */
export interface CreatedApiKey extends ApiKeyRecord {
  key: string;
}

/** What `db status` reports. */
export interface DatabaseStatus extends PeerStatus {
  name: string;
  createdAt: number;
  /** Client sites that have talked to this database. */
  sites: SiteRecord[];
  activeKeys: number;
}

/** Database names: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
const DATABASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Opens (creating if needed) a data directory. */
export function openDataDir(dir: string, options: { now?: () => number } = {}): ServerData {
  mkdirSync(join(dir, 'databases'), { recursive: true });
  return new ServerData(dir, new AdminStore(join(dir, 'server.db')), options.now ?? Date.now);
}

/** The data directory of a server. */
export class ServerData {
  private readonly peers = new Map<string, SqlitePeer>();
  private seen = new Map<string, { database: string; siteId: string; at: number }>();

  constructor(
    readonly dir: string,
    readonly admin: AdminStore,
    private readonly now: () => number,
  ) {}

  /**
   * Creates a database from a schema file's text, run verbatim (so the schema hash matches
   * devices that ran the same text), then makes every table synced that the schema did not
   * already pass to cloudsync_init.
   */
  createDatabase(name: string, schema: string): DatabaseRecord {
    if (!DATABASE_NAME.test(name)) throw new HttpError(400, `invalid database name '${name}' (letters, digits, '.', '_' and '-')`);
    if (this.admin.findDatabase(name)) throw new HttpError(409, `database '${name}' already exists`);
    const file = this.fileOf(name);
    removeDatabaseFiles(file);
    try {
      const db = new Database(file);
      try {
        db.pragma('journal_mode = WAL');
        const sync = load(db);
        db.exec(schema);
        const synced = new Set(sync.engine.syncedTables().map((t) => t.name.toLowerCase()));
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'cloudsync_%' AND name NOT LIKE '%_cloudsync' ORDER BY rowid").all() as { name: string }[]).map((r) => r.name);
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
    const record = { name, createdAt: this.now(), schema };
    this.admin.addDatabase(record);
    return record;
  }

  listDatabases(): DatabaseRecord[] {
    return this.admin.listDatabases();
  }

  /** Deletes a database, its file, keys and site records. */
  dropDatabase(name: string): void {
    if (!this.admin.removeDatabase(name)) throw new HttpError(404, `database '${name}' not found`);
    this.peers.get(name)?.close();
    this.peers.delete(name);
    removeDatabaseFiles(this.fileOf(name));
  }

  /** Creates an API key for a database; the returned `key` is the only time it is shown. */
  createApiKey(database: string, name = 'default'): CreatedApiKey {
    if (!this.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    const key = createApiKey();
    const record: ApiKeyRecord = { id: randomUUID(), database, name, createdAt: this.now(), revokedAt: null };
    this.admin.addApiKey(record, hashApiKey(key));
    return { ...record, key };
  }

  listApiKeys(database?: string): ApiKeyRecord[] {
    return this.admin.listApiKeys(database);
  }

  revokeApiKey(id: string): void {
    if (!this.admin.revokeApiKey(id, this.now())) throw new HttpError(404, `no active API key with id '${id}'`);
  }

  /** The database an API key opens, or undefined for an unknown or revoked key. */
  authenticateApiKey(key: string): { keyId: string; database: string } | undefined {
    const hash = hashApiKey(key);
    const found = this.admin.findActiveKey(hash);
    if (!found || !isSameKeyHash(found.hash, hash)) return undefined;
    return { keyId: found.id, database: found.database };
  }

  databaseStatus(name: string): DatabaseStatus {
    const record = this.admin.findDatabase(name);
    const peer = this.peer(name);
    if (!record || !peer) throw new HttpError(404, `database '${name}' not found`);
    this.flushSites();
    return {
      name,
      createdAt: record.createdAt,
      ...peer.status(),
      sites: this.admin.listSites(name),
      activeKeys: this.admin.listApiKeys(name).filter((k) => k.revokedAt === null).length,
    };
  }

  /** The open peer of a hosted database, or undefined when there is none. */
  peer(name: string): SqlitePeer | undefined {
    const open = this.peers.get(name);
    if (!this.admin.findDatabase(name)) {
      // dropped, possibly by the CLI in another process
      open?.close();
      this.peers.delete(name);
      return undefined;
    }
    if (open) return open;
    const peer = openSqlitePeer(this.fileOf(name));
    this.peers.set(name, peer);
    return peer;
  }

  /** Remembers that a site talked to a database (written in batches by flushSites). */
  noteSite(database: string, siteId: string): void {
    this.seen.set(`${database}/${siteId}`, { database, siteId, at: this.now() });
  }

  /** Writes the sites seen since the last flush. */
  flushSites(): void {
    const entries = [...this.seen.values()];
    this.seen = new Map();
    this.admin.touchSites(entries);
  }

  close(): void {
    this.flushSites();
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
