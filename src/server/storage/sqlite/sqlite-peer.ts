// A hosted database in the embedded backend: one SQLite file (WAL, synchronous=FULL so that an
// acknowledged upload survives a power loss) running our engine as a full peer.

import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { CloudSync } from '../../../cloud-sync.js';
import { load } from '../../../load.js';
import type { EncodedPayload } from '../../../engine/cloudsync.js';
import { type PolicyUser, RowSecurity, type TablePolicy } from '../../row-security.js';
import { type AppliedUpload, decodeUpload, pastNewestError, type Peer, type PeerStatus, type Position } from '../storage.js';

/** Opens the SQLite file of a hosted database and loads the engine into it. */
export function openSqlitePeer(file: string): SqlitePeer {
  const db = new Database(file);
  // Created in WAL mode, which the file keeps: setting it again costs a millisecond per open.
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return new SqlitePeer(file, db, load(db));
}

/** The embedded backend's peer. */
export class SqlitePeer implements Peer {
  /** Row-level security: the database's policies and their enforcement. */
  readonly security: RowSecurity;

  constructor(
    readonly file: string,
    readonly db: Database.Database,
    readonly sync: CloudSync,
  ) {
    this.security = new RowSecurity(sync.engine);
  }

  async apply(payload: Uint8Array, user: PolicyUser | null): Promise<AppliedUpload> {
    // synchronous from here to the commit: nothing else writes in between
    const before = this.sync.engine.storedVersion();
    if (user === null || !this.security.active) return { changes: this.sync.applyPayload(payload), refused: [], restore: null, before };
    return { ...this.security.apply(user, decodeUpload(payload)), before };
  }

  async download(site: Uint8Array, since: Position, maxBytes: number, user: PolicyUser | null): Promise<EncodedPayload[]> {
    // A check watermark is a position of this database, so it cannot be past its newest version
    // unless the database lost changes (restored from an older backup): say so rather than stay silent.
    if (since.dbVersion > this.sync.dbVersion() && since.dbVersion > this.sync.engine.storedVersion()) {
      throw pastNewestError(since, this.sync.engine.storedVersion());
    }
    if (user !== null && this.security.active) return this.security.download(user, site, since, maxBytes);
    return this.sync.encodePayloads({ sinceDbVersion: since.dbVersion, sinceSeq: since.seq, excludeSite: site, keepLast: true }, { maxBytes });
  }

  async storedVersion(): Promise<number> {
    return this.sync.engine.storedVersion();
  }

  async changesSince(since: Position, maxBytes: number): Promise<EncodedPayload[]> {
    return this.sync.encodePayloads({ sinceDbVersion: since.dbVersion, sinceSeq: since.seq }, { maxBytes });
  }

  async filtersReads(): Promise<boolean> {
    return this.security.active;
  }

  async hasNewsFor(user: PolicyUser, site: Uint8Array, since: Position): Promise<boolean> {
    return this.security.hasNews(user, site, since);
  }

  async setPolicy(table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy> {
    return this.security.setPolicy(table, policy);
  }

  async removePolicy(table: string): Promise<boolean> {
    return this.security.removePolicy(table);
  }

  async listPolicies(): Promise<TablePolicy[]> {
    return this.security.policies();
  }

  async unprotectedTables(): Promise<string[]> {
    return this.sync.engine
      .syncedTables()
      .map((t) => t.name)
      .filter((name) => this.security.policy(name) === undefined);
  }

  async status(): Promise<PeerStatus> {
    const tables = this.sync.engine.syncedTables().map((t) => ({
      name: t.name,
      algo: t.layout.algo,
      rows: Number((this.db.prepare(`SELECT count(*) AS n FROM "${t.name.replaceAll('"', '""')}"`).get() as { n: number }).n),
    }));
    const sites = this.db.prepare('SELECT count(*) AS n FROM cloudsync_site_id WHERE rowid <> 0').get() as { n: number } | undefined;
    let sizeBytes = 0;
    for (const suffix of ['', '-wal']) {
      try {
        sizeBytes += statSync(this.file + suffix).size;
      } catch {
        // no WAL file right now
      }
    }
    return {
      siteId: Buffer.from(this.sync.siteId() ?? []).toString('hex'),
      dbVersion: this.sync.dbVersion(),
      sizeBytes,
      sitesWithChanges: Number(sites?.n ?? 0),
      tables,
    };
  }

  close(): void {
    this.sync.network.cleanup();
    this.db.close();
  }
}
