// Merging remote changes into the local database: the reference's CLS rules (section 4 of the
// reference notes), applied row by row with the changes of one primary key batched together.

import { compareValues, type SqlValue } from '../codec/value.js';
import { decodePk } from '../codec/pk.js';
import { type Change, SENTINEL, SITE_ID_BYTES } from '../codec/payload.js';
import type { Clock } from './clock.js';
import { CloudSyncError } from './errors.js';
import { quoteIdentifier as q } from './identifiers.js';
import { LOG_SKIP } from './meta-schema.js';
import { type CellClock, type RowClocks, causalLength, readRowClocks, writeRowClocks } from './row-clocks.js';
import { BatchedWrites, BatchRowError } from './batched-writes.js';
import { rowHashOf } from './payload-row-groups.js';
import { collateText, type RowKeyOf, rowId, TableNames } from './row-keys.js';
import type { SyncedTable } from './synced-table.js';
import { formatUuid } from './uuid.js';

/** What merging needs from the engine. */
export interface MergeContext {
  clock: Clock;
  table(name: string): SyncedTable | undefined;
  siteOrdinal(siteId: Uint8Array): number;
}

/** Checks that every change names a known table and column and has valid fields; throws before anything is applied. */
export function checkChanges(fn: string, context: MergeContext, changes: readonly Change[]): void {
  let last: SyncedTable | undefined;
  for (const change of changes) {
    last = checkChange(fn, context, change, last);
    checkChangeFields(fn, change);
  }
}

/** Checks that a change names a known table and column (`last`: the table of the previous one, a shortcut); returns its table. */
export function checkChange<T extends { readonly name: string; indexOf(column: string): number }>(fn: string, context: { table(name: string): T | undefined }, change: Change, last?: T): T {
  const table = last?.name === change.tbl ? last : context.table(change.tbl);
  if (!table) throw new CloudSyncError('NOT_FOUND', `${fn}: unknown table ${change.tbl} (change to primary key ${changeKeyText(change)}); run cloudsync_init on it before applying its changes`);
  if (change.colName !== SENTINEL && table.indexOf(change.colName) < 0) {
    throw new CloudSyncError('NOT_FOUND', `${fn}: unknown column ${change.colName} in table ${change.tbl} (change to primary key ${changeKeyText(change)})`);
  }
  return table;
}

/**
 * Refuses a change with fields that no database writes, as the payload decoder does: a site id
 * that is not 16 bytes, versions that are not integers from 0 to 2^53.
 */
export function checkChangeFields(fn: string, change: Change): void {
  const versions = [['col_version', change.colVersion], ['db_version', change.dbVersion], ['cl', change.cl], ['seq', change.seq]] as const;
  let problem: string | null = null;
  if (!(change.siteId instanceof Uint8Array) || change.siteId.length !== SITE_ID_BYTES) problem = `site_id must be a ${SITE_ID_BYTES}-byte BLOB`;
  for (const [name, value] of versions) if (problem === null && !(Number.isSafeInteger(value) && value >= 0)) problem = `${name} must be an integer from 0 to 2^53, got ${String(value)}`;
  if (problem !== null) throw new CloudSyncError('MISUSE', `${fn}: change to table ${change.tbl}, primary key ${changeKeyText(change)}: ${problem}`);
}

/** A change's primary key as text for error messages. */
function changeKeyText(change: Change): string {
  try {
    return keyText(decodePk(change.pk));
  } catch {
    return '(undecodable key)';
  }
}

/**
 * Merges changes; the caller owns the transaction and keeps triggers quiet. The changes of one
 * primary key are merged together, in their order: rows are independent of each other, so this
 * gives the same rows as merging the whole list in order, with one read and one write per row.
 */
