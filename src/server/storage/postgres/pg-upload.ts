// An upload merged into PostgreSQL: the rows it touches are read in a few queries (clocks with one
// `= ANY` per batch, base values only for rows that have clocks), merged in Node by the engine's
// rules (pg-merge.ts), and written back in a few statements: new rows by COPY (pg-copy.ts), the
// others by INSERT … unnest … ON CONFLICT. The caller's transaction holds the state lock.

import type { PoolClient } from 'pg';
import { decodePk } from '../../../codec/pk.js';
import type { Change } from '../../../codec/payload.js';
import type { SqlValue } from '../../../codec/value.js';
import { CloudSyncError, unexpected } from '../../../engine/errors.js';
import { type CellClock, maxDbVersion, readRowClocks, writeRowClocks } from '../../../engine/row-clocks.js';
import type { Position } from '../storage.js';
import { type PgColumn, pgName, pgType, toPg, fromPg } from './pg-layout.js';
import { type HostedTable, keyText } from './pg-hosted-table.js';
import { mergeRow, type RowOutcome } from './pg-merge.js';
import { type CopyValue, copyNewRows } from './pg-copy.js';
import type { PgSites } from './pg-sites.js';

/** Rows per statement when writing or looking up many rows (parameters travel as arrays). */
const BATCH_ROWS = 10_000;

/**
 * Rows from which bulk paths pay: COPY (under a savepoint: three round trips) instead of one
 * INSERT … ON CONFLICT, and skipping the lookups of a payload of first writes. A device's usual
 * upload of a few rows takes the fewest statements instead.
 */
export const BULK_ROWS = 200;

/** The hosted database an upload merges into. */
export interface UploadTarget {
  readonly schema: string;
  readonly sites: PgSites;
  table(name: string): HostedTable | undefined;
}

/**
 * The changes of an upload, row by row: a payload's rows are decoded again (from offsets) when
 * merged, so that decoded changes die young instead of living through the whole apply; the first
 * pass reads only their keys. `siteIds` are the distinct sites of its changes.
 */
export interface RowSource {
  rows(): Iterable<readonly Change[]>;
  /** Each row's table name and primary key bytes, in the order of `rows()`. */
  keys(): Iterable<{ table: string; pk: Uint8Array }>;
  /** Every change looks like a row's first write (a device's inserts): its rows are likely not stored yet. */
  likelyNew?: boolean;
  siteIds: Uint8Array[];
}

/**
 * A run: every change stored after position `from` is of site `site` (by ordinal). A device of
 * that site checking from `from` or later has nothing of others to download: it is answered with
 * the newest change alone, which moves its watermark (see PgPeer.download), instead of reading
 * every change it uploaded since its last check.
 */
export interface Run {
  site: number;
  from: Position;
}

/** The state row as an upload found it under the lock. */
export interface LockedState {
  dbVersion: number;
  /** The seq of the newest change (1073741824 when not known). */
  lastSeq: number;
  /** The run up to the newest change; null when there is none or it was not kept up by the newest upload. */
  run: Run | null;
  /** False under row-level security (its merges go source transaction by source transaction): no run is kept. */
  tracksRuns: boolean;
}

/** A row an upload touches, with what is stored of it. */
interface TouchedRow {
  table: HostedTable;
  key: SqlValue[];
  stored: string | null;
  values: SqlValue[] | null;
  outcome: RowOutcome | null;
}

/**
 * Merges checked changes inside the caller's transaction, which holds the state lock; returns the
 * sites it added (to remember once committed) and the newest position after (db_version, seq).
 */
export async function mergeUpload(client: PoolClient, target: UploadTarget, source: RowSource, state: LockedState): Promise<{ added: Map<number, Uint8Array>; after: number; lastSeq: number }> {
  const { ordinals, added } = await target.sites.ordinalsFor(client, source.siteIds);
  if (source.likelyNew) {
    // merged as if none of its rows were stored, which the meta rows' COPY proves (or refutes: then merged again, reading them)
    await client.query('SAVEPOINT cloudsync_new_rows');
    const merged = await mergeOnce(client, target, source, state, ordinals, 'assume new');
    if (merged !== null) {
      await client.query('RELEASE cloudsync_new_rows');
      return { added, ...merged };
    }
    await client.query('ROLLBACK TO cloudsync_new_rows; RELEASE cloudsync_new_rows');
  }
  return { added, ...((await mergeOnce(client, target, source, state, ordinals)) as { after: number; lastSeq: number }) };
}

