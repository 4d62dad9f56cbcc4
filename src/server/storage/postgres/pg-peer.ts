// A hosted database in PostgreSQL: a schema of its own holding the app's tables (ordinary
// PostgreSQL tables an operator can query), one meta table per table (a row's clocks in the
// engine's text form, see src/engine/row-clocks.ts), the sites it heard of, and one state row
// with its db_version. Any number of server nodes share it:
// - An upload is one transaction that first locks the state row (SELECT … FOR UPDATE), so
//   uploads to one database commit one after another, across nodes, each numbering its changes
//   above the last one's: db_versions grow in commit order and a reader never sees a later one
//   without the earlier ones, so a watermark cannot skip a change.
// - A download reads on one REPEATABLE READ snapshot.

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Pool, PoolClient } from 'pg';
import { encodePk, decodePk } from '../../../codec/pk.js';
import { type Change, forEachPayloadChange } from '../../../codec/payload.js';
import { groupPayloadRows } from '../../../engine/payload-row-groups.js';
import type { SqlValue } from '../../../codec/value.js';
import { CollectedChanges, collectRows, type CollectedTable } from '../../../engine/changes.js';
import type { EncodedPayload } from '../../../engine/cloudsync.js';
import { CloudSyncError } from '../../../engine/errors.js';
import { checkChange, groupByRow } from '../../../engine/merge.js';
import { splitCollected } from '../../../engine/payload-split.js';
import { maxDbVersion, readRowClocks, writeRowClocks } from '../../../engine/row-clocks.js';
import { HttpError } from '../../http-error.js';
import type { PolicyUser, SecuredApply, TablePolicy } from '../../row-security.js';
import type { Peer, PeerStatus, Position } from '../storage.js';
import { fromPg, layoutFromJson, type PgColumn, type PgDatabaseLayout, pgName, pgType, toPg } from './pg-layout.js';
import { HostedTable, keyText } from './pg-hosted-table.js';
import { mergeRow, type RowOutcome } from './pg-merge.js';
import { storeError, transaction } from './pg-errors.js';
import { copyNewRows } from './pg-copy.js';
import { statementName } from './pg-statements.js';
import { PgRowSecurity, type SecuredHost } from './pg-row-security.js';

/** Rows per statement when writing or looking up many rows (parameters travel as arrays). */
const BATCH_ROWS = 10_000;

/** A row an upload touches, with what is stored of it. */
interface TouchedRow {
  table: HostedTable;
  key: SqlValue[];
  stored: string | null;
  values: SqlValue[] | null;
  outcome: RowOutcome | null;
}

/**
 * The changes of an upload, row by row, as many times as asked: a payload's rows are decoded
 * again on each pass (from offsets) so that decoded changes die young instead of living through
 * the whole apply; `siteIds` are the distinct sites of its changes.
 */
interface RowSource {
  rows(): Iterable<readonly Change[]>;
  siteIds: Uint8Array[];
}

