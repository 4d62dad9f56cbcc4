// Reading the tracked changes of synced tables, in the reference's nine-column shape, ordered by
// db_version and seq: the fast path behind payload encoding and the TypeScript API.

import { encodePk } from '../codec/pk.js';
import { type Change, SENTINEL } from '../codec/payload.js';
import type { SqlValue } from '../codec/value.js';
import { causalLength, readRowClocks } from './row-clocks.js';
import type { SyncedTable } from './synced-table.js';

/** Which changes to read. */
export interface ChangeFilter {
  /** Only changes with a db_version greater than this (default: all). */
  sinceDbVersion?: number;
  /** With `sinceDbVersion`: also the changes at exactly that db_version whose seq is greater. */
  sinceSeq?: number;
  /** 'local': only this site's own changes; a site id: only that site's; default all. */
  site?: 'local' | Uint8Array;
  /** Only these tables (default: every synced table). */
  tables?: readonly string[];
}

/** Resolves site ordinals to site ids. */
export type SiteIdOf = (ordinal: number) => Uint8Array;

/** Reads the changes of the given tables that pass the filter, ordered by (db_version, seq). */
export function readChanges(tables: readonly SyncedTable[], filter: ChangeFilter, siteIdOf: SiteIdOf, siteOrdinal: number | null): Change[] {
  const since = filter.sinceDbVersion ?? 0;
  const sinceSeq = filter.sinceSeq ?? Number.POSITIVE_INFINITY;
  const out: Change[] = [];
  for (const table of tables) readTable(table, since, sinceSeq, siteIdOf, siteOrdinal, out);
  return isOrdered(out) ? out : sortChanges(out);
}

/** Orders changes by (db_version, seq): bucketed by db_version, as most buckets are already in seq order. */
function sortChanges(changes: Change[]): Change[] {
  const buckets = new Map<number, Change[]>();
  for (const change of changes) {
    let bucket = buckets.get(change.dbVersion);
    if (!bucket) buckets.set(change.dbVersion, (bucket = []));
    bucket.push(change);
  }
  const out: Change[] = [];
  for (const version of [...buckets.keys()].sort((a, b) => a - b)) {
    const bucket = buckets.get(version) as Change[];
    if (!isOrdered(bucket)) bucket.sort((a, b) => a.seq - b.seq);
    for (const change of bucket) out.push(change);
  }
  return out;
}

function readTable(table: SyncedTable, since: number, sinceSeq: number, siteIdOf: SiteIdOf, siteOrdinal: number | null, out: Change[]): void {
  const keyCount = table.layout.pk.length;
  const columns = table.layout.columns;
  const statement = table.statement('changes.since', () => {
    const keys = table.layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ');
    const values = columns.map((c) => `b."${c.replaceAll('"', '""')}"`).join(', ');
    const join = table.layout.pk.map((c, i) => `b."${c.name.replaceAll('"', '""')}" = m.pk${i + 1}`).join(' AND ');
    const firstKey = `b."${(table.layout.pk[0]?.name ?? '').replaceAll('"', '""')}"`;
    return `SELECT ${keys}, m.db_version, m.clocks, ${firstKey} IS NOT NULL${values ? `, ${values}` : ''}
      FROM ${table.quotedMeta} AS m LEFT JOIN ${table.quotedName} AS b ON ${join} WHERE m.db_version >= ? ORDER BY m.db_version`;
  });
  const sites = new Map<number, Uint8Array>();
  const site = (ordinal: number) => {
    let id = sites.get(ordinal);
    if (!id) sites.set(ordinal, (id = siteIdOf(ordinal)));
    return id;
  };
  const passes = (dbVersion: number, seq: number, ordinal: number) =>
    (dbVersion > since || (dbVersion === since && seq > sinceSeq)) && (siteOrdinal === null || ordinal === siteOrdinal);
  for (const row of statement.iterate([BigInt(since)])) {
    const rowDbVersion = Number(row[keyCount]);
    const clocks = readRowClocks(row[keyCount + 1], rowDbVersion, columns.length);
    const baseExists = Number(row[keyCount + 2]) === 1;
    const cl = causalLength(clocks);
    let pk: Uint8Array | null = null;
    const pkOf = () => (pk ??= encodePk(row.slice(0, keyCount)));
    const sentinel = clocks.sentinel;
    if (sentinel && passes(sentinel.dbVersion, sentinel.seq, sentinel.site)) {
      out.push(change(table.name, pkOf(), SENTINEL, null, sentinel.version, sentinel.dbVersion, site(sentinel.site), cl, sentinel.seq));
    }
    if (!baseExists) continue; // cells of a row that is gone cannot be read (the reference drops them too)
    for (let i = 0; i < columns.length; i++) {
      const cell = clocks.cells[i];
      if (!cell || !passes(cell.dbVersion, cell.seq, cell.site)) continue;
      out.push(change(table.name, pkOf(), columns[i] ?? '', (row[keyCount + 3 + i] ?? null) as SqlValue, cell.version, cell.dbVersion, site(cell.site), cl, cell.seq));
    }
  }
}

function change(tbl: string, pk: Uint8Array, colName: string, colValue: SqlValue, colVersion: number, dbVersion: number, siteId: Uint8Array, cl: number, seq: number): Change {
  return { tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq };
}

function isOrdered(changes: readonly Change[]): boolean {
  for (let i = 1; i < changes.length; i++) {
    const a = changes[i - 1] as Change;
    const b = changes[i] as Change;
    if (a.dbVersion > b.dbVersion || (a.dbVersion === b.dbVersion && a.seq > b.seq)) return false;
  }
  return true;
}
