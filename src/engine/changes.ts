// Reading the tracked changes of synced tables, in the reference's nine-column shape, ordered by
// db_version and seq: the fast path behind payload encoding and the TypeScript API.

import { encodePk } from '../codec/pk.js';
import { type PayloadEncoder, SENTINEL } from '../codec/payload.js';
import type { SqlValue } from '../codec/value.js';
import { clockBuffer, PART_SIZE } from './clock-text.js';
import { causalLengthOfParts, readClockParts } from './row-clocks.js';
import type { SyncedTable } from './synced-table.js';

/** Which changes to read. */
export interface ChangeFilter {
  /** Only changes with a db_version greater than this (default: all). */
  sinceDbVersion?: number;
  /** With `sinceDbVersion`: also the changes at exactly that db_version whose seq is greater. */
  sinceSeq?: number;
  /** 'local': only this site's own changes; a site id: only that site's; default all. */
  site?: 'local' | Uint8Array;
  /** Leave out the changes that came from this site (what a server sends back to a client). */
  excludeSite?: Uint8Array;
  /**
   * With `excludeSite`: still deliver the last change of the range when it came from that site,
   * so that the receiver's watermark moves past the changes it was spared (applying one's own
   * change again changes nothing).
   */
  keepLast?: boolean;
  /** Only these tables (default: every synced table). */
  tables?: readonly string[];
}

/** Receives the changes in order, as the nine values of a cloudsync_changes row (PayloadEncoder.addRow's shape). */
export type ChangeSink = (...row: Parameters<PayloadEncoder['addRow']>) => void;

/** Resolves site ordinals to site ids. */
export type SiteIdOf = (ordinal: number) => Uint8Array;

/**
 * Which site ordinals pass: `only` (null: any) and not `except` (null: none). `skip` is left out
 * too, except for the very last change of the range.
 */
export interface SiteMatch {
  only: number | null;
  except: number | null;
  skip?: number | null;
}

/**
 * Calls `begin` with the number of changes, then `sink` for every change of the given tables
 * that passes the filter, in (db_version, seq) order. Rows are read once through the db_version index; cells are kept as small numeric
 * records and sorted only when the rows did not already come in order.
 */
export function visitChanges(
  tables: readonly SyncedTable[],
  filter: ChangeFilter,
  siteIdOf: SiteIdOf,
  sites: SiteMatch,
  sink: ChangeSink,
  begin?: (count: number) => void,
): void {
  const since = filter.sinceDbVersion ?? 0;
  const sinceSeq = filter.sinceSeq ?? Number.POSITIVE_INFINITY;
  const records = new ChangeRecords();
  for (const table of tables) collectTable(table, since, sinceSeq, sites, records);
  const siteIds = new Map<number, Uint8Array>();
  const siteOf = (ordinal: number) => {
    let id = siteIds.get(ordinal);
    if (!id) siteIds.set(ordinal, (id = siteIdOf(ordinal)));
    return id;
  };
  begin?.(records.length);
  const order = records.order();
  const skipped = sites.skip ?? null;
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number;
    if (skipped !== null && records.site[i] === skipped && j !== order.length - 1) continue;
    const row = records.rows[records.row[i] as number] as CollectedRow;
    const cell = records.cell[i] as number;
    const table = row.table;
    const keyCount = table.layout.pk.length;
    row.pk ??= encodePk(row.values.slice(0, keyCount));
    const colName = cell < 0 ? SENTINEL : (table.layout.columns[cell] as string);
    const colValue = cell < 0 ? null : ((row.values[keyCount + 2 + cell] ?? null) as SqlValue);
    sink(table.name, row.pk, colName, colValue, records.version[i] as number, records.dbVersion[i] as number, siteOf(records.site[i] as number), row.cl, records.seq[i] as number);
  }
}

interface CollectedRow {
  table: SyncedTable;
  /** The query row: key values, clocks, base-row-exists flag, column values. */
  values: SqlValue[];
  cl: number;
  pk?: Uint8Array;
}

/** Changes as parallel numeric arrays (no object per change). */
class ChangeRecords {
  readonly rows: CollectedRow[] = [];
  row: Int32Array = new Int32Array(1024);
  cell: Int32Array = new Int32Array(1024);
  version: Float64Array = new Float64Array(1024);
  dbVersion: Float64Array = new Float64Array(1024);
  seq: Float64Array = new Float64Array(1024);
  site: Float64Array = new Float64Array(1024);
  length = 0;
  private ordered = true;

