// Row-level security of one hosted database: per-table SQL policies that decide which rows a
// token user may read and write, enforced on downloads (rows filtered, whole rows when they come
// into view, removals when they leave it) and on uploads (refused per source transaction).
//
// Tables kept in the hosted database itself, so they commit with the data:
// | table                   | holds                                                        |
// |-------------------------|--------------------------------------------------------------|
// | cloudsync_rls_policies  | tbl, read_expr, write_expr (NULL: that operation is denied)  |
// | cloudsync_rls_seen      | (user_id, tbl, pk): rows a user was sent or wrote; a row that leaves the user's view is removed from their devices only if it is here |

import { decodePk, encodePk } from '../codec/pk.js';
import { type Change, SENTINEL } from '../codec/payload.js';
import type { SqlValue } from '../codec/value.js';
import type { CloudSyncEngine, EncodedPayload } from '../engine/cloudsync.js';
import type { Statement } from '../engine/connection.js';
import { CloudSyncError } from '../engine/errors.js';
import { quoteIdentifier as q } from '../engine/identifiers.js';
import { groupByRow } from '../engine/merge.js';
import { splitPayloads } from '../engine/payload-split.js';
import { causalLength, type CellClock, readRowClocks, type RowClocks } from '../engine/row-clocks.js';
import type { SyncedTable } from '../engine/synced-table.js';
import type { CollectedTable } from '../engine/changes.js';
import { HttpError } from './http-error.js';
import type { Position } from './storage/storage.js';

/** The policies of one table. */
export interface TablePolicy {
  table: string;
  /** Which rows a token user may read; null: none. */
  read: string | null;
  /** Which rows a token user may insert, update or delete (checked before and after); null: none. */
  write: string | null;
}

/** The user a policy is evaluated for. */
export interface PolicyUser {
  userId: string;
  claims: Readonly<Record<string, unknown>>;
}

/** A change the write policy refused. */
export interface Refusal {
  table: string;
  pk: Uint8Array;
  /** The db_version of the source transaction (in the sender's numbering). */
  dbVersion: number;
  reason: string;
}

