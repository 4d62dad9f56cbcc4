// The admin records in PostgreSQL (schema sqlite_sync): the same records and rules as the
// embedded store's server.db, shared by every server node on the database.

import type { Pool } from 'pg';
import { transaction } from './pg-errors.js';
import { statementName } from './pg-statements.js';
import type { AdminRecords, ApiKeyRecord, DatabaseRecord, ExternalAuthRecord, SiteRecord, SiteVisit } from '../storage.js';

interface DatabaseRow {
  name: string;
  created_at: string;
  schema: string;
}

interface KeyRow {
  id: string;
  database: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

/** The channel that tells every node to forget the admin records it holds. */
export const ADMIN_CHANNEL = 'sqlite_sync_admin';

/** How long a node keeps a database record or an active key without reading it again. */
const CACHE_MS = 30_000;

/**
 * The admin records of a PostgreSQL store. A serving node keeps the database records and active
 * keys that every request looks up, while its store listens on ADMIN_CHANNEL: every change that
 * could refuse a request (a key revoked, a database dropped) notifies on commit and each node
 * forgets them all; without the listening connection nothing is kept. Absent records are never
 * kept, so a new key or database works at once.
 */
export class PgAdminRecords implements AdminRecords {
  private caching = false;
  /** Bumped whenever the cache is cleared: a read that started before does not store its answer. */
  private generation = 0;
  private readonly databases = new Map<string, { record: DatabaseRecord; at: number }>();
  private readonly keys = new Map<string, { key: { id: string; database: string; hash: Uint8Array }; at: number }>();

  constructor(private readonly pool: Pool) {}

  /** Turns the cache on (the store listens for changes) or off (it does not, or lost the connection). */
  setCaching(on: boolean): void {
    this.caching = on;
    this.forgetAll();
  }

  /** Forgets every record held (another node or process changed some). */
  forgetAll(): void {
    this.generation++;
    this.databases.clear();
    this.keys.clear();
  }

  /** After a change that may refuse requests: forget here, and tell the other nodes (on commit). */
  private async changed(): Promise<void> {
    this.forgetAll();
    await this.pool.query('SELECT pg_notify($1, $2)', [ADMIN_CHANNEL, '']);
  }

  private kept<T>(map: Map<string, { at: number } & T>, key: string): T | undefined {
    if (!this.caching) return undefined;
    const entry = map.get(key);
    if (entry === undefined || Date.now() - entry.at > CACHE_MS) return undefined;
    return entry;
  }

  private keep<T>(map: Map<string, { at: number } & T>, key: string, value: T, since: number): void {
    if (!this.caching || since !== this.generation) return;
    if (map.size >= 100_000) map.clear();
    map.set(key, { ...value, at: Date.now() });
  }

  async listDatabases(): Promise<DatabaseRecord[]> {
    const { rows } = await this.pool.query<DatabaseRow>('SELECT name, created_at, schema FROM sqlite_sync.databases ORDER BY name COLLATE "C"');
    return rows.map(databaseOf);
  }

  async findDatabase(name: string): Promise<DatabaseRecord | undefined> {
    const held = this.kept(this.databases, name);
    if (held) return held.record;
    const since = this.generation;
    const text = 'SELECT name, created_at, schema FROM sqlite_sync.databases WHERE name = $1';
    const { rows } = await this.pool.query<DatabaseRow>({ name: statementName(text), text, values: [name] }); // on every request: prepared
    const record = rows[0] && databaseOf(rows[0]);
    if (record) this.keep(this.databases, name, { record }, since);
    return record;
  }

  async addDatabase(record: DatabaseRecord): Promise<void> {
    await this.pool.query('INSERT INTO sqlite_sync.databases (name, created_at, schema) VALUES ($1, $2, $3)', [record.name, record.createdAt, record.schema]);
  }

  async removeDatabase(name: string): Promise<boolean> {
    return transaction(this.pool, async (client) => {
      for (const table of ['api_keys', 'sites', 'external_auth']) await client.query(`DELETE FROM sqlite_sync.${table} WHERE database = $1`, [name]);
      const removed = await client.query('DELETE FROM sqlite_sync.databases WHERE name = $1', [name]);
      await client.query('SELECT pg_notify($1, $2)', [ADMIN_CHANNEL, '']);
      return (removed.rowCount ?? 0) > 0;
    }).finally(() => this.forgetAll());
  }

  async addApiKey(record: ApiKeyRecord, hash: Uint8Array): Promise<void> {
    await this.pool.query('INSERT INTO sqlite_sync.api_keys (id, database, name, key_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)', [
      record.id,
      record.database,
      record.name,
      Buffer.from(hash),
      record.createdAt,
    ]);
  }

  async listApiKeys(database?: string): Promise<ApiKeyRecord[]> {
    const columns = 'id, database, name, created_at, revoked_at';
    const { rows } =
      database === undefined
        ? await this.pool.query<KeyRow>(`SELECT ${columns} FROM sqlite_sync.api_keys ORDER BY created_at, seq`)
        : await this.pool.query<KeyRow>(`SELECT ${columns} FROM sqlite_sync.api_keys WHERE database = $1 ORDER BY created_at, seq`, [database]);
    return rows.map((r) => ({ id: r.id, database: r.database, name: r.name, createdAt: Number(r.created_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at) }));
  }

