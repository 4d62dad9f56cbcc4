// The PostgreSQL backend: the admin records in schema sqlite_sync, each hosted database in a
// schema named after it. Nothing is held in a node but caches that every node can rebuild, so
// any number of `serve` processes may share one PostgreSQL.

import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { HttpError } from '../../http-error.js';
import type { Store } from '../storage.js';
import type { TransferLimits, Transfers } from '../../transfers.js';
import { PgTransfers } from './pg-transfers.js';
import { ADMIN_CHANNEL, PgAdminRecords } from './admin-records.js';
import { migrate } from './migrations.js';
import { guardPool, storeError, transaction } from './pg-errors.js';
import { createStatements, layoutOfSchema, layoutToJson, pgName } from './pg-layout.js';
import { newGeneration, PgPeer } from './pg-peer.js';
import { securityStatements } from './pg-row-security.js';

/** The NOTIFY channel of uploads, for live push across nodes. */
const CHANNEL = 'sqlite_sync_changes';

/** Options of the PostgreSQL store. */
export interface PgStoreOptions {
  /** Connections a node keeps to PostgreSQL at most (default 10). */
  maxConnections?: number;
}

/** Schema names the store keeps for itself and PostgreSQL's own. */
function reservedSchema(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === 'sqlite_sync' || lower === 'public' || lower === 'information_schema' || lower.startsWith('pg_');
}

/** The store of a PostgreSQL database. */
export class PgStore implements Store {
  readonly admin: PgAdminRecords;
  private readonly peers = new Map<string, Promise<PgPeer>>();
  /** The peers opened, to tell them the news of other nodes' uploads. */
  private readonly opened = new Map<string, PgPeer>();
  /** A spell of hearing every upload: counted up on each (re)connection of the LISTEN connection and each loss of it. */
  private spell = 0;
  private hearingAll = false;
  /** This node, in its notices (it does not answer its own). */
  private readonly node = randomUUID();
  private readonly listeners = new Set<(database: string, before: number) => void>();
  private listening: pg.Client | null = null;
  private closed = false;
  private readonly transferPools: pg.Pool[] = [];
  private serving = false;

  readonly pool: pg.Pool;

  private constructor(
    pool: pg.Pool,
    private readonly url: string,
  ) {
    this.pool = guardPool(pool);
    this.admin = new PgAdminRecords(this.pool);
  }