  add(row: number, cell: number, version: number, dbVersion: number, seq: number, site: number): void {
    if (this.length === this.row.length) this.grow();
    const n = this.length++;
    if (n > 0) {
      const previousDb = this.dbVersion[n - 1] as number;
      if (previousDb > dbVersion || (previousDb === dbVersion && (this.seq[n - 1] as number) > seq)) this.ordered = false;
    }
    this.row[n] = row;
    this.cell[n] = cell;
    this.version[n] = version;
    this.dbVersion[n] = dbVersion;
    this.seq[n] = seq;
    this.site[n] = site;
  }

  /**
   * Indexes of the records in (db_version, seq) order: a counting pass per db_version (there are
   * few of them per read), then a sort by seq only inside buckets that are out of order.
   */
  order(): Uint32Array {
    const n = this.length;
    const indexes = new Uint32Array(n);
    if (this.ordered) {
      for (let i = 0; i < n; i++) indexes[i] = i;
      return indexes;
    }
    const db = this.dbVersion;
    const seq = this.seq;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) counts.set(db[i] as number, (counts.get(db[i] as number) ?? 0) + 1);
    const starts = new Map<number, number>();
    let offset = 0;
    for (const version of [...counts.keys()].sort((a, b) => a - b)) {
      starts.set(version, offset);
      offset += counts.get(version) as number;
    }
    const next = new Map(starts);
    for (let i = 0; i < n; i++) {
      const at = next.get(db[i] as number) as number;
      indexes[at] = i;
      next.set(db[i] as number, at + 1);
    }
    for (const [version, start] of starts) {
      const end = start + (counts.get(version) as number);
      let sorted = true;
      for (let k = start + 1; k < end && sorted; k++) sorted = (seq[indexes[k - 1] as number] as number) <= (seq[indexes[k] as number] as number);
      if (!sorted) indexes.subarray(start, end).sort((a, b) => (seq[a] as number) - (seq[b] as number));
    }
    return indexes;
  }

  private grow(): void {
    const size = this.row.length * 2;
    const grow = <T extends Int32Array | Float64Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.row = grow(this.row, new Int32Array(size));
    this.cell = grow(this.cell, new Int32Array(size));
    this.version = grow(this.version, new Float64Array(size));
    this.dbVersion = grow(this.dbVersion, new Float64Array(size));
    this.seq = grow(this.seq, new Float64Array(size));
    this.site = grow(this.site, new Float64Array(size));
  }
}

// The buffer collectTable reads each row's clocks into.
let parts = new Float64Array(64);

function collectTable(table: SyncedTable, since: number, sinceSeq: number, sites: SiteMatch, records: ChangeRecords): void {
  const keyCount = table.layout.pk.length;
  const columns = table.layout.columns;
  const statement = table.statement('changes.since', () => {
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const keys = table.layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ');
    const values = columns.map((c) => `b.${quote(c)}`).join(', ');
    const join = table.layout.pk.map((c, i) => `b.${quote(c.name)} = m.pk${i + 1}`).join(' AND ');
    return `SELECT ${keys}, m.clocks, b.${quote(table.layout.pk[0]?.name ?? '')} IS NOT NULL${values ? `, ${values}` : ''}
      FROM ${table.quotedMeta} AS m LEFT JOIN ${table.quotedName} AS b ON ${join} WHERE m.db_version >= ? ORDER BY m.db_version`;
  });
  const passes = (dbVersion: number, seq: number, site: number) =>
    (dbVersion > since || (dbVersion === since && seq > sinceSeq)) && (sites.only === null || site === sites.only) && site !== sites.except;
  const partCount = columns.length + 1;
  parts = clockBuffer(parts, partCount);
  const clocks = parts;
  for (const values of statement.iterate([BigInt(since)])) {
    readClockParts(values[keyCount], partCount, clocks);
    const baseExists = Number(values[keyCount + 1]) === 1;
    const rowIndex = records.rows.length;
    let used = false;
    // Cells of a row that is gone cannot be read (the reference drops them too): only the sentinel then.
    const last = baseExists ? partCount : 1;
    for (let p = 0; p < last; p++) {
      const at = p * PART_SIZE;
      const version = clocks[at] as number;
      if (version < 0) continue;
      const dbVersion = clocks[at + 1] as number;
      const seq = clocks[at + 2] as number;
      const site = clocks[at + 3] as number;
      if (!passes(dbVersion, seq, site)) continue;
      records.add(rowIndex, p - 1, version, dbVersion, seq, site);
      used = true;
    }
    if (used) records.rows.push({ table, values, cl: causalLengthOfParts(clocks, partCount) });
  }
}