  async apiKeyHashes(database: string): Promise<{ record: ApiKeyRecord; hash: Uint8Array }[]> {
    const { rows } = await this.pool.query<KeyRow & { key_hash: Buffer }>('SELECT id, database, name, created_at, revoked_at, key_hash FROM sqlite_sync.api_keys WHERE database = $1 ORDER BY created_at, seq', [database]);
    return rows.map((r) => ({ record: { id: r.id, database: r.database, name: r.name, createdAt: Number(r.created_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at) }, hash: new Uint8Array(r.key_hash) }));
  }

  async revokeApiKey(id: string, now: number): Promise<boolean> {
    const result = await this.pool.query('UPDATE sqlite_sync.api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
    await this.changed();
    return (result.rowCount ?? 0) > 0;
  }

  async findActiveKey(hash: Uint8Array): Promise<{ id: string; database: string; hash: Uint8Array } | undefined> {
    const hex = Buffer.from(hash).toString('hex');
    const held = this.kept(this.keys, hex);
    if (held) return held.key;
    const since = this.generation;
    const text = 'SELECT id, database, key_hash FROM sqlite_sync.api_keys WHERE key_hash = $1 AND revoked_at IS NULL';
    const { rows } = await this.pool.query<{ id: string; database: string; key_hash: Buffer }>({ name: statementName(text), text, values: [Buffer.from(hash)] });
    const row = rows[0];
    const key: { id: string; database: string; hash: Uint8Array } | undefined = row && { id: row.id, database: row.database, hash: new Uint8Array(row.key_hash) };
    if (key) this.keep(this.keys, hex, { key }, since);
    return key;
  }

  async touchSites(visits: readonly SiteVisit[]): Promise<void> {
    if (visits.length === 0) return;
    // one statement for the batch: arrays unnested into rows
    await this.pool.query(
      `INSERT INTO sqlite_sync.sites (database, site_id, first_seen, last_seen, caught_up_to)
       SELECT d, s, a, a, c FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS v (d, s, a, c)
       ON CONFLICT (database, site_id) DO UPDATE SET last_seen = greatest(sites.last_seen, excluded.last_seen),
         caught_up_to = coalesce(excluded.caught_up_to, sites.caught_up_to)`,
      [visits.map((v) => v.database), visits.map((v) => v.siteId), visits.map((v) => v.at), visits.map((v) => v.caughtUpTo)],
    );
  }

  async listSites(database: string): Promise<SiteRecord[]> {
    const { rows } = await this.pool.query<{ site_id: string; first_seen: string; last_seen: string; caught_up_to: string | null }>(
      'SELECT site_id, first_seen, last_seen, caught_up_to FROM sqlite_sync.sites WHERE database = $1 ORDER BY first_seen, site_id COLLATE "C"',
      [database],
    );
    return rows.map((r) => ({ siteId: r.site_id, firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen), caughtUpTo: r.caught_up_to === null ? null : Number(r.caught_up_to) }));
  }

  async readSetting(key: string): Promise<Uint8Array | undefined> {
    const { rows } = await this.pool.query<{ value: Buffer }>('SELECT value FROM sqlite_sync.settings WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  async writeSettingOnce(key: string, value: Uint8Array): Promise<Uint8Array> {
    await this.pool.query('INSERT INTO sqlite_sync.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, Buffer.from(value)]);
    return (await this.readSetting(key)) as Uint8Array;
  }

  async findExternalAuth(database: string): Promise<ExternalAuthRecord | undefined> {
    const { rows } = await this.pool.query<{ jwks: string; issuer: string; audience: string; algorithms: string; updated_at: string }>(
      'SELECT jwks, issuer, audience, algorithms, updated_at FROM sqlite_sync.external_auth WHERE database = $1',
      [database],
    );
    const row = rows[0];
    return row && { jwks: row.jwks, issuer: row.issuer, audience: row.audience, algorithms: row.algorithms.split(','), updatedAt: Number(row.updated_at) };
  }

  async setExternalAuth(database: string, record: ExternalAuthRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO sqlite_sync.external_auth (database, jwks, issuer, audience, algorithms, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (database) DO UPDATE SET jwks = excluded.jwks, issuer = excluded.issuer, audience = excluded.audience,
         algorithms = excluded.algorithms, updated_at = excluded.updated_at`,
      [database, record.jwks, record.issuer, record.audience, record.algorithms.join(','), record.updatedAt],
    );
  }

  async removeExternalAuth(database: string): Promise<boolean> {
    const result = await this.pool.query('DELETE FROM sqlite_sync.external_auth WHERE database = $1', [database]);
    return (result.rowCount ?? 0) > 0;
  }
}

function databaseOf(row: DatabaseRow): DatabaseRecord {
  return { name: row.name, createdAt: Number(row.created_at), schema: row.schema };
}