/** Every change of a payload, decoded (PAYLOAD error when it cannot be). */
function decodeAll(payload: Uint8Array): Change[] {
  const changes: Change[] = [];
  try {
    forEachPayloadChange(payload, (change) => changes.push(change));
  } catch (error) {
    throw new CloudSyncError('PAYLOAD', `upload: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return changes;
}

/** The distinct site ids of changes (by bytes). */
function distinctSites(changes: Iterable<Change>): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  let last: Uint8Array | null = null;
  for (const change of changes) {
    if (change.siteId === last) continue;
    last = change.siteId;
    const hex = Buffer.from(change.siteId).toString('hex');
    if (!seen.has(hex)) seen.set(hex, change.siteId);
  }
  return [...seen.values()];
}

/** The peer of a hosted database in PostgreSQL. */
export class PgPeer implements Peer, SecuredHost {
  private tableList: HostedTable[] = [];
  private byName = new Map<string, HostedTable>();
  private hash = 0n;
  /** Set when the site cache may hold ordinals of a rolled-back transaction: read again before use. */
  private sitesStale = false;
  readonly security = new PgRowSecurity(this);
  private generation = '';
  /** Site ordinal → site id, and back (hex); grows as sites appear, read again when unknown. */
  private siteIds = new Map<number, Uint8Array>();
  private ordinals = new Map<string, number>();
  private maxOrdinal = 0;

  constructor(
    private readonly pool: Pool,
    readonly schema: string,
    /** Called inside an upload's transaction that stored changes: tells the other nodes (a NOTIFY sent on commit). */
    private readonly announce: (client: PoolClient, database: string, before: number) => Promise<void> = async () => undefined,
  ) {}

  /** Reads the layout (again) and the sites. */
  async load(client: PoolClient | Pool = this.pool): Promise<void> {
    let rows: { layout: unknown; generation: string }[];
    try {
      ({ rows } = await client.query<{ layout: unknown; generation: string }>(`SELECT layout, generation FROM ${pgName(this.schema)}.cloudsync_state`));
    } catch (error) {
      throw storeError(error);
    }
    const state = rows[0];
    if (!state) throw new HttpError(404, `database '${this.schema}' has no data in the PostgreSQL store`);
    const layout: PgDatabaseLayout = layoutFromJson(state.layout);
    this.tableList = layout.tables.map((t) => new HostedTable(this.schema, t));
    this.byName = new Map(this.tableList.map((t) => [t.name.toLowerCase(), t]));
    this.hash = BigInt(layout.schemaHash);
    this.generation = state.generation;
    await this.loadSites(client);
  }

  /** A query outside a transaction, its errors as the server reports them. */
  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[], name?: 'named'): Promise<pg.QueryResult<R>> {
    try {
      // a named statement is parsed and planned once per connection
      return await this.pool.query<R>(name === undefined ? { text, values } : { name: statementName(text), text, values });
    } catch (error) {
      throw storeError(error);
    }
  }

  table(name: string): HostedTable | undefined {
    return this.byName.get(name.toLowerCase());
  }

  async apply(payload: Uint8Array, user: PolicyUser | null): Promise<SecuredApply> {
    if (!(payload instanceof Uint8Array)) throw new CloudSyncError('PAYLOAD', 'upload: the payload must be bytes');
    // checked and grouped from offsets (numbers only) before any lock, decoded again row by row when merged
    let last: HostedTable | undefined;
    const sites = new Map<string, Uint8Array>();
    let lastSite: Uint8Array | null = null;
    const { count, groups } = groupPayloadRows(payload, 'upload', (change) => {
      last = checkChange('upload', this, change, last);
      if (change.siteId !== lastSite) {
        lastSite = change.siteId;
        const hex = Buffer.from(change.siteId).toString('hex');
        if (!sites.has(hex)) sites.set(hex, change.siteId);
      }
    });
    try {
      const outcome = await transaction(this.pool, async (client) => {
        const before = await this.lockState(client);
        const policies = user === null ? null : await this.security.policies(client);
        if (user !== null && policies !== null && policies.size > 0) {
          const changes = decodeAll(payload);
          await this.security.actAs(client, user);
          let last: HostedTable | undefined;
          for (const change of changes) last = checkChange('upload', this, change, last);
          const secured = await this.security.apply(client, policies, user, changes, before);
          if (secured.after > before) await this.announce(client, this.schema, before);
          // sites added in a savepoint that rolled back are not stored: read them again next time
          this.sitesStale = true;
          return { changes: secured.applied, refused: secured.refused, restore: secured.restore, added: new Map<number, Uint8Array>() };
        }
        if (count === 0) return { changes: 0, refused: [], restore: null, added: new Map<number, Uint8Array>() };
        const { added, after } = await this.merge(client, { rows: () => groups.changesByRow(), siteIds: [...sites.values()] }, before);
        if (after > before) await this.announce(client, this.schema, before);
        return { changes: count, refused: [], restore: null, added };
      });
      // known once committed (a rolled-back upload's ordinals were never stored)
      for (const [ordinal, id] of outcome.added) this.rememberSite(ordinal, id);
      return { changes: outcome.changes, refused: outcome.refused, restore: outcome.restore };
    } catch (error) {
      this.sitesStale = true;
      throw error;
    }
  }

  /** SecuredHost: merges one source transaction's changes; returns the db_version after. */
  async mergeGroup(client: PoolClient, changes: Change[], committed: number): Promise<number> {
    const rows = groupByRow(changes);
    return (await this.merge(client, { rows: () => rows, siteIds: distinctSites(changes) }, committed)).after;
  }

  tables(): readonly HostedTable[] {
    return this.tableList;
  }

  siteIdOf(ordinal: number): Uint8Array {
    return this.siteIds.get(ordinal) ?? new Uint8Array(16);
  }

  ordinalOf(siteId: Uint8Array): number {
    return this.ordinals.get(Buffer.from(siteId).toString('hex')) ?? -1;
  }

  schemaHash(): bigint {
    return this.hash;
  }

  async download(site: Uint8Array, since: Position, maxBytes: number, user: PolicyUser | null): Promise<EncodedPayload[]> {
    // a device at the newest position (most checks): one prepared read of the state row
    const { rows } = await this.query<{ db_version: string; last_seq: string; generation: string }>(`SELECT db_version, last_seq, generation FROM ${pgName(this.schema)}.cloudsync_state`, [], 'named');
    const state = rows[0];
    if (state && state.generation === this.generation) {
      const stored = Number(state.db_version);
      if (since.dbVersion > stored) throw this.pastNewest(since, stored);
      if (since.dbVersion === stored && since.seq >= Number(state.last_seq)) return [];
    }
    if (user === null || !(await this.filtersReads())) return this.read(since, maxBytes, site);
    return transaction(
      this.pool,
      async (client) => {
        const stored = await this.refresh(client);
        const policies = await this.security.policies(client);
        // policies removed meanwhile: the plain download
        if (policies.size === 0) return this.collect(client, since, maxBytes, site, stored);
        if (since.dbVersion > stored) throw this.pastNewest(since, stored);
        await this.syncSites(client);
        await this.security.actAs(client, user);
        return this.security.download(client, policies, user, site, since, stored, maxBytes);
      },
      'REPEATABLE READ',
    );
  }

  async storedVersion(): Promise<number> {
    const { rows } = await this.query<{ db_version: string }>(`SELECT db_version FROM ${pgName(this.schema)}.cloudsync_state`);
    return Number(rows[0]?.db_version ?? 0);
  }

  async changesSince(since: Position, maxBytes: number): Promise<EncodedPayload[]> {
    return this.read(since, maxBytes, null);
  }

  async filtersReads(): Promise<boolean> {
    const { rows } = await this.query<{ n: string }>(`SELECT count(*) AS n FROM ${pgName(this.schema)}.cloudsync_rls_policies`);
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async hasNewsFor(user: PolicyUser, site: Uint8Array, since: Position): Promise<boolean> {
    return transaction(
      this.pool,
      async (client) => {
        await this.refresh(client);
        const policies = await this.security.policies(client);
        if (policies.size === 0) return true;
        await this.syncSites(client);
        await this.security.actAs(client, user);
        return this.security.hasNews(client, policies, user, site, since);
      },
      'REPEATABLE READ READ ONLY',
    );
  }

  async setPolicy(table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy> {
    await this.refresh(this.pool);
    return transaction(this.pool, (client) => this.security.setPolicy(client, table, policy));
  }

  async removePolicy(table: string): Promise<boolean> {
    await this.refresh(this.pool);
    return this.security.removePolicy(this.pool, table);
  }

  async listPolicies(): Promise<TablePolicy[]> {
    return [...(await this.security.policies(this.pool)).values()];
  }

  async unprotectedTables(): Promise<string[]> {
    await this.refresh(this.pool);
    const policies = await this.security.policies(this.pool);
    return this.tableList.map((t) => t.name).filter((name) => !policies.has(name.toLowerCase()));
  }

  async status(): Promise<PeerStatus> {
    await this.refresh(this.pool);
    const s = pgName(this.schema);
    const tables = [];
    for (const table of this.tableList) {
      const { rows } = await this.query<{ n: string }>(`SELECT count(*) AS n FROM ${table.base}`);
      tables.push({ name: table.name, rows: Number(rows[0]?.n ?? 0), algo: table.algo });
    }
    const size = await this.query<{ bytes: string | null; db_version: string }>(
      `SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r') AS bytes, (SELECT db_version FROM ${s}.cloudsync_state) AS db_version`,
      [this.schema],
    );
    const sites = await this.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.cloudsync_sites WHERE ordinal <> 0`);
    return {
      siteId: Buffer.from(this.siteIds.get(0) ?? []).toString('hex'),
      dbVersion: Number(size.rows[0]?.db_version ?? 0),
      sizeBytes: Number(size.rows[0]?.bytes ?? 0),
      sitesWithChanges: Number(sites.rows[0]?.n ?? 0),
      tables,
    };
  }

  // ---- uploads ----------------------------------------------------------------------------

  /** Locks the state row (the upload order of this database, across nodes); returns its db_version. */
  private async lockState(client: PoolClient): Promise<number> {
    const { rows } = await client.query<{ db_version: string; generation: string }>(`SELECT db_version, generation FROM ${pgName(this.schema)}.cloudsync_state FOR UPDATE`);
    const state = rows[0];
    if (!state) throw new HttpError(404, `database '${this.schema}' has no data in the PostgreSQL store`);
    if (state.generation !== this.generation) await this.load(client); // dropped and created again by another node
    return Number(state.db_version);
  }

  /** Merges checked changes inside the caller's transaction, which holds the state lock; returns the sites it added. */
  private async merge(client: PoolClient, source: RowSource, committed: number): Promise<{ added: Map<number, Uint8Array>; after: number }> {
    const fn = 'upload';
    const before = committed;
    const { ordinals, added } = await this.siteOrdinals(client, source.siteIds);
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
    for (const group of source.rows()) {
      const first = group[0] as Change;
      // checked before the lock; the database may have been created again since (another node)
      const table = checkChange(fn, this, first);
      let key: SqlValue[];
      try {
        key = decodePk(first.pk);
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
    for (const [table, rows] of byTable) await this.readTouched(client, table, rows);
    // second pass: the merge, row by row in order of first appearance (as the engine numbers them)
    let i = 0;
    for (const group of source.rows()) {
      const row = touched[i++] as TouchedRow;
      row.outcome = mergeRow(row.table, row.stored === null ? null : readRowClocks(row.stored, row.table.cellCount), row.values, group, siteOf, versionOf);
    }
    for (const [table, rows] of byTable) await this.writeOutcomes(client, table, rows);
    if (committed > before) {
      // the newest position, so that a check already there is answered from the state row alone
      let lastSeq = 0;
      for (const row of touched) {
        const clocks = row.outcome?.clocks;
        if (!clocks) continue;
        if (clocks.sentinel?.dbVersion === committed && clocks.sentinel.seq > lastSeq) lastSeq = clocks.sentinel.seq;
        for (const cell of clocks.cells) if (cell?.dbVersion === committed && cell.seq > lastSeq) lastSeq = cell.seq;
      }
      await client.query(`UPDATE ${pgName(this.schema)}.cloudsync_state SET db_version = $1, last_seq = $2`, [committed, lastSeq]);
    }
    return { added, after: committed };
  }

  /** Reads the stored clocks and base values of the rows an upload touches. */
  private async readTouched(client: PoolClient, table: HostedTable, rows: TouchedRow[]): Promise<void> {
    const { rows: any } = await client.query(`SELECT 1 FROM ${table.meta} LIMIT 1`);
    if (any.length === 0) return; // a first upload: nothing stored to merge with
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

  /** Writes what the merge decided: base rows deleted, replaced or upserted, meta rows put or removed. */
  private async writeOutcomes(client: PoolClient, table: HostedTable, rows: TouchedRow[]): Promise<void> {
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
    const match = (alias: string) => table.shape.pk.map((c, i) => `${alias}.${pgName(c.name)} = k.pk${i + 1}`).join(' AND ');
    for (let at = 0; at < deleted.length; at += BATCH_ROWS) {
      await client.query(`DELETE FROM ${table.base} AS b USING ${table.keyRows(1)} WHERE ${match('b')}`, table.keyArrays(deleted.slice(at, at + BATCH_ROWS)));
    }
    for (const batch of inserts.values()) {
      const written = batch.indexes.map((index) => table.columns[index] as PgColumn);
      const names = [...keyNames, ...written.map((c) => pgName(c.name))];
      if (batch.fresh) {
        const copied = await copyNewRows(client, table.base, names, batch.rows.map((r) => [...table.keyParams(r.key), ...written.map((c, j) => toPg(r.values[j] ?? null, c.kind, table.name, c.name))]));
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
    for (let at = 0; at < metaDeleted.length; at += BATCH_ROWS) {
      await client.query(`DELETE FROM ${table.meta} AS m USING ${table.keyRows(1)} WHERE ${table.shape.pk.map((_, i) => `m.pk${i + 1} = k.pk${i + 1}`).join(' AND ')}`, table.keyArrays(metaDeleted.slice(at, at + BATCH_ROWS)));
    }
    const metaKeys = table.shape.pk.map((_, i) => `pk${i + 1}`);
    if (!(await copyNewRows(client, table.meta, [...metaKeys, 'clocks', 'db_version'], metaNew.map((r) => [...table.keyParams(r.key), r.clocks, r.dbVersion])))) metaPut.push(...metaNew);
    for (let at = 0; at < metaPut.length; at += BATCH_ROWS) {
      const slice = metaPut.slice(at, at + BATCH_ROWS);
      await client.query(
        `INSERT INTO ${table.meta} (${metaKeys.join(', ')}, clocks, db_version) SELECT * FROM unnest(${table.shape.pk.map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`).join(', ')}, $${keyCount + 1}::text[], $${keyCount + 2}::int8[])
         ON CONFLICT (${metaKeys.join(', ')}) DO UPDATE SET clocks = EXCLUDED.clocks, db_version = EXCLUDED.db_version`,
        [...table.keyArrays(slice.map((r) => r.key)), slice.map((r) => r.clocks), slice.map((r) => r.dbVersion)],
      );
    }
  }

  /** The ordinal of every site of `changes`, adding the sites this database has not heard of (under the state lock). */
  private async siteOrdinals(client: PoolClient, siteIds: readonly Uint8Array[]): Promise<{ ordinals: Map<string, number>; added: Map<number, Uint8Array> }> {
    const ordinals = new Map<string, number>();
    const added = new Map<number, Uint8Array>();
    let reloaded = false;
    let next = -1;
    for (const id of siteIds) {
      const hex = Buffer.from(id).toString('hex');
      if (ordinals.has(hex)) continue;
      let ordinal = this.ordinals.get(hex);
      if ((ordinal === undefined || this.sitesStale) && !reloaded) {
        await this.loadSites(client); // another node may have added it
        reloaded = true;
        ordinal = this.ordinals.get(hex);
      }
      if (ordinal === undefined) {
        if (next < 0) next = Math.max(0, ...this.siteIds.keys()) + 1;
        ordinal = next++;
        await client.query(`INSERT INTO ${pgName(this.schema)}.cloudsync_sites (ordinal, site_id) VALUES ($1, $2)`, [ordinal, Buffer.from(id)]);
        added.set(ordinal, id);
      }
      ordinals.set(hex, ordinal);
    }
    return { ordinals, added };
  }

  private rememberSite(ordinal: number, id: Uint8Array): void {
    this.siteIds.set(ordinal, id);
    this.ordinals.set(Buffer.from(id).toString('hex'), ordinal);
    if (ordinal > this.maxOrdinal) this.maxOrdinal = ordinal;
  }

  private async loadSites(client: PoolClient | Pool): Promise<void> {
    this.sitesStale = false;
    const { rows } = await client.query<{ ordinal: number; site_id: Buffer }>(`SELECT ordinal, site_id FROM ${pgName(this.schema)}.cloudsync_sites`);
    this.siteIds = new Map();
    this.ordinals = new Map();
    this.maxOrdinal = 0;
    for (const row of rows) this.rememberSite(row.ordinal, new Uint8Array(row.site_id));
  }

  // ---- downloads --------------------------------------------------------------------------

  /** The changes after `since` on one snapshot, split into payloads; `skipSite`'s left out but for the very last. */
  private async read(since: Position, maxBytes: number, skipSite: Uint8Array | null): Promise<EncodedPayload[]> {
    return transaction(this.pool, async (client) => this.collect(client, since, maxBytes, skipSite, await this.refresh(client)), 'REPEATABLE READ READ ONLY');
  }

  private pastNewest(since: Position, stored: number): HttpError {
    return new HttpError(409, `the check watermark ${since.dbVersion} is past this database's newest version ${stored} (was the server restored from a backup?); run cloudsync_network_reset_sync_version() to download everything again`);
  }

  /** Sites are only ever added: reads them again when another node added one, or when the cache may be wrong. */
  private async syncSites(client: PoolClient): Promise<void> {
    const { rows: newest } = await client.query<{ n: number | null }>(`SELECT max(ordinal) AS n FROM ${pgName(this.schema)}.cloudsync_sites`);
    if (this.sitesStale || (newest[0]?.n ?? 0) > this.maxOrdinal) await this.loadSites(client);
  }

  /** Collects the changes after `since` inside the caller's snapshot. */
  private async collect(client: PoolClient, since: Position, maxBytes: number, skipSite: Uint8Array | null, stored: number): Promise<EncodedPayload[]> {
    if (skipSite !== null && since.dbVersion > stored) throw this.pastNewest(since, stored);
    await this.syncSites(client);
    const skipped = skipSite === null ? null : this.ordinalOf(skipSite);
    const collected = new CollectedChanges((ordinal) => this.siteIdOf(ordinal));
    for (const table of this.tableList) {
      const keyCount = table.shape.pk.length;
      const join = table.metaJoin;
      const columns = table.columns.map((c) => `, b.${pgName(c.name)}`).join('');
      const { rows } = await client.query({
        text: `SELECT ${table.shape.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks, b.${pgName(table.shape.pk[0]?.name ?? '')} IS NOT NULL${columns} FROM ${table.meta} AS m LEFT JOIN ${table.base} AS b ON ${join} WHERE m.db_version >= $1`,
        values: [since.dbVersion],
        rowMode: 'array',
      });
      const converted = (rows as unknown[][]).map((row) => {
        const out: unknown[] = table.keyOf(row);
        out.push(row[keyCount], row[keyCount + 1] === true ? 1 : 0);
        table.columns.forEach((c, i) => out.push(fromPg(row[keyCount + 2 + i], c.kind)));
        return out;
      });
      collectRows(table, converted, since.dbVersion, since.seq, { only: null, except: null }, collected);
    }
    collected.sort(skipped);
    return splitCollected(collected, { schemaHash: this.hash, maxBytes });
  }

  /** Reads the state; reloads the layout when the database was created again meanwhile. Returns its db_version. */
  private async refresh(client: PoolClient | Pool): Promise<number> {
    const { rows } = await client.query<{ db_version: string; generation: string }>(`SELECT db_version, generation FROM ${pgName(this.schema)}.cloudsync_state`);
    const state = rows[0];
    if (!state) throw new HttpError(404, `database '${this.schema}' has no data in the PostgreSQL store`);
    if (state.generation !== this.generation) await this.load(client);
    return Number(state.db_version);
  }
}

/** A new generation mark for a hosted database's state (tells nodes it was created again). */
export function newGeneration(): string {
  return randomUUID();
}