/** The outcome of an upload by a token user. */
export interface SecuredApply {
  changes: number;
  refused: Refusal[];
  /** The server's current rows for the refused keys the user may read (whole), or null. */
  restore: Uint8Array | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cloudsync_rls_policies (tbl TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, read_expr TEXT, write_expr TEXT);
CREATE TABLE IF NOT EXISTS cloudsync_rls_seen (user_id TEXT NOT NULL, tbl TEXT NOT NULL, pk BLOB NOT NULL, PRIMARY KEY (user_id, tbl, pk)) WITHOUT ROWID;
`;

/**
 * The seq of a horizon marker: above any real seq (seqs stay below 2^30, see row-clocks.ts), so a
 * watermark at (db_version, HORIZON_SEQ) is past every change of that db_version.
 */
export const HORIZON_SEQ = 2 ** 30;

/** A row chosen for a download, before encoding. */
export interface Pick<T extends CollectedTable = SyncedTable> {
  table: T;
  pk: Uint8Array;
  clocks: RowClocks;
  /** Column values when the row is sent whole; null for a removal. */
  values: SqlValue[] | null;
  /** The row's newest position: downloads are ordered by it. */
  last: CellClock;
}

/** Row-level security over one hosted database's engine. */
export class RowSecurity {
  private user: PolicyUser | null = null;
  private cached: Map<string, TablePolicy> | null = null;
  private cachedVersion = -1;
  /** The policies of the operation running now (see `as`). */
  private pinned: Map<string, TablePolicy> | null = null;
  private readonly dataVersion: Statement;
  private insertSeen: Statement | null = null;

  constructor(private readonly engine: CloudSyncEngine) {
    engine.db.exec(SCHEMA);
    this.dataVersion = engine.db.prepare('PRAGMA data_version');
    engine.db.registerFunction('auth_userid', () => this.user?.userId ?? null);
    engine.db.registerFunction('auth_claim', (args) => claimValue(this.user, args[0]));
  }

  /** Every table's policies. */
  policies(): TablePolicy[] {
    return [...this.load().values()];
  }

  /** The policies of a table, or undefined when it has none (then every token user may read and write it). */
  policy(table: string): TablePolicy | undefined {
    return this.load().get(table.toLowerCase());
  }

  /** True when any table has policies: downloads and uploads of token users go through them. */
  get active(): boolean {
    return this.load().size > 0;
  }

  /**
   * Sets the policies of a synced table after compiling each expression against it (with
   * auth_userid() and auth_claim()); an expression that does not compile is refused here.
   */
  setPolicy(table: string, policy: { read: string | null; write: string | null }): TablePolicy {
    const synced = this.engine.table(table);
    if (!synced) throw new HttpError(404, `table '${table}' is not a synced table of this database`);
    for (const [name, expression] of [['read', policy.read], ['write', policy.write]] as const) {
      if (expression === null) continue;
      if (expression.trim() === '' || expression.includes(';')) throw new HttpError(400, `the ${name} policy must be one SQL expression`);
      try {
        this.engine.db.prepare(`SELECT (${expression}) FROM ${synced.quotedName} LIMIT 0`).all();
      } catch (error) {
        throw new HttpError(400, `the ${name} policy of ${synced.name} does not compile: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.engine.db
      .prepare('INSERT INTO cloudsync_rls_policies (tbl, read_expr, write_expr) VALUES (?, ?, ?) ON CONFLICT (tbl) DO UPDATE SET read_expr = excluded.read_expr, write_expr = excluded.write_expr')
      .run([synced.name, policy.read, policy.write]);
    this.cached = null;
    return { table: synced.name, read: policy.read, write: policy.write };
  }

  /** Removes a table's policies: it becomes readable and writable by every token user. */
  removePolicy(table: string): boolean {
    const removed = this.engine.db.prepare('DELETE FROM cloudsync_rls_policies WHERE tbl = ?').run([table]) > 0;
    this.cached = null;
    return removed;
  }

  /**
   * A token user's download: the rows changed after `since` that the read policy lets the user see
   * now, each whole; a removal (or the real delete) for rows the user had that left their view;
   * nothing about any other row. Ordered by each row's newest position and split by size.
   */
  download(user: PolicyUser, site: Uint8Array, since: Position, maxBytes: number): EncodedPayload[] {
    return this.as(user, () => {
      const chosen = this.choose(user, site, since);
      this.remember(user, chosen.filter((p) => p.values !== null));
      // Every change up to the newest db_version was looked at; when the rows sent end before it,
      // a marker that changes nothing moves the device's watermark there, so the next check does
      // not look at the same rows again (and says nothing about them).
      const horizon = { dbVersion: this.engine.storedVersion(), seq: HORIZON_SEQ };
      const lastSent = chosen[chosen.length - 1]?.last;
      const marker = isAfter(horizon, since) && (lastSent === undefined || isAfter(horizon, lastSent)) ? this.horizonMarker(horizon) : null;
      return splitPayloads((sink, begin) => {
        begin(chosen.length * 4 + 1);
        for (const pick of chosen) emitPick(pick, sink, (ordinal) => this.engine.settings.siteId(ordinal));
        if (marker) sink(...marker);
      }, { schemaHash: this.engine.schemaHash(), maxBytes });
    });
  }

  /**
   * Whether the user's download from `since` would bring any row (or the removal of one they had):
   * what a live notice tells a token user. Reads only; remembers nothing.
   */
  hasNews(user: PolicyUser, site: Uint8Array, since: Position): boolean {
    return this.as(user, () => this.choose(user, site, since).length > 0);
  }

  /** The rows of a token user's download from `since`, ordered by their newest position (inside `as`). */
  private choose(user: PolicyUser, site: Uint8Array, since: Position): Pick[] {
    this.engine.log.foldAll(); // writes made on this database by a local connection (a shell)
    const requester = this.engine.settings.findSiteOrdinal(site) ?? -1;
    const picks: Pick[] = [];
    for (const table of this.engine.syncedTables()) {
      const policy = this.policy(table.name);
      if (policy && policy.read === null) continue;
      this.pickRows(table, policy?.read ?? null, since, user, picks);
    }
    picks.sort((a, b) => a.last.dbVersion - b.last.dbVersion || a.last.seq - b.last.seq);
    // A row only this device changed since its watermark needs no echo (the horizon marker in
    // download moves the device's watermark past it).
    return picks.filter((pick) => changedByOthers(pick.clocks, since, requester));
  }

  /**
   * A token user's upload: applied per source transaction (db_version). A transaction touching a
   * row the write policy refuses, before or after the change, is left out whole; the rest applies.
   * All in one SQLite transaction.
   */
  apply(user: PolicyUser, changes: readonly Change[]): SecuredApply {
    this.engine.log.foldAll();
    return this.as(user, () => {
      const db = this.engine.db;
      const refused: Refusal[] = [];
      let applied = 0;
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const group of bySourceTransaction(changes)) {
          const rows = groupByRow(group, this.engine.rowKeyOf);
          const denial = this.checkRows(rows, 'before');
          let reason = denial;
          if (reason === null) {
            db.exec('SAVEPOINT cloudsync_rls');
            this.engine.applyChanges(group, 'upload');
            reason = this.checkRows(rows, 'after');
            if (reason === null) {
              db.exec('RELEASE cloudsync_rls');
            } else {
              db.exec('ROLLBACK TO cloudsync_rls; RELEASE cloudsync_rls');
              this.engine.settings.forget(); // site ids cached by the rolled-back merge
            }
          }
          if (reason !== null) {
            const dbVersion = (group[0] as Change).dbVersion;
            for (const row of rows) refused.push({ table: (row[0] as Change).tbl, pk: (row[0] as Change).pk, dbVersion, reason });
            continue;
          }
          applied += group.length;
          const seen = this.seenInsert();
          for (const row of rows) {
            const first = row[0] as Change;
            seen.run([user.userId, this.engine.table(first.tbl)?.name ?? first.tbl, first.pk]);
          }
        }
        db.exec('COMMIT');
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        this.engine.terminate();
        throw error;
      }
      return { changes: applied, refused, restore: this.restore(user, refused) };
    });
  }

  /**
   * A removal of a primary key no row can have (all NULL) at `position`: applying it changes
   * nothing anywhere, and its position becomes the device's watermark.
   */
  private horizonMarker(position: Position): Parameters<Parameters<Parameters<typeof splitPayloads>[0]>[0]> | null {
    const table = this.engine.syncedTables()[0];
    if (!table) return null;
    const pk = encodePk(new Array<SqlValue>(table.layout.pk.length).fill(null));
    return [table.name, pk, SENTINEL, null, 0, position.dbVersion, this.engine.settings.siteId(0), 0, position.seq];
  }

  /** Runs `work` with auth_userid() and auth_claim() answering for `user`. */
  private as<T>(user: PolicyUser, work: () => T): T {
    this.user = user;
    this.pinned = this.load(); // one look at the policies per operation, not one per row
    try {
      return work();
    } finally {
      this.user = null;
      this.pinned = null;
    }
  }

  private load(): Map<string, TablePolicy> {
    if (this.pinned) return this.pinned;
    // Policies set by another process (the CLI next to a running server) show as a new data_version.
    const version = Number(this.dataVersion.get()?.[0] ?? 0);
    if (version !== this.cachedVersion) this.cached = null;
    this.cachedVersion = version;
    if (this.cached) return this.cached;
    const rows = this.engine.db.prepare('SELECT tbl, read_expr, write_expr FROM cloudsync_rls_policies').all();
    this.cached = new Map(rows.map(([tbl, read, write]) => [String(tbl).toLowerCase(), { table: String(tbl), read: read === null ? null : String(read), write: write === null ? null : String(write) }]));
    return this.cached;
  }

  /** Adds the rows of `table` that the download includes to `picks`. */
  private pickRows(table: SyncedTable, read: string | null, since: Position, user: PolicyUser, picks: Pick[]): void {
    const keyCount = table.layout.pk.length;
    const cellCount = table.cellCount;
    const filter = read === null ? '1' : `(${read})`;
    const pkOf = (values: SqlValue[]) => encodePk(values.slice(0, keyCount));
    const add = (pk: Uint8Array, clocksValue: SqlValue | undefined, values: SqlValue[] | null) => {
      const clocks = readRowClocks(clocksValue, cellCount);
      const last = newest(clocks);
      if (last && isAfter(last, since)) picks.push({ table, pk, clocks, values, last });
    };
    const visible = this.visibleRow(table, filter);
    const seen = table.statement('rls.seen', () => 'SELECT 1 FROM cloudsync_rls_seen WHERE user_id = ? AND tbl = ? AND pk = ?');
    // A removal (the real delete, or a marker when the row still exists: see emit), only for rows
    // the user had: of any other row the user learns nothing.
    const removal = (pk: Uint8Array, clocks: SqlValue | undefined) => {
      if (read !== null && seen.get([user.userId, table.name, pk]) === undefined) return;
      add(pk, clocks, null);
    };
    const columns = table.layout.columns.map((c) => `b.${q(c)}`).join(', ');
    if (since.dbVersion === 0) {
      // Everything: the rows the policy shows (through the table's indexes), then the rows the user had.
      const all = table.statement(`rls.all:${filter}`, () => {
        const keys = table.layout.pk.map((c) => `b.${q(c.name)}`).join(', ');
        const join = table.layout.pk.map((c, i) => `m.pk${i + 1} = b.${q(c.name)}`).join(' AND ');
        return `SELECT ${keys}, m.clocks${columns ? `, ${columns}` : ''} FROM (SELECT * FROM ${table.quotedName} WHERE ${filter}) AS b CROSS JOIN ${table.quotedMeta} AS m ON ${join}`;
      });
      const shown = new Set<string>();
      for (const row of all.iterate()) {
        const pk = pkOf(row);
        shown.add(Buffer.from(pk).toString('latin1'));
        add(pk, row[keyCount], row.slice(keyCount + 1));
      }
      if (read !== null) {
        const had = table.statement('rls.had', () => 'SELECT pk FROM cloudsync_rls_seen WHERE user_id = ? AND tbl = ?');
        for (const [pkValue] of had.all([user.userId, table.name])) {
          const pk = pkValue as Uint8Array;
          if (shown.has(Buffer.from(pk).toString('latin1'))) continue;
          const clocks = table.storedClocks(decodePk(pk));
          if (clocks !== undefined) removal(pk, clocks);
        }
      } else {
        // A table without policies: its deleted rows travel as deletes, as without security.
        this.pickDeleted(table, since, add);
      }
      return;
    }
    // Since a watermark: the few rows changed after it, each looked at through the policy.
    const changed = table.statement('rls.changed', () => `SELECT ${table.layout.pk.map((_, i) => `pk${i + 1}`).join(', ')}, clocks FROM ${table.quotedMeta} WHERE db_version >= ?`);
    // At a horizon nothing of its db_version is left: start after it.
    const from = since.seq >= HORIZON_SEQ ? since.dbVersion + 1 : since.dbVersion;
    for (const row of changed.iterate([BigInt(from)])) {
      const keys = row.slice(0, keyCount);
      const pk = encodePk(keys);
      const values = visible.get(keys);
      if (values) add(pk, row[keyCount], values);
      else removal(pk, row[keyCount]);
    }
  }

  /** The statement reading a row's values when the filter shows it. */
  private visibleRow(table: SyncedTable, filter: string): Statement {
    const columns = table.layout.columns.map((c) => q(c)).join(', ');
    return table.statement(`rls.visible:${filter}`, () => `SELECT ${columns || '1'} FROM ${table.quotedName} WHERE ${table.baseKeyMatch} AND ${filter}`);
  }

  /** Deleted rows (meta without base row) of a table without policies, for a full download. */
  private pickDeleted(table: SyncedTable, since: Position, add: (pk: Uint8Array, clocks: SqlValue | undefined, values: SqlValue[] | null) => void): void {
    const keyCount = table.layout.pk.length;
    const join = table.layout.pk.map((c, i) => `b.${q(c.name)} = m.pk${i + 1}`).join(' AND ');
    const gone = table.statement('rls.gone', () => `SELECT ${table.layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks FROM ${table.quotedMeta} AS m WHERE m.db_version >= ? AND NOT EXISTS (SELECT 1 FROM ${table.quotedName} AS b WHERE ${join})`);
    for (const row of gone.iterate([BigInt(since.dbVersion)])) add(encodePk(row.slice(0, keyCount)), row[keyCount], null);
  }

  /** Records that the user was sent these rows. */
  private remember(user: PolicyUser, picks: readonly Pick[]): void {
    const secured = picks.filter((p) => this.policy(p.table.name) !== undefined);
    if (secured.length === 0) return;
    const db = this.engine.db;
    const outer = db.inTransaction;
    db.exec(outer ? 'SAVEPOINT cloudsync_rls_seen' : 'BEGIN');
    const insert = this.seenInsert();
    for (const pick of secured) insert.run([user.userId, pick.table.name, pick.pk]);
    db.exec(outer ? 'RELEASE cloudsync_rls_seen' : 'COMMIT');
  }

  private seenInsert(): Statement {
    this.insertSeen ??= this.engine.db.prepare('INSERT OR IGNORE INTO cloudsync_rls_seen (user_id, tbl, pk) VALUES (?, ?, ?)');
    return this.insertSeen;
  }

  /** The reason the write policy refuses these rows in their current state, or null. */
  private checkRows(rows: readonly (readonly Change[])[], when: 'before' | 'after'): string | null {
    for (const row of rows) {
      const first = row[0] as Change;
      const table = this.engine.table(first.tbl);
      if (!table) throw new CloudSyncError('NOT_FOUND', `upload: unknown table ${first.tbl}`);
      const policy = this.policy(table.name);
      if (!policy) continue;
      if (policy.write === null) return `table ${table.name} accepts no writes from users (it has policies but no write policy)`;
      const keys = decodePk(first.pk);
      const exists = table.statement('rls.exists', () => `SELECT 1 FROM ${table.quotedName} WHERE ${table.baseKeyMatch}`).get(keys) !== undefined;
      if (!exists) continue; // an insert has no row before; a delete none after
      const allowed = table.statement(`rls.write:${policy.write}`, () => `SELECT 1 FROM ${table.quotedName} WHERE ${table.baseKeyMatch} AND (${policy.write})`).get(keys);
      if (allowed === undefined) return `the write policy of ${table.name} refuses this row ${when} the change`;
    }
    return null;
  }

  /** The server's rows for refused keys that the user may read, whole, as a payload. */
  private restore(user: PolicyUser, refused: readonly Refusal[]): Uint8Array | null {
    if (refused.length === 0) return null;
    const picks: Pick[] = [];
    for (const refusal of refused) {
      const table = this.engine.table(refusal.table);
      const policy = table && this.policy(table.name);
      if (!table || (policy && policy.read === null)) continue;
      const keys = decodePk(refusal.pk);
      const values = this.visibleRow(table, policy?.read ? `(${policy.read})` : '1').get(keys);
      const stored = table.storedClocks(keys);
      if (!values || stored === undefined) continue;
      const clocks = readRowClocks(stored, table.cellCount);
      const last = newest(clocks);
      if (last) picks.push({ table, pk: refusal.pk, clocks, values, last });
    }
    if (picks.length === 0) return null;
    this.remember(user, picks);
    const [payload] = splitPayloads((sink) => picks.forEach((p) => emitPick(p, sink, (ordinal) => this.engine.settings.siteId(ordinal))), { schemaHash: this.engine.schemaHash(), maxBytes: Number.MAX_SAFE_INTEGER });
    return payload?.payload ?? null;
  }
}