/** One merge and its writes, and the newest position after; with 'assume new', only the first row is read, and null when another turned out to be stored. */
async function mergeOnce(client: PoolClient, target: UploadTarget, source: RowSource, state: LockedState, ordinals: Map<string, number>, assume?: 'assume new'): Promise<{ after: number; lastSeq: number } | null> {
  let committed = state.dbVersion;
  const fn = 'upload';
  const before = committed;
  let lastId: Uint8Array | null = null;
  let lastOrdinal = 0;
  const siteOf = (change: Change) => {
    if (change.siteId !== lastId) {
      lastId = change.siteId;
      lastOrdinal = ordinals.get(Buffer.from(change.siteId).toString('hex')) as number;
    }
    return lastOrdinal;
  };
  // one local db_version per source transaction, as the engine's merge takes them; changes
  // come transaction by transaction, so the last one answers most lookups
  const taken = new Map<number, Map<number, number>>();
  let lastSite = -1;
  let lastRemote = -1;
  let lastVersion = -1;
  const versionOf = (site: number, remote: number) => {
    if (site === lastSite && remote === lastRemote) return lastVersion;
    let bySite = taken.get(site);
    if (!bySite) taken.set(site, (bySite = new Map()));
    let version = bySite.get(remote);
    if (version === undefined) {
      version = Math.max(committed + 1, remote);
      committed = version;
      bySite.set(remote, version);
    }
    lastSite = site;
    lastRemote = remote;
    lastVersion = version;
    return version;
  };
  // first pass: each row's key, then what is stored of them, read in batches
  const touched: TouchedRow[] = [];
  const byTable = new Map<HostedTable, TouchedRow[]>();
  let last: HostedTable | undefined;
  for (const { table: name, pk } of source.keys()) {
    // the changes were checked against the tables (again once locked, if another node created the database again)
    const table = last?.name === name ? last : target.table(name);
    if (!table) unexpected(`an upload names table ${name}, which its checks did not refuse`);
    last = table;
    let key: SqlValue[];
    try {
      key = decodePk(pk);
    } catch (error) {
      throw new CloudSyncError('PAYLOAD', `${fn}: bad primary key of table ${table.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (key.length !== table.shape.pk.length) throw new CloudSyncError('PAYLOAD', `${fn}: primary key of ${table.name} has ${key.length} values, the table has ${table.shape.pk.length} key columns`);
    const row: TouchedRow = { table, key, stored: null, values: null, outcome: null };
    touched.push(row);
    let rows = byTable.get(table);
    if (!rows) byTable.set(table, (rows = []));
    rows.push(row);
  }
  if (!assume) for (const [table, rows] of byTable) await readTouched(client, table, rows);
  else if (touched[0]) await readTouched(client, touched[0].table, [touched[0]]); // a payload may begin inside a row the one before it began
  // second pass: the merge, row by row in order of first appearance (as the engine numbers them)
  let i = 0;
  for (const group of source.rows()) {
    const row = touched[i++] as TouchedRow;
    row.outcome = mergeRow(row.table, row.stored === null ? null : readRowClocks(row.stored, row.table.cellCount), row.values, group, siteOf, versionOf);
  }
  for (const [table, rows] of byTable) if (!(await writeOutcomes(client, table, rows, assume))) return null;
  let lastSeq = state.lastSeq;
  if (committed > before) {
    // the newest position, so that a check already there is answered from the state row alone;
    // and the sites of the clocks this upload wrote (all above `before`), for the run
    lastSeq = 0;
    const sites = new Set<number>();
    const note = (clock: CellClock | null) => {
      if (clock === null || clock.dbVersion <= before) return;
      sites.add(clock.site);
      if (clock.dbVersion === committed && clock.seq > lastSeq) lastSeq = clock.seq;
    };
    for (const row of touched) {
      const clocks = row.outcome?.clocks;
      if (!clocks) continue;
      note(clocks.sentinel);
      for (const cell of clocks.cells) note(cell);
    }
    let run: Run | null = null;
    if (state.tracksRuns && sites.size === 1) {
      const [site] = sites as Set<number> & [number];
      run = state.run?.site === site ? state.run : { site, from: { dbVersion: before, seq: state.lastSeq } };
    }
    await client.query(`UPDATE ${pgName(target.schema)}.cloudsync_state SET db_version = $1, last_seq = $2, run_site = $3, run_db_version = $4, run_seq = $5, run_checked = $1`, [
      committed,
      lastSeq,
      run?.site ?? -1,
      run?.from.dbVersion ?? 0,
      run?.from.seq ?? 0,
    ]);
  }
  return { after: committed, lastSeq };
}

/** Reads the stored clocks and base values of the rows an upload touches. */
async function readTouched(client: PoolClient, table: HostedTable, rows: TouchedRow[]): Promise<void> {
  if (rows.length >= BULK_ROWS) {
    const { rows: any } = await client.query(`SELECT 1 FROM ${table.meta} LIMIT 1`);
    if (any.length === 0) return; // a first upload: nothing stored to merge with
  }
  const byKey = new Map<string, TouchedRow>();
  for (const row of rows) byKey.set(keyText(row.key), row);
  const keyColumns = table.shape.pk.map((_, i) => `pk${i + 1}`);
  const columns = table.columns.map((c) => `b.${pgName(c.name)}`);
  for (let at = 0; at < rows.length; at += BATCH_ROWS) {
    const keys = table.keyArrays(rows.slice(at, at + BATCH_ROWS).map((r) => r.key));
    const meta = await client.query({ text: `SELECT ${keyColumns.map((c) => `m.${c}`).join(', ')}, m.clocks FROM ${table.meta} AS m WHERE ${table.keyMatch('m', keyColumns)}`, values: keys, rowMode: 'array' });
    const known: SqlValue[][] = [];
    for (const found of meta.rows as unknown[][]) {
      const row = byKey.get(keyText(table.keyOf(found)));
      if (!row) continue;
      row.stored = found[keyColumns.length] as string;
      known.push(row.key);
    }
    // base values break ties between clocks, so only rows with clocks need them
    if (known.length === 0) continue;
    const base = await client.query({
      text: `SELECT ${[...table.shape.pk.map((c) => `b.${pgName(c.name)}`), ...columns].join(', ')} FROM ${table.base} AS b WHERE ${table.keyMatch('b', table.shape.pk.map((c) => pgName(c.name)))}`,
      values: table.keyArrays(known),
      rowMode: 'array',
    });
    const keyCount = table.shape.pk.length;
    for (const found of base.rows as unknown[][]) {
      const row = byKey.get(keyText(table.keyOf(found)));
      if (row) row.values = table.columns.map((c, i) => fromPg(found[keyCount + i], c.kind));
    }
  }
}

/**
 * Writes what the merge decided: meta rows put or removed, base rows deleted, replaced or upserted.
 * With 'assume new', false (nothing written) when a meta row was there already.
 */
async function writeOutcomes(client: PoolClient, table: HostedTable, rows: TouchedRow[], assume?: 'assume new'): Promise<boolean> {
  const keyCount = table.shape.pk.length;
  const keyNames = table.shape.pk.map((c) => pgName(c.name));
  const deleted: SqlValue[][] = [];
  const inserts = new Map<string, { indexes: number[]; fresh: boolean; rows: { key: SqlValue[]; values: SqlValue[] }[] }>();
  const metaDeleted: SqlValue[][] = [];
  const metaPut: { key: SqlValue[]; clocks: string; dbVersion: number }[] = [];
  const metaNew: { key: SqlValue[]; clocks: string; dbVersion: number }[] = [];
  for (const row of rows) {
    const outcome = row.outcome as RowOutcome;
    if (outcome.base === 'delete' || outcome.base === 'replace') deleted.push(row.key);
    if (outcome.base === 'upsert' || outcome.base === 'replace') {
      const indexes = [...outcome.written.keys()].sort((a, b) => a - b);
      // a row with no stored clocks and no base row read is new: inserted by COPY
      const fresh = outcome.base === 'upsert' && row.values === null && row.stored === null;
      const signature = `${fresh ? 'new' : 'upsert'}:${indexes.join(',')}`;
      let batch = inserts.get(signature);
      if (!batch) inserts.set(signature, (batch = { indexes, fresh, rows: [] }));
      batch.rows.push({ key: row.key, values: indexes.map((index) => outcome.written.get(index) ?? null) });
    }
    if (outcome.meta === 'delete') metaDeleted.push(row.key);
    else if (outcome.meta === 'put' && outcome.clocks !== null) (row.stored === null ? metaNew : metaPut).push({ key: row.key, clocks: writeRowClocks(outcome.clocks), dbVersion: maxDbVersion(outcome.clocks) });
  }
  for (let at = 0; at < metaDeleted.length; at += BATCH_ROWS) {
    await client.query(`DELETE FROM ${table.meta} AS m USING ${table.keyRows(1)} WHERE ${table.shape.pk.map((_, i) => `m.pk${i + 1} = k.pk${i + 1}`).join(' AND ')}`, table.keyArrays(metaDeleted.slice(at, at + BATCH_ROWS)));
  }
  const metaKeys = table.shape.pk.map((_, i) => `pk${i + 1}`);
  const metaRows = metaNew.map((r) => {
    const values: CopyValue[] = table.keyParams(r.key);
    values.push(r.clocks, r.dbVersion);
    return values;
  });
  // assuming rows are new, only COPY can tell that one was not
  if (metaRows.length < BULK_ROWS && !assume) metaPut.push(...metaNew);
  else if (!(await copyNewRows(client, table.meta, [...metaKeys, 'clocks', 'db_version'], metaRows))) {
    if (assume) return false;
    metaPut.push(...metaNew);
  }
  for (let at = 0; at < metaPut.length; at += BATCH_ROWS) {
    const slice = metaPut.slice(at, at + BATCH_ROWS);
    await client.query(
      `INSERT INTO ${table.meta} (${metaKeys.join(', ')}, clocks, db_version) SELECT * FROM unnest(${table.shape.pk.map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`).join(', ')}, $${keyCount + 1}::text[], $${keyCount + 2}::int8[])
       ON CONFLICT (${metaKeys.join(', ')}) DO UPDATE SET clocks = EXCLUDED.clocks, db_version = EXCLUDED.db_version`,
      [...table.keyArrays(slice.map((r) => r.key)), slice.map((r) => r.clocks), slice.map((r) => r.dbVersion)],
    );
  }
  const match = (alias: string) => table.shape.pk.map((c, i) => `${alias}.${pgName(c.name)} = k.pk${i + 1}`).join(' AND ');
  for (let at = 0; at < deleted.length; at += BATCH_ROWS) {
    await client.query(`DELETE FROM ${table.base} AS b USING ${table.keyRows(1)} WHERE ${match('b')}`, table.keyArrays(deleted.slice(at, at + BATCH_ROWS)));
  }
  for (const batch of inserts.values()) {
    const written = batch.indexes.map((index) => table.columns[index] as PgColumn);
    const names = [...keyNames, ...written.map((c) => pgName(c.name))];
    if (batch.fresh && batch.rows.length >= BULK_ROWS) {
      const copied = await copyNewRows(
        client,
        table.base,
        names,
        batch.rows.map((r) => {
          const values = table.keyParams(r.key);
          for (let j = 0; j < written.length; j++) {
            const c = written[j] as PgColumn;
            values.push(toPg(r.values[j] ?? null, c.kind, table.name, c.name));
          }
          return values;
        }),
      );
      if (copied) continue;
    }
    const types = [...table.shape.pk, ...written].map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`);
    const update = written.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${written.map((c) => `${pgName(c.name)} = EXCLUDED.${pgName(c.name)}`).join(', ')}`;
    for (let at = 0; at < batch.rows.length; at += BATCH_ROWS) {
      const slice = batch.rows.slice(at, at + BATCH_ROWS);
      const values = [...table.keyArrays(slice.map((r) => r.key)), ...written.map((c, j) => slice.map((r) => toPg(r.values[j] ?? null, c.kind, table.name, c.name)))];
      await client.query(`INSERT INTO ${table.base} (${names.join(', ')}) SELECT * FROM unnest(${types.join(', ')}) ON CONFLICT (${keyNames.join(', ')}) ${update}`, values);
    }
  }
  return true;
}
