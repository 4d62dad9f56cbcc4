// A server's data directory and its administration: hosted databases, API keys, user tokens and
// external identity providers, and status. The CLI's admin commands and the HTTP server both work
// through this class.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { JWTVerifyGetKey } from 'jose';
import { load } from '../load.js';
import { createApiKey, hashApiKey, isSameKeyHash } from './api-keys.js';
import { checkExternalAuth, ExternalKeys, isExternalAlgorithm, type ExternalAuth, type ExternalAuthInput } from './external-auth.js';
import { HttpError } from './http-error.js';
import { AdminStore, type ApiKeyRecord, type DatabaseRecord, type SiteRecord } from './storage/sqlite/admin-store.js';
import { openSqlitePeer, type SqlitePeer } from './storage/sqlite/sqlite-peer.js';
import type { PeerStatus } from './storage/storage.js';
import type { TablePolicy } from './row-security.js';
import { signToken, type TokenOptions } from './tokens.js';

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

/** The server_settings key of the HS256 token secret. */
const TOKEN_SECRET = 'token_secret';

/** Database names: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
const DATABASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Options of openDataDir. */
export interface DataDirOptions {
  now?: () => number;
  /**
   * Hosted databases kept open at once (default 2,048): past it, the one used least recently is
   * closed (each open database holds three file descriptors and about 0.4 MiB).
   */
  maxOpenDatabases?: number;
}

/** Opens (creating if needed) a data directory. */
export function openDataDir(dir: string, options: DataDirOptions = {}): ServerData {
  mkdirSync(join(dir, 'databases'), { recursive: true });
  return new ServerData(dir, new AdminStore(join(dir, 'server.db')), options.now ?? Date.now, options.maxOpenDatabases ?? 2048);
}

/** The data directory of a server. */
export class ServerData {
  private readonly peers = new Map<string, SqlitePeer>();
  private seen = new Map<string, { database: string; siteId: string; at: number; caughtUpTo: number | null }>();
  private secret: Uint8Array | undefined;
  private readonly externalKeyCache = new ExternalKeys();

  constructor(
    readonly dir: string,
    readonly admin: AdminStore,
    private readonly now: () => number,
    private readonly maxOpen = 2048,
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

  /**
   * Issues an HS256 token for a user of a database, signed with this data directory's secret:
   * `iss` "sqlite-sync", `aud` "sqlite-sync:<database>", `sub` the user, `iat`, `nbf`, `exp`, a
   * random `jti`, and the extra claims. 404 for an unknown database, 400 for bad options.
   */
  async createToken(database: string, user: string, options: TokenOptions): Promise<string> {
    if (!this.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    return signToken(this.tokenSecret(), database, user, { ...options, now: this.now() });
  }

  /** Makes a database accept RS256/ES256 tokens of an external identity provider (replacing any before). 404 for an unknown database, 400 for bad settings. */
  setExternalAuth(database: string, input: ExternalAuthInput): ExternalAuth {
    if (!this.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    const auth = { ...checkExternalAuth(input), updatedAt: this.now() };
    this.admin.setExternalAuth(database, auth);
    this.externalKeyCache.forget(database);
    return auth;
  }

  /** Stops a database accepting external tokens; false when it had no identity provider. 404 for an unknown database. */
  clearExternalAuth(database: string): boolean {
    if (!this.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    this.externalKeyCache.forget(database);
    return this.admin.removeExternalAuth(database);
  }

  /** A database's external identity provider, or undefined when it has none. 404 for an unknown database. */
  externalAuth(database: string): ExternalAuth | undefined {
    if (!this.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    return this.readExternalAuth(database);
  }

  /**
   * The external identity provider of a database with the keys that verify its tokens, read on
   * each call so a change made by the CLI applies at once.
   * @internal for verifyToken
   */
  externalKeys(database: string): { auth: ExternalAuth; keys: JWTVerifyGetKey } | undefined {
    const auth = this.readExternalAuth(database);
    if (!auth) return undefined;
    return { auth, keys: this.externalKeyCache.keysFor(database, auth) };
  }

  /**
   * The HS256 secret of this data directory: 32 random bytes made on first use, kept in server.db.
   * @internal for tokens; whoever holds it can issue tokens for every database
   */
  tokenSecret(): Uint8Array {
    this.secret ??= this.admin.readSetting(TOKEN_SECRET) ?? this.admin.writeSettingOnce(TOKEN_SECRET, randomBytes(32));
    return this.secret;
  }

  /**
   * The current time in ms, from the clock given to openDataDir.
   * @internal for verifyToken
   */
  currentTime(): number {
    return this.now();
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

  /**
   * Sets a table's row-level security policies (SQL boolean expressions over the row's columns,
   * with auth_userid() and auth_claim(name)); null denies that operation to token users. An
   * expression that does not compile is refused here.
   */
  setPolicy(database: string, table: string, policy: { read: string | null; write: string | null }): TablePolicy {
    return this.requirePeer(database).security.setPolicy(table, policy);
  }

  /** Removes a table's policies; false when it had none. */
  removePolicy(database: string, table: string): boolean {
    return this.requirePeer(database).security.removePolicy(table);
  }

  /** The policies of every table of a database that has some. */
  listPolicies(database: string): TablePolicy[] {
    return this.requirePeer(database).security.policies();
  }

  /** Synced tables without policies: every token user may read and write them. */
  unprotectedTables(database: string): string[] {
    const peer = this.requirePeer(database);
    return peer.sync.engine
      .syncedTables()
      .map((t) => t.name)
      .filter((name) => peer.security.policy(name) === undefined);
  }

  private requirePeer(database: string): SqlitePeer {
    const peer = this.peer(database);
    if (!peer) throw new HttpError(404, `database '${database}' not found`);
    return peer;
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

  /** How many hosted databases are open now. */
  get openDatabases(): number {
    return this.peers.size;
  }

  /** Remembers that a site talked to a database, and the watermark of its check (written in batches by flushSites). */
  noteSite(database: string, siteId: string, caughtUpTo: number | null = null): void {
    const key = `${database}/${siteId}`;
    const previous = this.seen.get(key)?.caughtUpTo ?? null;
    this.seen.set(key, { database, siteId, at: this.now(), caughtUpTo: caughtUpTo ?? previous });
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

  private readExternalAuth(database: string): ExternalAuth | undefined {
    const record = this.admin.findExternalAuth(database);
    return record && { ...record, algorithms: record.algorithms.filter(isExternalAlgorithm) };
  }

  private fileOf(name: string): string {
    return join(this.dir, 'databases', `${name}.db`);
  }
}

function removeDatabaseFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
}