  /** Connects, and brings the store's schema to this version (see migrations.ts). */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, connectionTimeoutMillis: 5000 });
    // an idle connection that PostgreSQL drops (restart) must not crash the process: the next query reconnects
    pool.on('error', () => undefined);
    try {
      await migrate(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw storeError(error);
    }
    return new PgStore(pool, url);
  }

  openTransfers(now: () => number, limits: TransferLimits): Transfers {
    // transfer slots are ephemeral: their writes need not wait for the disk (see pg-transfers.ts)
    const pool = new pg.Pool({ connectionString: this.url, max: 5, connectionTimeoutMillis: 5000, options: '-c synchronous_commit=off' });
    pool.on('error', () => undefined);
    this.transferPools.push(pool);
    return new PgTransfers(guardPool(pool), now, limits);
  }

  get openDatabases(): number {
    return this.peers.size;
  }

  /** True when PostgreSQL answers. */
  async reachable(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async createData(name: string, schema: string): Promise<void> {
    if (reservedSchema(name)) throw new HttpError(400, `the database name '${name}' is reserved on the PostgreSQL store (its schemas sqlite_sync, public, information_schema and pg_*)`);
    const layout = layoutOfSchema(schema);
    const statements = [...createStatements(name, layout), ...securityStatements(name)];
    this.forget(name);
    await transaction(this.pool, async (client) => {
      // a schema left by a database dropped halfway, or by a create that lost a race, goes first
      await client.query(`DROP SCHEMA IF EXISTS ${pgName(name)} CASCADE`);
      for (const statement of statements) await client.query(statement);
      const s = pgName(name);
      // empty: a device at position (0, 0) has all of it
      await client.query(`INSERT INTO ${s}.cloudsync_state (db_version, last_seq, generation, layout) VALUES (0, 0, $1, $2)`, [newGeneration(), JSON.stringify(layoutToJson(layout))]);
      await client.query(`INSERT INTO ${s}.cloudsync_sites (ordinal, site_id) VALUES (0, $1)`, [randomBytes(16)]);
    });
  }

  async peer(name: string): Promise<PgPeer> {
    let peer = this.peers.get(name);
    if (!peer) {
      const opening = new PgPeer(
        this.pool,
        name,
        async (client, database, news) => {
          await client.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ node: this.node, database, ...news })]);
        },
        () => (this.hearingAll && this.serving ? this.spell : null),
      );
      peer = opening.load().then(() => {
        this.opened.set(name, opening);
        return opening;
      });
      this.peers.set(name, peer);
      peer.catch(() => this.peers.delete(name));
    }
    return peer;
  }

  async dropData(name: string): Promise<void> {
    this.forget(name);
    try {
      await this.pool.query(`DROP SCHEMA IF EXISTS ${pgName(name)} CASCADE`);
    } catch (error) {
      throw storeError(error);
    }
  }

  forget(name: string): void {
    this.peers.delete(name);
    this.opened.delete(name);
  }

  /** A serving node: it listens for other nodes' changes, and may keep admin records meanwhile (see PgAdminRecords). */
  serve(): void {
    this.serving = true;
    if (this.listening === null) void this.listen();
  }

  watch(listener: (database: string, before: number) => void): () => void {
    this.listeners.add(listener);
    if (this.listening === null) void this.listen();
    return () => this.listeners.delete(listener);
  }

  /**
   * Keeps one connection LISTENing for other nodes' uploads; when it is lost, connects again and
   * tells the listeners that any database may have news (before -1), since notices sent meanwhile
   * were lost with it.
   */
  private async listen(lost = false): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    this.listening = client;
    let retried = false;
    const retry = () => {
      this.admin.setCaching(false); // changes may go unheard now
      this.hearingAll = false;
      this.spell++;
      if (retried) return;
      retried = true;
      client.end().catch(() => undefined);
      if (!this.closed) setTimeout(() => void this.listen(true), 1000).unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (message) => {
      if (message.channel === ADMIN_CHANNEL) {
        // a database dropped (and maybe created again) elsewhere: what was heard of it is no more
        for (const peer of this.opened.values()) peer.heard(0, null);
        return this.admin.forgetAll();
      }
      if (message.channel !== CHANNEL || !message.payload) return;
      let notice: { node?: string; database?: string; before?: number; after?: number; lastSeq?: number | null };
      try {
        notice = JSON.parse(message.payload) as typeof notice;
      } catch {
        return;
      }
      if (notice.node === this.node || typeof notice.database !== 'string') return;
      // first the newest position, so that a live client told next checks against it
      const peer = this.opened.get(notice.database);
      if (peer) peer.heard(typeof notice.after === 'number' ? notice.after : 0, typeof notice.after === 'number' && typeof notice.lastSeq === 'number' ? notice.lastSeq : null);
      for (const listener of this.listeners) listener(notice.database, typeof notice.before === 'number' ? notice.before : -1);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      await client.query(`LISTEN ${ADMIN_CHANNEL}`);
      if (this.serving) this.admin.setCaching(true);
      if (!retried) {
        this.spell++;
        this.hearingAll = true;
      }
      if (lost) for (const listener of this.listeners) listener('*', -1);
    } catch {
      retry();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.listening?.end().catch(() => undefined);
    this.peers.clear();
    this.opened.clear();
    for (const pool of this.transferPools) await pool.end().catch(() => undefined);
    await this.pool.end();
  }
}
