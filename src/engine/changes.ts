// Reading the tracked changes of synced tables, in the reference's nine-column shape, ordered by
// db_version and seq: the fast path behind payload encoding and the TypeScript API.
//
// One read collects every change into flat numeric arrays, and writes each row's key (as a BLOB
// value) and each cell's value straight into one byte buffer in the payload's value encoding: no
// object per change and no row kept alive, so the garbage of a read dies young. An encoder then
// copies those bytes; change() decodes them.

import { type Change, type PayloadEncoder, SENTINEL } from '../codec/payload.js';
import { writePkValue } from '../codec/pk.js';
import { ByteReader, ByteWriter, readValue, type SqlValue, writeValue } from '../codec/value.js';
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

/** Reads the changes of `tables` that pass the filter, on the caller's snapshot. */
export function collectChanges(tables: readonly SyncedTable[], filter: ChangeFilter, siteIdOf: SiteIdOf, sites: SiteMatch): CollectedChanges {
  const since = filter.sinceDbVersion ?? 0;
  const sinceSeq = filter.sinceSeq ?? Number.POSITIVE_INFINITY;
  const collected = new CollectedChanges(siteIdOf);
  for (const table of tables) collectTable(table, since, sinceSeq, sites, collected);
  collected.sort(sites.skip ?? null);
  return collected;
}

/** What collecting needs of a table: its name, key width and tracked columns in clock order. */
export interface CollectedTable {
  readonly name: string;
  readonly layout: { readonly pk: readonly unknown[]; readonly columns: readonly string[] };
}

/** The changes of one read, in (db_version, seq) order once sorted. */
export class CollectedChanges {
  /** The encoded values: byte 0 is a NULL (the sentinel's value), then keys and cell values. */
  readonly bytes = new ByteWriter(256 * 1024);
  readonly tables: CollectedTable[] = [];
  // per row
  private rowCount = 0;
  private rowTable = new Int32Array(1024);
  private rowPk = new Int32Array(1024);
  private rowPkEnd = new Int32Array(1024);
  private rowCl = new Float64Array(1024);
  // per change, in read order
  private count = 0;
  private row = new Int32Array(1024);
  private cell = new Int32Array(1024);
  private valueAt = new Int32Array(1024);
  private valueEnd = new Int32Array(1024);
  private version = new Float64Array(1024);
  private dbVersion = new Float64Array(1024);
  private seq = new Float64Array(1024);
  private site = new Float64Array(1024);
  private ordered = true;
  /** The changes' indexes in (db_version, seq) order, skipped ones left out. */
  private order: Uint32Array = new Uint32Array(0);
  private readonly siteIds = new Map<number, Uint8Array>();

  constructor(private readonly siteIdOf: SiteIdOf) {
    writeValue(this.bytes, null);
  }

  /** The number of changes (after sort). */
  get length(): number {
    return this.order.length;
  }

  /** Starts a row: writes its key; returns the row's number. */
  addRow(table: number, values: readonly SqlValue[], keyCount: number, cl: number): number {
    if (this.rowCount === this.rowTable.length) {
      const size = this.rowCount * 2;
      this.rowTable = grown(this.rowTable, new Int32Array(size));
      this.rowPk = grown(this.rowPk, new Int32Array(size));
      this.rowPkEnd = grown(this.rowPkEnd, new Int32Array(size));
      this.rowCl = grown(this.rowCl, new Float64Array(size));
    }
    const n = this.rowCount++;
    this.rowTable[n] = table;
    this.rowPk[n] = this.bytes.position;
    this.rowCl[n] = cl;
    writePkValue(this.bytes, values, keyCount);
    this.rowPkEnd[n] = this.bytes.position;
    return n;
  }

  /** Adds a change of row `row`: `cell` is the column's index, -1 for the sentinel (whose value is NULL). */
  addChange(row: number, cell: number, value: SqlValue, version: number, dbVersion: number, seq: number, site: number): void {
    if (this.count === this.row.length) this.grow();
    const n = this.count++;
    if (n > 0) {
      const previousDb = this.dbVersion[n - 1] as number;
      if (previousDb > dbVersion || (previousDb === dbVersion && (this.seq[n - 1] as number) > seq)) this.ordered = false;
    }
    this.row[n] = row;
    this.cell[n] = cell;
    if (cell < 0) {
      this.valueAt[n] = 0;
      this.valueEnd[n] = 1;
    } else {
      this.valueAt[n] = this.bytes.position;
      writeValue(this.bytes, value);
      this.valueEnd[n] = this.bytes.position;
    }
    this.version[n] = version;
    this.dbVersion[n] = dbVersion;
    this.seq[n] = seq;
    this.site[n] = site;
  }

  /** Rows added so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Orders the changes; `skipped` (a site ordinal) leaves that site's changes out except the very last one. */
  sort(skipped: number | null): void {
    const order = this.inOrder();
    if (skipped === null) {
      this.order = order;
      return;
    }
    let kept = 0;
    for (let j = 0; j < order.length; j++) {
      const i = order[j] as number;
      if (this.site[i] !== skipped || j === order.length - 1) order[kept++] = i;
    }
    this.order = order.subarray(0, kept);
  }

  /** The db_version of the j-th change in order. */
  dbVersionAt(j: number): number {
    return this.dbVersion[this.order[j] as number] as number;
  }

  /** The seq of the j-th change in order. */
  seqAt(j: number): number {
    return this.seq[this.order[j] as number] as number;
  }

