// The server's data and its administration: hosted databases, API keys, user tokens and external
// identity providers, policies and status, over a storage backend (storage/). The CLI's admin
// commands and the HTTP server both work through this class.

import { randomBytes, randomUUID } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { createApiKey, hashApiKey, isSameKeyHash } from './api-keys.js';
import { checkExternalAuth, ExternalKeys, isExternalAlgorithm, type ExternalAuth, type ExternalAuthInput } from './external-auth.js';
import { HttpError } from './http-error.js';
import { PgStore } from './storage/postgres/pg-store.js';
import { SqliteStore } from './storage/sqlite/sqlite-store.js';
import type { ApiKeyRecord, DatabaseRecord, Peer, PeerStatus, SiteRecord, SiteVisit, Store } from './storage/storage.js';
import type { TablePolicy } from './row-security.js';
import { signToken, type TokenOptions } from './tokens.js';

export type { ApiKeyRecord, DatabaseRecord, SiteRecord } from './storage/storage.js';

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

/** True for a store location that is a PostgreSQL URL rather than a data directory. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Opens a server's data where it lives: a PostgreSQL URL (`postgres://…`, schema migrated on
 * open) or a data directory (the embedded store, created if needed).
 */
export async function openServerData(location: string, options: DataDirOptions = {}): Promise<ServerData> {
  if (!isPostgresUrl(location)) return openDataDir(location, options);
  return new ServerData(await PgStore.open(location), options.now ?? Date.now);
}

/** Opens (creating if needed) a data directory: the embedded store. */
export function openDataDir(dir: string, options: DataDirOptions = {}): ServerData {
  return new ServerData(new SqliteStore(dir, options.maxOpenDatabases ?? 2048), options.now ?? Date.now);
}

/** A server's data, over one store. */
export class ServerData {
  private seen = new Map<string, SiteVisit>();
  private secret: Uint8Array | undefined;
  private readonly externalKeyCache = new ExternalKeys();

  constructor(
    readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Creates a database from a schema file's text, run verbatim (so the schema hash matches
   * devices that ran the same text), then makes every table synced that the schema did not
   * already pass to cloudsync_init.
   */
  async createDatabase(name: string, schema: string): Promise<DatabaseRecord> {
    if (!DATABASE_NAME.test(name)) throw new HttpError(400, `invalid database name '${name}' (letters, digits, '.', '_' and '-')`);
    if (await this.store.admin.findDatabase(name)) throw new HttpError(409, `database '${name}' already exists`);
    await this.store.createData(name, schema);
    const record = { name, createdAt: this.now(), schema };
    await this.store.admin.addDatabase(record);
    return record;
  }

  listDatabases(): Promise<DatabaseRecord[]> {
    return this.store.admin.listDatabases();
  }

  /** True when the database exists. */
  async hasDatabase(name: string): Promise<boolean> {
    return (await this.store.admin.findDatabase(name)) !== undefined;
  }

  /** Deletes a database, its data, keys and site records. */
  async dropDatabase(name: string): Promise<void> {
    if (!(await this.store.admin.removeDatabase(name))) throw new HttpError(404, `database '${name}' not found`);
    await this.store.dropData(name);
  }

  /** Creates an API key for a database; the returned `key` is the only time it is shown. */
  async createApiKey(database: string, name = 'default'): Promise<CreatedApiKey> {
    await this.requireDatabase(database);
    const key = createApiKey();
    const record: ApiKeyRecord = { id: randomUUID(), database, name, createdAt: this.now(), revokedAt: null };
    await this.store.admin.addApiKey(record, hashApiKey(key));
    return { ...record, key };
  }

  listApiKeys(database?: string): Promise<ApiKeyRecord[]> {
    return this.store.admin.listApiKeys(database);
  }

  async revokeApiKey(id: string): Promise<void> {
    if (!(await this.store.admin.revokeApiKey(id, this.now()))) throw new HttpError(404, `no active API key with id '${id}'`);
  }

  /** The database an API key opens, or undefined for an unknown or revoked key. */
  async authenticateApiKey(key: string): Promise<{ keyId: string; database: string } | undefined> {
    const hash = hashApiKey(key);
    const found = await this.store.admin.findActiveKey(hash);
    if (!found || !isSameKeyHash(found.hash, hash)) return undefined;
    return { keyId: found.id, database: found.database };
  }

  /**
   * Issues an HS256 token for a user of a database, signed with this data's secret: `iss`
   * "sqlite-sync", `aud` "sqlite-sync:<database>", `sub` the user, `iat`, `nbf`, `exp`, a random
   * `jti`, and the extra claims. 404 for an unknown database, 400 for bad options.
   */
  async createToken(database: string, user: string, options: TokenOptions): Promise<string> {
    await this.requireDatabase(database);
    return signToken(await this.tokenSecret(), database, user, { ...options, now: this.now() });
  }

