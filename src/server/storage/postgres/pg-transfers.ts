// Transfer slots in PostgreSQL, so that an upload or download URL that one node handed out works
// on any node. An upload slot is applied under a lease: the node that takes the lease applies it,
// a notification reaching another node meanwhile waits for the outcome; a node that dies while
// applying leaves the lease to expire, and the client's retry applies the payload again, which
// changes nothing if it had committed (a merge of changes already merged wins no cell).
// Slots live on connections with synchronous_commit off: a slot is ephemeral, and one lost by a
// PostgreSQL crash only makes its client start that upload or download again (the applies
// themselves stay synchronous).

import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { HttpError } from '../../http-error.js';
import { newToken, type SlotOwner, type TransferLimits, TransferStore, type Transfers } from '../../transfers.js';
import { storeError } from './pg-errors.js';

/** How long a node may take to apply an upload before another may take it over. */
const LEASE_MS = 60_000;

const T = 'sqlite_sync.transfers';

export class PgTransfers implements Transfers {
  /** Follow-ups stay a node's own cache. */
  private readonly local: TransferStore;
  private readonly ttlMs: number;
  private readonly maxHeldBytes: number;

  constructor(
    private readonly pool: Pool,
    private readonly now: () => number,
    limits: TransferLimits = {},
  ) {
    this.local = new TransferStore(now, limits);
    this.ttlMs = limits.ttlMs ?? 10 * 60_000;
    this.maxHeldBytes = limits.maxHeldBytes ?? 512 * 1024 * 1024;
  }

  async openUpload(owner: SlotOwner): Promise<string> {
    const token = newToken();
    await this.query(`INSERT INTO ${T} (id, kind, database, site, principal, expires) VALUES ($1, 'upload', $2, $3, $4, $5)`, [idOf(token), owner.database, owner.site, owner.principal, this.now() + this.ttlMs]);
    return token;
  }

  async checkUploadable(token: string, size: number): Promise<void> {
    const { rows } = await this.query<{ open: boolean; held: string }>(
      `SELECT (SELECT payload IS NULL AND NOT applied FROM ${T} WHERE id = $1 AND kind = 'upload' AND expires >= $2) AS open, (SELECT coalesce(sum(octet_length(payload)), 0) FROM ${T} WHERE payload IS NOT NULL AND kind = 'upload') AS held`,
      [idOf(token), this.now()],
    );
    if (rows[0]?.open !== true) throw new HttpError(404, 'upload URL not found, used or expired');
    if (Number(rows[0].held) + size > this.maxHeldBytes) throw new HttpError(503, 'the server is holding too many transfers; try again later');
  }

  async fillUpload(token: string, payload: Uint8Array): Promise<void> {
    await this.checkUploadable(token, payload.length);
    const filled = await this.query(`UPDATE ${T} SET payload = $2 WHERE id = $1 AND kind = 'upload' AND payload IS NULL AND NOT applied AND expires >= $3`, [idOf(token), Buffer.from(payload), this.now()]);
    if (filled.rowCount === 0) throw new HttpError(404, 'upload URL not found, used or expired');
  }

  async consumeUpload(token: string, owner: SlotOwner, apply: (payload: Uint8Array) => Promise<void>): Promise<void> {
    const id = idOf(token);
    for (;;) {
      const now = this.now();
      const taken = await this.query<{ payload: Buffer }>(
        `UPDATE ${T} SET lease_until = $6 WHERE id = $1 AND kind = 'upload' AND database = $2 AND site = $3 AND principal = $4 AND expires >= $5
           AND NOT applied AND payload IS NOT NULL AND (lease_until IS NULL OR lease_until < $5) RETURNING payload`,
        [id, owner.database, owner.site, owner.principal, now, now + LEASE_MS],
      );
      const row = taken.rows[0];
      if (row) {
        try {
          await apply(new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength));
        } catch (error) {
          await this.query(`UPDATE ${T} SET lease_until = NULL WHERE id = $1`, [id]).catch(() => undefined);
          throw error;
        }
        await this.query(`UPDATE ${T} SET applied = true, payload = NULL, lease_until = NULL WHERE id = $1`, [id]);
        return;
      }
      const { rows } = await this.query<{ database: string; site: string; principal: string; applied: boolean; filled: boolean; lease_until: string | null }>(
        `SELECT database, site, principal, applied, payload IS NOT NULL AS filled, lease_until FROM ${T} WHERE id = $1 AND kind = 'upload' AND expires >= $2`,
        [id, now],
      );
      const slot = rows[0];
      if (!slot || slot.database !== owner.database || slot.site !== owner.site || slot.principal !== owner.principal) throw new HttpError(404, 'upload URL not found or expired');
      if (slot.applied) return;
      if (!slot.filled) throw new HttpError(409, 'nothing was uploaded to this URL');
      // another notification is applying it, here or on another node: wait for its outcome
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async putDownload(payload: Uint8Array): Promise<string> {
    const token = newToken();
    await this.query(`INSERT INTO ${T} (id, kind, expires, payload) VALUES ($1, 'download', $2, $3)`, [idOf(token), this.now() + this.ttlMs, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]);
    return token;
  }

  async getDownload(token: string): Promise<Uint8Array> {
    const { rows } = await this.query<{ payload: Buffer }>(`SELECT payload FROM ${T} WHERE id = $1 AND kind = 'download' AND expires >= $2`, [idOf(token), this.now()]);
    const payload = rows[0]?.payload;
    if (!payload) throw new HttpError(404, 'download URL not found or expired');
    return payload;
  }

  putFollowUps(key: string, payloads: readonly { payload: Uint8Array; last: { dbVersion: number; seq: number } }[]): void {
    this.local.putFollowUps(key, payloads);
  }

  takeFollowUp(key: string, keyAfter: (position: { dbVersion: number; seq: number }) => string): Uint8Array | undefined {
    return this.local.takeFollowUp(key, keyAfter);
  }

  async sweep(): Promise<void> {
    await this.local.sweep();
    await this.query(`DELETE FROM ${T} WHERE expires < $1`, [this.now()]);
  }

  private async query<R extends Record<string, unknown>>(text: string, values: unknown[]) {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw storeError(error);
    }
  }
}

function idOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