  /** Appends the j-th change in order to `encoder`, copying its encoded key and value. */
  encodeInto(encoder: PayloadEncoder, j: number): void {
    const i = this.order[j] as number;
    const row = this.row[i] as number;
    const table = this.tables[this.rowTable[row] as number] as CollectedTable;
    const cell = this.cell[i] as number;
    const colName = cell < 0 ? SENTINEL : (table.layout.columns[cell] as string);
    const site = this.siteOf(this.site[i] as number);
    const bytes = this.bytes.buffer;
    encoder.addEncodedRow(table.name, bytes.subarray(this.rowPk[row] as number, this.rowPkEnd[row] as number), colName, bytes.subarray(this.valueAt[i] as number, this.valueEnd[i] as number), this.version[i] as number, this.dbVersion[i] as number, site, this.rowCl[row] as number, this.seq[i] as number);
  }

  /** The j-th change in order, decoded. */
  change(j: number): Change {
    const i = this.order[j] as number;
    const row = this.row[i] as number;
    const table = this.tables[this.rowTable[row] as number] as CollectedTable;
    const cell = this.cell[i] as number;
    const bytes = this.bytes.finish();
    const pk = readValue(new ByteReader(bytes, this.rowPk[row] as number)) as Uint8Array;
    const value = cell < 0 ? null : readValue(new ByteReader(bytes, this.valueAt[i] as number));
    return {
      tbl: table.name,
      pk: pk.slice(),
      colName: cell < 0 ? SENTINEL : (table.layout.columns[cell] as string),
      colValue: value instanceof Uint8Array ? value.slice() : value,
      colVersion: this.version[i] as number,
      dbVersion: this.dbVersion[i] as number,
      siteId: this.siteOf(this.site[i] as number),
      cl: this.rowCl[row] as number,
      seq: this.seq[i] as number,
    };
  }

  private siteOf(ordinal: number): Uint8Array {
    let id = this.siteIds.get(ordinal);
    if (!id) this.siteIds.set(ordinal, (id = this.siteIdOf(ordinal)));
    return id;
  }

  /**
   * Indexes of the changes in (db_version, seq) order: a counting pass per db_version (there are
   * few of them per read), then a sort by seq only inside buckets that are out of order.
   */
  private inOrder(): Uint32Array {
    const n = this.count;
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
    this.row = grown(this.row, new Int32Array(size));
    this.cell = grown(this.cell, new Int32Array(size));
    this.valueAt = grown(this.valueAt, new Int32Array(size));
    this.valueEnd = grown(this.valueEnd, new Int32Array(size));
    this.version = grown(this.version, new Float64Array(size));
    this.dbVersion = grown(this.dbVersion, new Float64Array(size));
    this.seq = grown(this.seq, new Float64Array(size));
    this.site = grown(this.site, new Float64Array(size));
  }
}

function grown<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

// The buffer collectTable reads each row's clocks into.
let parts = new Float64Array(64);

function collectTable(table: SyncedTable, since: number, sinceSeq: number, sites: SiteMatch, collected: CollectedChanges): void {
  // Every row: a scan in key order, which is cheaper than walking the db_version index (the
  // changes are put in order afterwards anyway).
  const all = since < 0 || (since === 0 && sinceSeq === Number.POSITIVE_INFINITY);
  const statement = table.statement(all ? 'changes.all' : 'changes.since', () => {
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const keys = table.layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ');
    const values = table.layout.columns.map((c) => `b.${quote(c)}`).join(', ');
    const join = table.layout.pk.map((c, i) => `b.${quote(c.name)} = m.pk${i + 1}`).join(' AND ');
    return `SELECT ${keys}, m.clocks, b.${quote(table.layout.pk[0]?.name ?? '')} IS NOT NULL${values ? `, ${values}` : ''}
      FROM ${table.quotedMeta} AS m LEFT JOIN ${table.quotedName} AS b ON ${join}${all ? '' : ' WHERE m.db_version >= ? ORDER BY m.db_version'}`;
  });
  collectRows(table, all ? statement.iterate() : statement.iterate([BigInt(since)]), since, sinceSeq, sites, collected);
}

/**
 * Adds the changes of a table's meta rows to `collected`. Each row is the key values, the
 * clocks, 1 (or true) when the base row exists, then the base row's column values in clock order.
 */
export function collectRows(table: CollectedTable, rows: Iterable<readonly unknown[]>, since: number, sinceSeq: number, sites: SiteMatch, collected: CollectedChanges): void {
  const keyCount = table.layout.pk.length;
  const columns = table.layout.columns;
  const tableNumber = collected.tables.push(table) - 1;
  const passes = (dbVersion: number, seq: number, site: number) =>
    (dbVersion > since || (dbVersion === since && seq > sinceSeq)) && (sites.only === null || site === sites.only) && site !== sites.except;
  const partCount = columns.length + 1;
  parts = clockBuffer(parts, partCount);
  const clocks = parts;
  for (const values of rows) {
    readClockParts(values[keyCount], partCount, clocks);
    // Cells of a row that is gone cannot be read (the reference drops them too): only the sentinel then.
    const last = Number(values[keyCount + 1]) === 1 ? partCount : 1;
    let row = -1;
    for (let p = 0; p < last; p++) {
      const at = p * PART_SIZE;
      const version = clocks[at] as number;
      if (version < 0) continue;
      const dbVersion = clocks[at + 1] as number;
      const seq = clocks[at + 2] as number;
      const site = clocks[at + 3] as number;
      if (!passes(dbVersion, seq, site)) continue;
      if (row < 0) row = collected.addRow(tableNumber, values as readonly SqlValue[], keyCount, causalLengthOfParts(clocks, partCount));
      collected.addChange(row, p - 1, p === 0 ? null : ((values[keyCount + 1 + p] ?? null) as SqlValue), version, dbVersion, seq, site);
    }
  }
}
