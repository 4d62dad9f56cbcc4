// The server's own records in `server.db` of the data directory: databases, API keys (hashed), the
// sites seen per database, server settings (the token secret) and each database's external identity
// provider. SQLite in WAL mode, so the CLI can administer a running server.

import Database from 'better-sqlite3';
import type { AdminRecords, ApiKeyRecord, DatabaseRecord, ExternalAuthRecord, SiteRecord, SiteVisit } from '../storage.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS databases (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, schema TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY, database TEXT NOT NULL, name TEXT NOT NULL, key_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS sites (
  database TEXT NOT NULL, site_id TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  caught_up_to INTEGER, PRIMARY KEY (database, site_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS external_auth (
  database TEXT PRIMARY KEY, jwks TEXT NOT NULL, issuer TEXT NOT NULL, audience TEXT NOT NULL,
  algorithms TEXT NOT NULL, updated_at INTEGER NOT NULL);
`;

/** The admin records of one data directory (synchronous inside: each promise is settled when returned). */
export class AdminStore implements AdminRecords {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // data directories made before sites recorded how far they had caught up
    const columns = this.db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('sites');
    if (!columns.includes('caught_up_to')) this.db.exec('ALTER TABLE sites ADD COLUMN caught_up_to INTEGER');
  }

  async listDatabases(): Promise<DatabaseRecord[]> {
    return (this.prepare('SELECT name, created_at, schema FROM databases ORDER BY name').all() as { name: string; created_at: number; schema: string }[]).map(
      (r) => ({ name: r.name, createdAt: r.created_at, schema: r.schema }),
    );
  }

  async findDatabase(name: string): Promise<DatabaseRecord | undefined> {
    const row = this.prepare('SELECT name, created_at, schema FROM databases WHERE name = ?').get(name) as
      | { name: string; created_at: number; schema: string }
      | undefined;
    return row && { name: row.name, createdAt: row.created_at, schema: row.schema };
  }

  async addDatabase(record: DatabaseRecord): Promise<void> {
    this.prepare('INSERT INTO databases (name, created_at, schema) VALUES (?, ?, ?)').run(record.name, record.createdAt, record.schema);
  }

  /** Removes a database with its keys and sites. */
  async removeDatabase(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.prepare('DELETE FROM api_keys WHERE database = ?').run(name);
      this.prepare('DELETE FROM sites WHERE database = ?').run(name);
      this.prepare('DELETE FROM external_auth WHERE database = ?').run(name);
      return this.prepare('DELETE FROM databases WHERE name = ?').run(name).changes > 0;
    })();
  }

  async addApiKey(record: ApiKeyRecord, hash: Uint8Array): Promise<void> {
    this.db
      .prepare('INSERT INTO api_keys (id, database, name, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)')
      .run(record.id, record.database, record.name, hash, record.createdAt);
  }

  async listApiKeys(database?: string): Promise<ApiKeyRecord[]> {
    const rows = (
      database === undefined
        ? this.prepare('SELECT * FROM api_keys ORDER BY created_at, rowid').all()
        : this.prepare('SELECT * FROM api_keys WHERE database = ? ORDER BY created_at, rowid').all(database)
    ) as { id: string; database: string; name: string; created_at: number; revoked_at: number | null }[];
    return rows.map((r) => ({ id: r.id, database: r.database, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  async apiKeyHashes(database: string): Promise<{ record: ApiKeyRecord; hash: Uint8Array }[]> {
    const rows = this.prepare('SELECT * FROM api_keys WHERE database = ? ORDER BY created_at, rowid').all(database) as { id: string; database: string; name: string; created_at: number; revoked_at: number | null; key_hash: Buffer }[];
    return rows.map((r) => ({ record: { id: r.id, database: r.database, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at }, hash: new Uint8Array(r.key_hash) }));
  }

  /** Revokes a key; false when there is no such active key. */
  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return this.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0;
  }

  /** The active key with this hash, with its stored hash for a constant-time comparison. */
  async findActiveKey(hash: Uint8Array): Promise<{ id: string; database: string; hash: Buffer } | undefined> {
    const row = this.prepare('SELECT id, database, key_hash FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL').get(hash) as
      | { id: string; database: string; key_hash: Buffer }
      | undefined;
    return row && { id: row.id, database: row.database, hash: row.key_hash };
  }

  /** Records when sites were last seen, and how far their last check had caught up. */
  async touchSites(entries: readonly SiteVisit[]): Promise<void> {
    if (entries.length === 0) return;
    const upsert = this.prepare(
      `INSERT INTO sites (database, site_id, first_seen, last_seen, caught_up_to) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (database, site_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), caught_up_to = coalesce(excluded.caught_up_to, caught_up_to)`,
    );
    this.db.transaction(() => {
      for (const e of entries) upsert.run(e.database, e.siteId, e.at, e.at, e.caughtUpTo);
    })();
  }

  async listSites(database: string): Promise<SiteRecord[]> {
    return (this.prepare('SELECT site_id, first_seen, last_seen, caught_up_to FROM sites WHERE database = ? ORDER BY first_seen, site_id').all(database) as {
      site_id: string;
      first_seen: number;
      last_seen: number;
      caught_up_to: number | null;
    }[]).map((r) => ({ siteId: r.site_id, firstSeen: r.first_seen, lastSeen: r.last_seen, caughtUpTo: r.caught_up_to }));
  }

  /** A server setting, or undefined when it was never written. */
  async readSetting(key: string): Promise<Buffer | undefined> {
    return this.prepare('SELECT value FROM server_settings WHERE key = ?').pluck().get(key) as Buffer | undefined;
  }

  /** Writes a setting unless one exists (another process may win the race); returns the stored value. */
  async writeSettingOnce(key: string, value: Uint8Array): Promise<Buffer> {
    this.prepare('INSERT INTO server_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, value);
    return (await this.readSetting(key)) as Buffer;
  }

  async findExternalAuth(database: string): Promise<ExternalAuthRecord | undefined> {
    const row = this.prepare('SELECT jwks, issuer, audience, algorithms, updated_at FROM external_auth WHERE database = ?').get(database) as
      | { jwks: string; issuer: string; audience: string; algorithms: string; updated_at: number }
      | undefined;
    return row && { jwks: row.jwks, issuer: row.issuer, audience: row.audience, algorithms: row.algorithms.split(','), updatedAt: row.updated_at };
  }

  /** Sets (or replaces) a database's external identity provider. */
  async setExternalAuth(database: string, record: ExternalAuthRecord): Promise<void> {
    this.prepare(
      'INSERT INTO external_auth (database, jwks, issuer, audience, algorithms, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (database) DO UPDATE SET jwks = excluded.jwks, issuer = excluded.issuer, audience = excluded.audience, algorithms = excluded.algorithms, updated_at = excluded.updated_at',
    ).run(database, record.jwks, record.issuer, record.audience, record.algorithms.join(','), record.updatedAt);
  }

  /** Removes a database's external identity provider; false when it had none. */
  async removeExternalAuth(database: string): Promise<boolean> {
    return this.prepare('DELETE FROM external_auth WHERE database = ?').run(database).changes > 0;
  }

  close(): void {
    this.db.close();
  }

  /** Prepares a statement once (requests run the same few over and over). */
  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
