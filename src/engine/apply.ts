// Applying changes from other replicas: checked first, then merged row by row in one transaction
// (or savepoint), after the connection's own logged writes are folded.

import type { Change } from '../codec/payload.js';
import type { ApplyHooks } from './engine-options.js';
import { CloudSyncError } from './errors.js';
import type { LocalLog } from './local-log.js';
import { checkChange, checkChanges, groupByRow, type MergeContext, mergeChanges } from './merge.js';
import { groupPayloadRows } from './payload-row-groups.js';
import type { RowKeyOf } from './row-keys.js';
import type { SyncedTable } from './synced-table.js';

/** What applying needs from its engine. */
export interface ApplyHost extends MergeContext {
  readonly log: LocalLog;
  readonly rowKeyOf: RowKeyOf;
  /** Catches up with other connections' commits. */
  catchUp(): void;
  /** Throws when a synced table was altered without cloudsync. */
  refuseDrift(fn: string): void;
  /** Runs `work` in a transaction of its own, or a savepoint inside the caller's. */
  atomically(work: () => void, deferForeignKeys: boolean): void;
  /** Marks the merge's start and end where the triggers can see it without JavaScript (in its transaction). */
  markMerging(merging: boolean): void;
}

/** Applies changes and payloads to one connection. */
export class ChangeApplier {
  private depth = 0;

  constructor(private readonly host: ApplyHost) {}

  /** True while a merge writes (triggers must not track those writes). */
  get merging(): boolean {
    return this.depth > 0;
  }

  /** Applies changes atomically: all of them or none, with `alongside` in the same transaction. Returns how many were given. */
  applyChanges(changes: readonly Change[], fn: string, alongside?: (changes: readonly Change[]) => void): number {
    this.host.catchUp();
    checkChanges(fn, this.host, changes);
    this.mergeGroups(fn, groupByRow(changes, this.host.rowKeyOf), alongside && (() => alongside(changes)));
    return changes.length;
  }

  /**
   * Applies a payload atomically and returns its number of changes. The payload is read twice:
   * once to check every change and group the rows by key (numbers and offsets only), then row by
   * row while merging. `hooks.onChange` sees every change of the first read; `hooks.alongside`
   * runs inside the apply's transaction, after the merge.
   */
  applyPayload(payload: Uint8Array, fn: string, hooks: ApplyHooks = {}): number {
    if (!(payload instanceof Uint8Array)) throw new CloudSyncError('PAYLOAD', `${fn}: the payload must be a Uint8Array (a BLOB), got ${payload === null ? 'null' : typeof payload}`);
    this.host.catchUp();
    let table: SyncedTable | undefined;
    const { count, groups } = groupPayloadRows(payload, fn, (change) => (table = checkChange(fn, this.host, change, table)), hooks.onChange, this.host.rowKeyOf);
    this.mergeGroups(fn, groups.changesByRow(), hooks.alongside);
    return count;
  }

  /** Merges groups of changes (already checked) in one transaction, with `alongside` after them. */
  private mergeGroups(fn: string, groups: Iterable<readonly Change[]>, alongside?: () => void): void {
    this.host.atomically(() => {
      this.host.refuseDrift(fn);
      const outermost = this.depth++ === 0;
      if (outermost) this.host.markMerging(true);
      try {
        this.host.log.foldPending();
        mergeChanges(fn, this.host, groups);
      } finally {
        this.depth--;
      }
      // (a failed merge leaves the mark to the rollback that follows)
      if (outermost) this.host.markMerging(false);
      alongside?.();
    }, true);
  }
}
