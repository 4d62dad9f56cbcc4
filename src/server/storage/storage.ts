// What the server needs from a storage backend: its admin records, and one peer per hosted
// database that applies uploads and prepares downloads. `sqlite/` is the embedded backend.

import type { EncodedPayload } from '../../engine/cloudsync.js';

/** A position in a database's change order. */
export interface Position {
  dbVersion: number;
  seq: number;
}

/** One hosted database: a full peer with its own site id. */
export interface Peer {
  /** Applies an uploaded payload atomically; returns its number of changes. */
  apply(payload: Uint8Array): number;
  /**
   * The changes after `since` that did not come from `site`, as payloads of about `maxBytes`, in
   * order; the last change of the range always travels so the client's watermark can pass it.
   */
  download(site: Uint8Array, since: Position, maxBytes: number): EncodedPayload[];
  /** Size, versions and tables, for `db status`. */
  status(): PeerStatus;
  close(): void;
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
