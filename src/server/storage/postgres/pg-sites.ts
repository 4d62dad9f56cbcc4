// The sites a hosted database heard of, in its cloudsync_sites table: a site id is stored once and
// its changes carry a small ordinal. A node keeps the table in memory; sites are only ever added
// (under the state lock, by whichever node takes them first), so the cache is read again when an
// ordinal or id is unknown, when another node added one, or when a rolled-back transaction may
// have left ordinals in it that were never stored.

import type { Pool, PoolClient } from 'pg';
import { pgName } from './pg-layout.js';

/** The distinct site ids of changes, by bytes; a run of changes of one site costs one comparison. */
export class SiteSet {
  private readonly byHex = new Map<string, Uint8Array>();
  private last: Uint8Array | null = null;

  add(siteId: Uint8Array): void {
    if (siteId === this.last) return;
    this.last = siteId;
    const hex = Buffer.from(siteId).toString('hex');
    if (!this.byHex.has(hex)) this.byHex.set(hex, siteId);
  }

  values(): Uint8Array[] {
    return [...this.byHex.values()];
  }
}

/** The site ordinals of one hosted database. */
export class PgSites {
  private ids = new Map<number, Uint8Array>();
  private ordinals = new Map<string, number>();
  private maxOrdinal = 0;
  /** Set when the cache may hold ordinals of a rolled-back transaction: read again before use. */
  private isStale = false;

  constructor(private readonly schema: string) {}

  /** The id of an ordinal (zeros when unknown). */
  idOf(ordinal: number): Uint8Array {
    return this.ids.get(ordinal) ?? new Uint8Array(16);
  }

  /** The ordinal of a site id, -1 when this database never heard of it. */
  ordinalOf(siteId: Uint8Array): number {
    return this.ordinals.get(Buffer.from(siteId).toString('hex')) ?? -1;
  }

  /** True when the cache may be wrong until read again. */
  get stale(): boolean {
    return this.isStale;
  }

  /** The cache may be wrong (a transaction that added sites rolled back): read it again next time. */
  invalidate(): void {
    this.isStale = true;
  }

  async load(client: PoolClient | Pool): Promise<void> {
    this.isStale = false;
    const { rows } = await client.query<{ ordinal: number; site_id: Buffer }>(`SELECT ordinal, site_id FROM ${pgName(this.schema)}.cloudsync_sites`);
    this.ids = new Map();
    this.ordinals = new Map();
    this.maxOrdinal = 0;
    for (const row of rows) this.remember(row.ordinal, new Uint8Array(row.site_id));
  }

  /** Before a read: loads the table again when another node added a site, or when the cache may be wrong. */
  async sync(client: PoolClient): Promise<void> {
    const { rows: newest } = await client.query<{ n: number | null }>(`SELECT max(ordinal) AS n FROM ${pgName(this.schema)}.cloudsync_sites`);
    if (this.isStale || (newest[0]?.n ?? 0) > this.maxOrdinal) await this.load(client);
  }

  /**
   * The ordinal of every site id (by hex), adding the sites this database has not heard of; called
   * under the state lock. The added ones are returned, to remember once the transaction commits.
   */
  async ordinalsFor(client: PoolClient, siteIds: readonly Uint8Array[]): Promise<{ ordinals: Map<string, number>; added: Map<number, Uint8Array> }> {
    const ordinals = new Map<string, number>();
    const added = new Map<number, Uint8Array>();
    let reloaded = false;
    let next = -1;
    for (const id of siteIds) {
      const hex = Buffer.from(id).toString('hex');
      if (ordinals.has(hex)) continue;
      let ordinal = this.ordinals.get(hex);
      if ((ordinal === undefined || this.isStale) && !reloaded) {
        await this.load(client); // another node may have added it
        reloaded = true;
        ordinal = this.ordinals.get(hex);
      }
      if (ordinal === undefined) {
        if (next < 0) next = this.maxOrdinal + 1;
        ordinal = next++;
        await client.query(`INSERT INTO ${pgName(this.schema)}.cloudsync_sites (ordinal, site_id) VALUES ($1, $2)`, [ordinal, Buffer.from(id)]);
        added.set(ordinal, id);
      }
      ordinals.set(hex, ordinal);
    }
    return { ordinals, added };
  }

  /** Sites a committed transaction added. */
  remember(ordinal: number, id: Uint8Array): void {
    this.ids.set(ordinal, id);
    this.ordinals.set(Buffer.from(id).toString('hex'), ordinal);
    if (ordinal > this.maxOrdinal) this.maxOrdinal = ordinal;
  }
}