export function mergeChanges(fn: string, context: MergeContext, groups: Iterable<readonly Change[]>): void {
  let lastSite: Uint8Array | null = null;
  let lastOrdinal = 0;
  const writes = new BatchedWrites();
  const versions = new MergeVersions(context.clock);
  // Tables without any meta row when the merge starts (a first sync): each row comes once, so
  // none of their rows needs looking up.
  const empty = new Map<SyncedTable, boolean>();
  for (const group of groups) {
    const first = group[0] as Change;
    const table = context.table(first.tbl);
    if (!table) throw new CloudSyncError('NOT_FOUND', `${fn}: unknown table ${first.tbl}`);
    let fresh = empty.get(table);
    if (fresh === undefined) empty.set(table, (fresh = !table.hasMeta()));
    let row: RowMerge;
    try {
      row = new RowMerge(fn, table, first.pk, versions, fresh);
    } catch (error) {
      throw describe(fn, first, error);
    }
    for (const change of group) {
      if (lastSite !== change.siteId && (lastSite === null || !sameBytes(lastSite, change.siteId))) {
        lastSite = change.siteId;
        lastOrdinal = context.siteOrdinal(change.siteId);
      }
      try {
        row.merge(change, lastOrdinal);
      } catch (error) {
        throw describe(fn, change, error);
      }
    }
    try {
      row.flush(writes);
    } catch (error) {
      throw describe(fn, group[group.length - 1] as Change, error);
    }
  }
  try {
    writes.flush();
  } catch (error) {
    throw error instanceof BatchRowError ? rowError(fn, error) : error;
  }
}

/** Splits changes into per-row lists, rows in order of first appearance (`rowKeyOf`: keys equal under their collation are one row). */
export function groupByRow(changes: Iterable<Change>, rowKeyOf?: RowKeyOf): Change[][] {
  const grouper = new RowGrouper(rowKeyOf);
  for (const change of changes) grouper.add(change);
  return grouper.groups;
}

/** Collects changes into per-row lists as they arrive. */
export class RowGrouper {
  readonly groups: Change[][] = [];
  private readonly byHash = new Map<number, Change[]>();
  // rows whose hash collides with another row's: rare, keyed by text
  private readonly collisions = new Map<string, Change[]>();
  private last: Change | null = null;
  private lastGroup: Change[] = [];
  // table names as SQLite compares them: 'Tags' and 'tags' are one table
  private readonly names = new TableNames();

  /** @param rowKeyOf the row's bytes when they are not the pk's (keys under NOCASE or RTRIM) */
  constructor(private readonly rowKeyOf?: RowKeyOf) {}

  add(change: Change): void {
    const last = this.last;
    if (last !== null && (last.pk === change.pk || sameBytes(last.pk, change.pk)) && last.tbl === change.tbl) {
      this.lastGroup.push(change);
      return;
    }
    const keyOf = (c: Change) => this.rowKeyOf?.(c) ?? c.pk;
    const key = keyOf(change);
    const tbl = this.names.fold(change.tbl);
    const hash = rowHashOf(tbl, key);
    let group = this.byHash.get(hash);
    if (group === undefined) {
      group = [];
      this.byHash.set(hash, group);
      this.groups.push(group);
    } else {
      const first = group[0] as Change;
      if (collateText(first.tbl, 'NOCASE') !== tbl || !sameBytes(keyOf(first), key)) {
        const text = rowId(tbl, key);
        group = this.collisions.get(text);
        if (group === undefined) {
          group = [];
          this.collisions.set(text, group);
          this.groups.push(group);
        }
      }
    }
    group.push(change);
    this.last = change;
    this.lastGroup = group;
  }
}

/**
 * The local db_versions of one merge: one per source transaction (site, db_version), taken from
 * the clock when its first change wins. A transaction of the sender stays one transaction here,
 * so whoever syncs from this database later gets it whole (and payloads split between them).
 */
class MergeVersions {
  private readonly taken = new Map<number, Map<number, number>>();

  constructor(private readonly clock: Clock) {}

  of(site: number, remote: number): number {
    let bySite = this.taken.get(site);
    if (!bySite) this.taken.set(site, (bySite = new Map()));
    let version = bySite.get(remote);
    if (version === undefined) bySite.set(remote, (version = this.clock.mergeVersion(remote)));
    return version;
  }
}

/** The merge state of one primary key while its consecutive changes are applied. */
class RowMerge {
  private readonly pk: SqlValue[];
  private clocks: RowClocks | null;
  private clocksChanged = false;
  /** Current base values (null: no base row); loaded lazily. */
  private base: SqlValue[] | null | undefined;
  private readonly pending = new Map<number, SqlValue>();
  private changeVersion = -1;
  private changeSite = 0;
  private evicted = false;