  /** Makes a database accept RS256/ES256 tokens of an external identity provider (replacing any before). 404 for an unknown database, 400 for bad settings. */
  async setExternalAuth(database: string, input: ExternalAuthInput): Promise<ExternalAuth> {
    await this.requireDatabase(database);
    const auth = { ...checkExternalAuth(input), updatedAt: this.now() };
    await this.store.admin.setExternalAuth(database, auth);
    this.externalKeyCache.forget(database);
    return auth;
  }

  /** Stops a database accepting external tokens; false when it had no identity provider. 404 for an unknown database. */
  async clearExternalAuth(database: string): Promise<boolean> {
    await this.requireDatabase(database);
    this.externalKeyCache.forget(database);
    return this.store.admin.removeExternalAuth(database);
  }

  /** A database's external identity provider, or undefined when it has none. 404 for an unknown database. */
  async externalAuth(database: string): Promise<ExternalAuth | undefined> {
    await this.requireDatabase(database);
    return this.readExternalAuth(database);
  }

  /**
   * The external identity provider of a database with the keys that verify its tokens, read on
   * each call so a change made by the CLI applies at once.
   * @internal for verifyToken
   */
  async externalKeys(database: string): Promise<{ auth: ExternalAuth; keys: JWTVerifyGetKey } | undefined> {
    const auth = await this.readExternalAuth(database);
    if (!auth) return undefined;
    return { auth, keys: this.externalKeyCache.keysFor(database, auth) };
  }

  /**
   * The HS256 secret of this data: 32 random bytes made on first use, kept in the store.
   * @internal for tokens; whoever holds it can issue tokens for every database
   */
  async tokenSecret(): Promise<Uint8Array> {
    this.secret ??= (await this.store.admin.readSetting(TOKEN_SECRET)) ?? (await this.store.admin.writeSettingOnce(TOKEN_SECRET, randomBytes(32)));
    return this.secret;
  }

  /**
   * The current time in ms, from the clock given to openDataDir.
   * @internal for verifyToken
   */
  currentTime(): number {
    return this.now();
  }

  async databaseStatus(name: string): Promise<DatabaseStatus> {
    const record = await this.store.admin.findDatabase(name);
    if (!record) throw new HttpError(404, `database '${name}' not found`);
    const peer = await this.store.peer(name);
    await this.flushSites();
    return {
      name,
      createdAt: record.createdAt,
      ...(await peer.status()),
      sites: await this.store.admin.listSites(name),
      activeKeys: (await this.store.admin.listApiKeys(name)).filter((k) => k.revokedAt === null).length,
    };
  }

  /**
   * Sets a table's row-level security policies (SQL boolean expressions over the row's columns,
   * with auth_userid() and auth_claim(name)); null denies that operation to token users. An
   * expression that does not compile is refused here.
   */
  async setPolicy(database: string, table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy> {
    return (await this.requirePeer(database)).setPolicy(table, policy);
  }

  /** Removes a table's policies; false when it had none. */
  async removePolicy(database: string, table: string): Promise<boolean> {
    return (await this.requirePeer(database)).removePolicy(table);
  }

  /** The policies of every table of a database that has some. */
  async listPolicies(database: string): Promise<TablePolicy[]> {
    return (await this.requirePeer(database)).listPolicies();
  }

  /** Synced tables without policies: every token user may read and write them. */
  async unprotectedTables(database: string): Promise<string[]> {
    return (await this.requirePeer(database)).unprotectedTables();
  }

  /** The peer of a hosted database, or undefined when there is none. */
  async peer(name: string): Promise<Peer | undefined> {
    if (!(await this.store.admin.findDatabase(name))) {
      this.store.forget(name); // dropped, possibly by the CLI in another process
      return undefined;
    }
    return this.store.peer(name);
  }

  /** How many hosted databases are open now. */
  get openDatabases(): number {
    return this.store.openDatabases;
  }

  /** Remembers that a site talked to a database, and the watermark of its check (written in batches by flushSites). */
  noteSite(database: string, siteId: string, caughtUpTo: number | null = null): void {
    const key = `${database}/${siteId}`;
    const previous = this.seen.get(key)?.caughtUpTo ?? null;
    this.seen.set(key, { database, siteId, at: this.now(), caughtUpTo: caughtUpTo ?? previous });
  }

  /** Writes the sites seen since the last flush. */
  async flushSites(): Promise<void> {
    const visits = [...this.seen.values()];
    this.seen = new Map();
    await this.store.admin.touchSites(visits);
  }

  async close(): Promise<void> {
    await this.flushSites();
    await this.store.close();
  }

  private async requireDatabase(database: string): Promise<void> {
    if (!(await this.store.admin.findDatabase(database))) throw new HttpError(404, `database '${database}' not found`);
  }

  private async requirePeer(database: string): Promise<Peer> {
    const peer = await this.peer(database);
    if (!peer) throw new HttpError(404, `database '${database}' not found`);
    return peer;
  }

  private async readExternalAuth(database: string): Promise<ExternalAuth | undefined> {
    const record = await this.store.admin.findExternalAuth(database);
    return record && { ...record, algorithms: record.algorithms.filter(isExternalAlgorithm) };
  }
}
