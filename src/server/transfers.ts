// One-time transfer slots behind the URLs the protocol hands out: an upload slot (created by
// GET …/upload, filled by a PUT, consumed by POST …/upload) and a prepared download. A slot's URL
// is its only credential: 128 random bits, bound to one database and site, expiring.

import { randomBytes } from 'node:crypto';
import { HttpError } from './http-error.js';

/** Who asked for a slot. */
export interface SlotOwner {
  database: string;
  site: string;
  /** The key or user the request authenticated as. */
  principal: string;
}

interface UploadSlot extends SlotOwner {
  expires: number;
  payload: Uint8Array | null;
  applied: boolean;
  /** The apply running now, if any. */
  applying: Promise<void> | null;
}

interface Download {
  expires: number;
  payload: Uint8Array;
}

/** Limits of the transfer store. */
export interface TransferLimits {
  /** How long a slot lives (default 10 min). */
  ttlMs?: number;
  /** Bytes of uploads and downloads held at once before new ones are refused with 503 (default 512 MiB). */
  maxHeldBytes?: number;
}

/** A position in a database's change order. */
type At = { dbVersion: number; seq: number };

/**
 * Where transfer slots live: in the node's memory for the embedded store, in PostgreSQL for the
 * PostgreSQL store (so that a URL one node handed out works on every node). Follow-ups are a
 * node's own cache: another node reads the database again.
 */
export interface Transfers {
  /** Opens an upload slot; returns its token. */
  openUpload(owner: SlotOwner): Promise<string>;
  /** Whether a PUT to this token may proceed (checked before reading the body). */
  checkUploadable(token: string, size: number): Promise<void>;
  /** Stores the body of a PUT. */
  fillUpload(token: string, payload: Uint8Array): Promise<void>;
  /** Hands a slot's payload to `apply`; consumed once `apply` succeeds (see TransferStore.consumeUpload). */
  consumeUpload(token: string, owner: SlotOwner, apply: (payload: Uint8Array) => Promise<void>): Promise<void>;
  /** Holds a prepared download; returns its token. */
  putDownload(payload: Uint8Array): Promise<string>;
  /** The payload of a prepared download (which may be fetched again until it expires). */
  getDownload(token: string): Promise<Uint8Array>;
  putFollowUps(key: string, payloads: readonly { payload: Uint8Array; last: At }[]): void;
  takeFollowUp(key: string, keyAfter: (position: At) => string): Uint8Array | undefined;
  /** Forgets expired slots and downloads. */
  sweep(): Promise<void>;
}

/** Pending uploads and prepared downloads, in memory. */
export class TransferStore implements Transfers {
  private readonly uploads = new Map<string, UploadSlot>();
  private readonly downloads = new Map<string, Download>();
  private readonly followUps = new Map<string, { expires: number; payloads: Uint8Array[]; positions: { dbVersion: number; seq: number }[] }>();
  private heldBytes = 0;
  private readonly ttlMs: number;
  private readonly maxHeldBytes: number;

  constructor(
    private readonly now: () => number,
    limits: TransferLimits = {},
  ) {
    this.ttlMs = limits.ttlMs ?? 10 * 60_000;
    this.maxHeldBytes = limits.maxHeldBytes ?? 512 * 1024 * 1024;
  }

  /** Opens an upload slot; returns its token. */
  async openUpload(owner: SlotOwner): Promise<string> {
    const token = newToken();
    this.uploads.set(token, { ...owner, expires: this.now() + this.ttlMs, payload: null, applied: false, applying: null });
    return token;
  }

  /** Whether a PUT to this token may proceed (checked before reading the body). */
  async checkUploadable(token: string, size: number): Promise<void> {
    this.checkSlot(token, size);
  }

  private checkSlot(token: string, size: number): void {
    const slot = this.liveUpload(token);
    if (!slot || slot.payload !== null || slot.applied) throw new HttpError(404, 'upload URL not found, used or expired');
    if (this.heldBytes + size > this.maxHeldBytes) throw new HttpError(503, 'the server is holding too many transfers; try again later');
  }

  /** Stores the body of a PUT. */
  async fillUpload(token: string, payload: Uint8Array): Promise<void> {
    this.checkSlot(token, payload.length);
    const slot = this.uploads.get(token) as UploadSlot;
    slot.payload = payload;
    this.heldBytes += payload.length;
  }