/** What a download's rows are written into (splitPayloads' sink). */
export type PickSink = Parameters<Parameters<typeof splitPayloads>[0]>[0];

/** Emits a picked row: its sentinel and cells (newest last), a delete, or a removal marker. */
export function emitPick(pick: Pick<CollectedTable>, sink: PickSink, siteOf: (ordinal: number) => Uint8Array): void {
  const { table, pk, clocks, values, last } = pick;
  const cl = causalLength(clocks);
  if (values === null) {
    const sentinel = clocks.sentinel;
    if (sentinel && cl % 2 === 0) {
      // the row is deleted here: its delete, as any peer would send it
      sink(table.name, pk, SENTINEL, null, sentinel.version, sentinel.dbVersion, siteOf(sentinel.site), cl, sentinel.seq);
    } else {
      // the row exists but left the user's view: causal length 0 takes it off the device
      sink(table.name, pk, SENTINEL, null, 0, last.dbVersion, siteOf(last.site), 0, last.seq);
    }
    return;
  }
  const parts: { column: number; clock: CellClock }[] = [];
  if (clocks.sentinel) parts.push({ column: -1, clock: clocks.sentinel });
  clocks.cells.forEach((clock, column) => clock && parts.push({ column, clock }));
  parts.sort((a, b) => a.clock.dbVersion - b.clock.dbVersion || a.clock.seq - b.clock.seq);
  for (const { column, clock } of parts) {
    const name = column < 0 ? SENTINEL : (table.layout.columns[column] as string);
    const value = column < 0 ? null : (values[column] ?? null);
    sink(table.name, pk, name, value, clock.version, clock.dbVersion, siteOf(clock.site), cl, clock.seq);
  }
}