  constructor(
    fn: string,
    readonly table: SyncedTable,
    readonly pkBlob: Uint8Array,
    private readonly versions: MergeVersions,
    /** The table had no meta row when the merge started, and the merge visits each row once. */
    fresh: boolean,
  ) {
    this.pk = decodePk(pkBlob);
    if (this.pk.length !== table.layout.pk.length) {
      throw new CloudSyncError('PAYLOAD', `${fn}: primary key of ${table.name} has ${this.pk.length} values, the table has ${table.layout.pk.length} key columns`);
    }
    const stored = fresh ? undefined : table.storedClocks(this.pk);
    this.clocks = stored !== undefined ? readRowClocks(stored, table.cellCount) : null;
    // Without meta the row is unknown here: assume no base row and upsert (robust if one exists).
    this.base = stored !== undefined ? undefined : null;
  }

  /** Applies one change (the rules of the reference's merge_insert). */
  merge(change: Change, site: number): void {
    if (change.cl === 0 && change.colName === SENTINEL) {
      this.evict();
      return;
    }
    const algo = this.table.layout.algo;
    const localCl = causalLength(this.clocks);
    const cl = change.cl;
    if (cl < localCl) return;
    if (algo === 'dws' && localCl > 0 && localCl % 2 === 0) return; // a delete is final
    this.changeVersion = -1;
    this.changeSite = site;

    if (cl % 2 === 0) {
      if (cl === localCl || algo === 'gos') return;
      this.deleteBase();
      this.clocks = { sentinel: clockOf(change.colVersion, this.versionFor(change), change, site), cells: this.emptyCells() };
      this.clocksChanged = true;
      return;
    }
    if (change.colName === SENTINEL) {
      if (cl === localCl) return;
      this.resurrect(cl, change, site);
      return;
    }
    const index = this.table.indexOf(change.colName);
    const needsResurrect = cl > localCl;
    const existsLocally = localCl !== 0;
    if (needsResurrect && (existsLocally || cl > 1)) this.resurrect(cl, change, site);
    const wins = needsResurrect || !existsLocally || this.incomingWins(index, change);
    if (!wins) return;
    this.pending.set(index, change.colValue);
    if (this.base) this.base[index] = change.colValue;
    const clocks = this.clocks ?? { sentinel: null, cells: this.emptyCells() };
    clocks.cells[index] = clockOf(change.colVersion, this.versionFor(change), change, site);
    this.clocks = clocks;
    this.clocksChanged = true;
  }

  /**
   * Causal length 0 (which no write produces) is a removal sent by a server whose policies no
   * longer show the row to this user: the row and its metadata leave, recording no delete, so
   * the row comes back whole whenever it is shown again.
   */
  private evict(): void {
    this.deleteBase();
    this.clocks = null;
    this.clocksChanged = false;
    this.evicted = true;
  }

  /** Writes the base row and the meta row (through `writes`, which may batch them). */
  flush(writes: BatchedWrites): void {
    if (this.evicted && this.clocks === null) {
      const table = this.table;
      table.statement('meta.delete', () => `DELETE FROM ${table.quotedMeta} WHERE ${table.metaKeyMatch}`).run(this.pk);
      return;
    }
    this.flushBase(writes);
    if (!this.clocksChanged || this.clocks === null) return;
    writes.putMeta(this.table, this.pk, writeRowClocks(this.clocks));
    this.clocksChanged = false;
  }

  /** The local db_version of the change being merged, taken once, when it first writes. */
  private versionFor(change: Change): number {
    if (this.changeVersion < 0) this.changeVersion = this.versions.of(this.changeSite, change.dbVersion);
    return this.changeVersion;
  }

  private incomingWins(index: number, change: Change): boolean {
    const local = this.clocks?.cells[index] ?? null;
    if (local === null) return true;
    if (change.colVersion !== local.version) return change.colVersion > local.version;
    const base = this.loadBase();
    if (base === null) return true;
    return compareValues(change.colValue, base[index] ?? null) > 0;
  }

