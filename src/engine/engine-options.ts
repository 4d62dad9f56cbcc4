// The options and hooks that callers pass to the engine (CloudSyncEngine in cloudsync.ts).

import type { Change } from '../codec/payload.js';
import type { RandomBytes } from './uuid.js';

/** Options of the engine; time and randomness are injectable for tests. */
export interface EngineOptions {
  now?: () => number;
  random?: RandomBytes;
  /**
   * Tables initialised on this connection log their local writes and fold them into the meta rows
   * when changes are read or merged (default true, see docs/design-log-writes.md): writes cost
   * about half, the next sync pays the fold. false: the triggers update the meta rows at once.
   * `dws` tables always write at once. The choice is stored with the table.
   */
  logWrites?: boolean;
  /**
   * With logged writes: once this connection has more unfolded writes than this, the end of an
   * autocommit statement folds the older half (default 200,000), so a database that does not sync
   * keeps a bounded log.
   */
  logSoftLimit?: number;
  /**
   * With logged writes: after a commit, fold the log in idle time (steps of a few milliseconds
   * between event-loop tasks, in transactions of their own that never wait for a lock), so that
   * the next read of changes or sync finds little to fold (default true). false: the fold waits
   * for the next read, merge or the soft limit.
   */
  idleFold?: boolean;
}

/** Payload options the engine passes through to the encoder. */
export interface PayloadOptions {
  compress?: boolean;
  version?: 1 | 2;
  /** LZ4 effort, 1 (fastest) to 9 (smallest); default 2. */
  compressionLevel?: number;
}

/** What a caller of applyPayload may add: a look at every change, and work inside its transaction. */
export interface ApplyHooks {
  onChange?: (change: Change) => void;
  alongside?: () => void;
}

/** Options of `init`. */
export interface InitOptions {
  algo?: string;
  force?: boolean;
}