/** The changes of each source transaction (same db_version), in payload order. */
export function bySourceTransaction(changes: readonly Change[]): Change[][] {
  const groups = new Map<number, Change[]>();
  for (const change of changes) {
    let group = groups.get(change.dbVersion);
    if (!group) groups.set(change.dbVersion, (group = []));
    group.push(change);
  }
  return [...groups.values()];
}

export function newest(clocks: RowClocks): CellClock | null {
  let last: CellClock | null = clocks.sentinel;
  for (const cell of clocks.cells) if (cell && (last === null || isAfter(cell, last))) last = cell;
  return last;
}

export function isAfter(a: { dbVersion: number; seq: number }, b: { dbVersion: number; seq: number }): boolean {
  return a.dbVersion > b.dbVersion || (a.dbVersion === b.dbVersion && a.seq > b.seq);
}

/** True when a clock after `since` came from a site other than `requester`. */
export function changedByOthers(clocks: RowClocks, since: Position, requester: number): boolean {
  const others = (c: CellClock | null) => c !== null && c.site !== requester && isAfter(c, since);
  return others(clocks.sentinel) || clocks.cells.some(others);
}

/** auth_claim(name): a claim as a SQL value (objects and arrays as JSON text). */
export function claimValue(user: PolicyUser | null, name: SqlValue | undefined): SqlValue {
  if (user === null || typeof name !== 'string') return null;
  const value = user.claims[name];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  return JSON.stringify(value);
}
