// What the server needs from a storage backend: its admin records, and one peer per hosted
// database that applies uploads and prepares downloads. `sqlite/` is the embedded backend.

import type { EncodedPayload } from '../../engine/cloudsync.js';
import type { PolicyUser, SecuredApply } from '../row-security.js';

/** A position in a database's change order. */
export interface Position {
  dbVersion: number;
  seq: number;
}

/** One hosted database: a full peer with its own site id. */
export interface Peer {
  /**
   * Applies an uploaded payload: atomically for an API key (`user` null); for a token user through
   * the write policies, per source transaction, reporting what they refused.
   */
  apply(payload: Uint8Array, user: PolicyUser | null): SecuredApply;
  /**
   * The changes after `since` that did not come from `site`, as payloads of about `maxBytes`, in
   * order; the last change of the range always travels so the client's watermark can pass it.
   * For a token user (`user` not null) only what the read policies show.
   */
  download(site: Uint8Array, since: Position, maxBytes: number, user: PolicyUser | null): EncodedPayload[];
  /** The newest db_version stored (read before an upload applies, for live notices). */
  storedVersion(): number;
  /**
   * Live push: every change after `since` (from any site), as payloads of about `maxBytes`; the
   * last one's `last` is this database's newest position.
   */
  changesSince(since: Position, maxBytes: number): EncodedPayload[];
  /** True when a token user's downloads go through read policies (then live notices are per user). */
  filtersReads(): boolean;
  /** Live notice for a token user: whether their download from `since` would bring anything. */
  hasNewsFor(user: PolicyUser, site: Uint8Array, since: Position): boolean;
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