  /**
   * Hands the payload of a slot to `apply` when the slot belongs to `owner`; the slot is consumed
   * only when `apply` succeeds, so a failed apply can be retried. A slot applied before answers
   * success again without applying (a client re-sending a notification it did not see answered);
   * a notification that comes while the slot is being applied waits for that apply.
   */
  async consumeUpload(token: string, owner: SlotOwner, apply: (payload: Uint8Array) => Promise<void>): Promise<void> {
    const slot = this.liveUpload(token);
    if (!slot || slot.database !== owner.database || slot.site !== owner.site || slot.principal !== owner.principal) {
      throw new HttpError(404, 'upload URL not found or expired');
    }
    while (slot.applying) await slot.applying.catch(() => undefined);
    if (slot.applied) return;
    if (slot.payload === null) throw new HttpError(409, 'nothing was uploaded to this URL');
    const payload = slot.payload;
    slot.applying = apply(payload);
    try {
      await slot.applying;
    } finally {
      slot.applying = null;
    }
    this.heldBytes -= payload.length;
    slot.payload = null;
    slot.applied = true;
  }

  /** Holds a prepared download; returns its token. */
  async putDownload(payload: Uint8Array): Promise<string> {
    if (this.heldBytes + payload.length > this.maxHeldBytes) throw new HttpError(503, 'the server is holding too many transfers; try again later');
    const token = newToken();
    this.downloads.set(token, { expires: this.now() + this.ttlMs, payload });
    this.heldBytes += payload.length;
    return token;
  }

  /** The payload of a prepared download (which may be fetched again until it expires). */
  async getDownload(token: string): Promise<Uint8Array> {
    const download = this.downloads.get(token);
    if (!download || download.expires < this.now()) throw new HttpError(404, 'download URL not found or expired');
    return download.payload;
  }

  /**
   * Keeps the payloads that follow a download, prepared by the same check: the next check, from the
   * position `key` names, takes the first of them instead of reading the database again.
   */
  putFollowUps(key: string, payloads: readonly { payload: Uint8Array; last: { dbVersion: number; seq: number } }[]): void {
    if (payloads.length === 0) return;
    const bytes = payloads.reduce((n, p) => n + p.payload.length, 0);
    if (this.heldBytes + bytes > this.maxHeldBytes) return; // prepared again on demand
    this.followUps.set(key, { expires: this.now() + this.ttlMs, payloads: payloads.map((p) => p.payload), positions: payloads.map((p) => p.last) });
    this.heldBytes += bytes;
  }

  /** Takes the next prepared payload for a check from `key`, re-keying the rest after it. */
  takeFollowUp(key: string, keyAfter: (position: { dbVersion: number; seq: number }) => string): Uint8Array | undefined {
    const entry = this.followUps.get(key);
    if (!entry) return undefined;
    this.followUps.delete(key);
    const payload = entry.payloads.shift() as Uint8Array;
    const position = entry.positions.shift() as { dbVersion: number; seq: number };
    this.heldBytes -= payload.length;
    if (entry.expires < this.now()) {
      this.heldBytes -= entry.payloads.reduce((n, p) => n + p.length, 0);
      return undefined;
    }
    if (entry.payloads.length > 0) this.followUps.set(keyAfter(position), entry);
    return payload;
  }

  /** Forgets expired slots and downloads. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const [token, slot] of this.uploads) {
      if (slot.expires >= now) continue;
      this.heldBytes -= slot.payload?.length ?? 0;
      this.uploads.delete(token);
    }
    for (const [key, entry] of this.followUps) {
      if (entry.expires >= now) continue;
      this.heldBytes -= entry.payloads.reduce((n, p) => n + p.length, 0);
      this.followUps.delete(key);
    }
    for (const [token, download] of this.downloads) {
      if (download.expires >= now) continue;
      this.heldBytes -= download.payload.length;
      this.downloads.delete(token);
    }
  }

  private liveUpload(token: string): UploadSlot | undefined {
    const slot = this.uploads.get(token);
    return slot && slot.expires >= this.now() ? slot : undefined;
  }
}

/** A slot's token: 128 random bits in hex. */
export function newToken(): string {
  return randomBytes(16).toString('hex');
}
