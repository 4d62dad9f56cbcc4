// What the server needs from a storage backend, asynchronous so that a backend may live across the
// network (PostgreSQL): the admin records, and one peer per hosted database that applies uploads
// and prepares downloads. `sqlite/` is the embedded backend; it answers at once. Also the few
// rules both backends share.

import { type Change, forEachPayloadChange } from '../../codec/payload.js';
import type { EncodedPayload } from '../../engine/cloudsync.js';
import { CloudSyncError } from '../../engine/errors.js';
import { HttpError } from '../http-error.js';
import type { PolicyUser, SecuredApply, TablePolicy } from '../row-security.js';
import type { TransferLimits, Transfers } from '../transfers.js';

/** A position in a database's change order. */
export interface Position {
  dbVersion: number;
  seq: number;
}

/** A synced database the server hosts. */
export interface DatabaseRecord {
  name: string;
  createdAt: number;
  /** The schema text it was created from, verbatim. */
  schema: string;
}

/** An API key, without its secret. */
export interface ApiKeyRecord {
  id: string;
  database: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

/** A database's external identity provider, as stored (checked by ServerData before). */
export interface ExternalAuthRecord {
  /** An absolute JWKS file path, or an http(s) URL. */
  jwks: string;
  issuer: string;
  audience: string;
  algorithms: string[];
  updatedAt: number;
}

/** A client site seen by a database. */
export interface SiteRecord {
  siteId: string;
  firstSeen: number;
  lastSeen: number;
  /** The db_version (server numbering) the site had caught up to at its last check; null before one. */
  caughtUpTo: number | null;
}

/** A site that talked to a database, as the server batches them. */
export interface SiteVisit {
  database: string;
  siteId: string;
  at: number;
  caughtUpTo: number | null;
}

/** The server's own records: databases, API keys (hashed), sites, settings, identity providers. */
export interface AdminRecords {
  listDatabases(): Promise<DatabaseRecord[]>;
  findDatabase(name: string): Promise<DatabaseRecord | undefined>;
  addDatabase(record: DatabaseRecord): Promise<void>;
  /** Removes a database's record, keys, sites and identity provider; false when there was none. */
  removeDatabase(name: string): Promise<boolean>;
  addApiKey(record: ApiKeyRecord, hash: Uint8Array): Promise<void>;
  listApiKeys(database?: string): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: string, now: number): Promise<boolean>;
  /** A database's keys with their hashes (for copying a database to another store). */
  apiKeyHashes(database: string): Promise<{ record: ApiKeyRecord; hash: Uint8Array }[]>;
  findActiveKey(hash: Uint8Array): Promise<{ id: string; database: string; hash: Uint8Array } | undefined>;
  touchSites(visits: readonly SiteVisit[]): Promise<void>;
  listSites(database: string): Promise<SiteRecord[]>;
  readSetting(key: string): Promise<Uint8Array | undefined>;
  /** Writes a setting unless one is there; returns the value that is there after. */
  writeSettingOnce(key: string, value: Uint8Array): Promise<Uint8Array>;
  findExternalAuth(database: string): Promise<ExternalAuthRecord | undefined>;
  setExternalAuth(database: string, record: ExternalAuthRecord): Promise<void>;
  removeExternalAuth(database: string): Promise<boolean>;
}

/** An applied upload: what the write policies decided, and the db_version it was applied above. */
export interface AppliedUpload extends SecuredApply {
  /** The database's db_version just before this upload (read under its lock): live push sends what came after. */
  before: number;
}

/** One hosted database: a full peer with its own site id. */
export interface Peer {
  /**
   * Applies an uploaded payload: atomically for an API key (`user` null); for a token user through
   * the write policies, per source transaction, reporting what they refused.
   */
  apply(payload: Uint8Array, user: PolicyUser | null): Promise<AppliedUpload>;
  /**
   * The changes after `since` that did not come from `site`, as payloads of about `maxBytes`, in
   * order; the last change of the range always travels so the client's watermark can pass it.
   * For a token user (`user` not null) only what the read policies show.
   */
  download(site: Uint8Array, since: Position, maxBytes: number, user: PolicyUser | null): Promise<EncodedPayload[]>;
  /** The newest db_version stored (read before an upload applies, for live notices). */
  storedVersion(): Promise<number>;
  /**
   * Live push: every change after `since` (from any site), as payloads of about `maxBytes`; the
   * last one's `last` is this database's newest position.
   */
  changesSince(since: Position, maxBytes: number): Promise<EncodedPayload[]>;
  /** True when a token user's downloads go through read policies (then live notices are per user). */
  filtersReads(): Promise<boolean>;
  /** Live notice for a token user: whether their download from `since` would bring anything. */
  hasNewsFor(user: PolicyUser, site: Uint8Array, since: Position): Promise<boolean>;
  /** Sets a table's row-level security policies (compiled first: a bad expression is refused). */
  setPolicy(table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy>;
  /** Removes a table's policies; false when it had none. */
  removePolicy(table: string): Promise<boolean>;
  /** The policies of every table that has some. */
  listPolicies(): Promise<TablePolicy[]>;
  /** Synced tables without policies: every token user may read and write them. */
  unprotectedTables(): Promise<string[]>;
  /** Size, versions and tables, for `db status`. */
  status(): Promise<PeerStatus>;
}

/** What `db status` shows of a peer. */
export interface PeerStatus {
  siteId: string;
  dbVersion: number;
  sizeBytes: number;
  /** Sites whose changes this database holds (its own excluded). */
  sitesWithChanges: number;
  tables: { name: string; rows: number; algo: string }[];
}

/** A storage backend. */
export interface Store {
  readonly admin: AdminRecords;
  /**
   * Creates a hosted database's data from a schema file's text, run verbatim (so the schema hash
   * matches devices that ran the same text); every table becomes synced. HttpError 400 for a
   * schema that fails or creates no table. The admin record is the caller's.
   */
  createData(name: string, schema: string): Promise<void>;
  /** The peer of a hosted database whose record exists. */
  peer(name: string): Promise<Peer>;
  /** Deletes a hosted database's data (its record is gone already). */
  dropData(name: string): Promise<void>;
  /** Forgets anything held for a database whose record is gone (dropped by another process). */
  forget(name: string): void;
  /** Where this store's servers keep upload and download slots. */
  openTransfers(now: () => number, limits: TransferLimits): Transfers;
  /**
   * Calls `listener` when another server node applied an upload to a database (`before`: its
   * db_version before that upload, or -1 when unknown after a lost connection), for live push
   * across nodes; returns how to stop. A store that only one process uses never calls it.
   */
  watch(listener: (database: string, before: number) => void): () => void;
  /** Called once by a server that starts serving from this store (a long-running node). */
  serve?(): void;
  /** True when the store answers (GET /health). */
  reachable(): Promise<boolean>;
  /** Hosted databases open now (for operations). */
  readonly openDatabases: number;
  close(): Promise<void>;
}

/** Every change of an uploaded payload, decoded; a payload that cannot be is a PAYLOAD error. */
export function decodeUpload(payload: Uint8Array): Change[] {
  const changes: Change[] = [];
  try {
    forEachPayloadChange(payload, (change) => changes.push(change));
  } catch (error) {
    throw new CloudSyncError('PAYLOAD', `upload: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return changes;
}

/** A device's check watermark past the database's newest version: the database lost changes. */
export function pastNewestError(since: Position, stored: number): HttpError {
  return new HttpError(409, `the check watermark ${since.dbVersion} is past this database's newest version ${stored} (was the server restored from a backup?); run cloudsync_network_reset_sync_version() to download everything again`);
}