  /** Brings a deleted or older row back: base row present, cell clocks zeroed, new sentinel. */
  private resurrect(cl: number, change: Change, site: number): void {
    if (this.loadBase() === null) {
      this.flushBase();
      const table = this.table;
      table
        .statement('base.insertKey', () => `INSERT OR IGNORE INTO ${table.quotedName} (${table.layout.pk.map((c) => q(c.name)).join(', ')}) VALUES (${table.layout.pk.map(() => '?').join(', ')})`)
        .run(this.pk);
      this.base = undefined;
      this.loadBase();
    }
    const version = this.versionFor(change);
    const cells = (this.clocks?.cells ?? this.emptyCells()).map((cell): CellClock | null => (cell === null ? null : { ...cell, version: 0, dbVersion: version }));
    this.clocks = { sentinel: clockOf(cl, version, change, site), cells };
    this.clocksChanged = true;
  }

  private deleteBase(): void {
    this.pending.clear();
    const table = this.table;
    table.statement('base.delete', () => `DELETE FROM ${table.quotedName} WHERE ${table.baseKeyMatch}`).run(this.pk);
    this.base = null;
  }

  private loadBase(): SqlValue[] | null {
    if (this.base !== undefined) return this.base;
    this.flushBase();
    const table = this.table;
    const columns = table.layout.columns;
    const select = columns.length > 0 ? columns.map((c) => q(c)).join(', ') : '1';
    const row = table.statement('base.get', () => `SELECT ${select} FROM ${table.quotedName} WHERE ${table.baseKeyMatch}`).get(this.pk);
    this.base = row ? (columns.length > 0 ? row : []) : null;
    return this.base;
  }

  /** Writes pending column values now, or through `writes` for the row's last write. */
  private flushBase(writes?: BatchedWrites): void {
    if (this.pending.size === 0) return;
    const table = this.table;
    const indexes = [...this.pending.keys()].sort((a, b) => a - b);
    const values = indexes.map((i) => this.pending.get(i) ?? null);
    this.pending.clear();
    if (this.base === null) {
      const batch = writes ?? new BatchedWrites();
      batch.upsertBase(table, this.pk, indexes, values);
      if (!writes) batch.flush();
      this.base = undefined; // other columns took their defaults: read them back if needed
      return;
    }
    const key = indexes.join(',');
    table
      .statement(`base.update:${key}`, () => `UPDATE ${table.quotedName} SET ${indexes.map((i) => `${q(table.layout.columns[i] ?? '')} = ?`).join(', ')} WHERE ${table.baseKeyMatch}`)
      .run([...values, ...this.pk]);
  }

  private emptyCells(): (CellClock | null)[] {
    return new Array<CellClock | null>(this.table.cellCount).fill(null);
  }
}

function clockOf(version: number, dbVersion: number, change: Change, site: number): CellClock {
  return { version, dbVersion, seq: change.seq, site };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(fn: string, change: Change, error: unknown): Error {
  if (error instanceof CloudSyncError || isTransient(error)) return error as Error;
  if (error instanceof BatchRowError) return rowError(fn, error);
  const reason = error instanceof Error ? error.message : String(error);
  return new CloudSyncError('CONSTRAINT', `${fn}: cannot apply change to table ${change.tbl}, primary key ${changeKeyText(change)}, column ${change.colName}: ${reason}${hintFor(reason)}`, { cause: error });
}

/** The error of a row that a batch could not write; a busy or locked database passes through as SQLite gave it. */
function rowError(fn: string, error: BatchRowError): Error {
  if (isTransient(error.cause)) return error.cause as Error;
  return new CloudSyncError('CONSTRAINT', `${fn}: cannot apply change to table ${error.row.table.name}, primary key ${keyText(error.row.pk)}: ${error.message}${hintFor(error.message)}`, { cause: error.cause });
}

/** SQLite's "busy" and "locked": another connection holds the database; trying again later may succeed (not the change's fault). */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * What to do about a failure whose cause is not in the change: a log trigger drops a merge's
 * write with INSERT OR IGNORE, which a user trigger's own conflict clause overrides.
 */
function hintFor(reason: string): string {
  if (!reason.includes(`clock <> ${LOG_SKIP}`)) return '';
  return ' (a trigger of yours writes a synced table with OR REPLACE, OR FAIL, OR ABORT or OR ROLLBACK, which overrides how the engine leaves a merge\'s writes out of the log; write it with a plain INSERT, or INSERT … ON CONFLICT DO UPDATE)';
}

/** A primary key as JSON-like text for error messages. */
function keyText(pk: readonly SqlValue[]): string {
  return JSON.stringify(pk, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? `x'${formatUuid(v, false)}'` : v));
}
