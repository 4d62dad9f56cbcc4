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
import type { Change } from '../../../codec/payload.js';
import { groupPayloadRows } from '../../../engine/payload-row-groups.js';
import type { EncodedPayload } from '../../../engine/cloudsync.js';
import { CloudSyncError } from '../../../engine/errors.js';
import { checkChange, groupByRow } from '../../../engine/merge.js';
import { HttpError } from '../../http-error.js';
import { isAfter, type PolicyUser, type TablePolicy } from '../../row-security.js';
import { type AppliedUpload, decodeUpload, pastNewestError, type Peer, type PeerStatus, type Position } from '../storage.js';
import { layoutFromJson, type PgDatabaseLayout, pgName } from './pg-layout.js';
import { HostedTable } from './pg-hosted-table.js';
import { storeError, transaction } from './pg-errors.js';
import { statementName } from './pg-statements.js';
import { PgRowSecurity, type SecuredHost } from './pg-row-security.js';
import { PgSites, SiteSet } from './pg-sites.js';
import { BULK_ROWS, type LockedState, mergeUpload } from './pg-upload.js';
import { collectDownload } from './pg-download.js';

/** The peer of a hosted database in PostgreSQL. */
export class PgPeer implements Peer, SecuredHost {
  private tableList: HostedTable[] = [];
  private byName = new Map<string, HostedTable>();
  private hash = 0n;
  readonly security = new PgRowSecurity(this);
  private generation = '';
  readonly sites: PgSites;
  /** The newest position as heard in a spell of hearing every upload (see download); null: ask PostgreSQL. */
  private newest: { spell: number; dbVersion: number; lastSeq: number } | null = null;

  constructor(
    private readonly pool: Pool,
    readonly schema: string,
    /** Called inside an upload's transaction that stored changes: tells the other nodes (a NOTIFY sent on commit); lastSeq null when not known. */
    private readonly announce: (client: PoolClient, database: string, news: { before: number; after: number; lastSeq: number | null }) => Promise<void> = async () => undefined,
    /** While this node hears every upload of every node (see PgStore.listen): the number of that spell; else null. */
    private readonly hearing: () => number | null = () => null,
  ) {
    this.sites = new PgSites(schema);
  }

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
    await this.sites.load(client);
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

  async apply(payload: Uint8Array, user: PolicyUser | null): Promise<AppliedUpload> {
    if (!(payload instanceof Uint8Array)) throw new CloudSyncError('PAYLOAD', 'upload: the payload must be bytes');
    // checked and grouped from offsets (numbers only) before any lock, decoded again row by row when merged
    let last: HostedTable | undefined;
    const sites = new SiteSet();
    let likelyNew = true;
    const { count, groups } = groupPayloadRows(payload, 'upload', (change) => {
      last = checkChange('upload', this, change, last);
      sites.add(change.siteId);
      if (change.cl !== 1 || change.colVersion !== 1) likelyNew = false;
    });
    try {
      const outcome = await transaction(this.pool, async (client) => {
        const tables = this.tableList;
        const state = await this.readState(client, 'lock');
        const before = state.dbVersion;
        if (this.tableList !== tables) {
          // the database was dropped and created again (by another node) since the checks above
          last = undefined;
          for (const group of groups.changesByRow()) for (const change of group) last = checkChange('upload', this, change, last);
        }
        const policies = user === null ? null : await this.security.policies(client);
        if (user !== null && policies !== null && policies.size > 0) {
          const changes = decodeUpload(payload);
          await this.security.actAs(client, user);
          let last: HostedTable | undefined;
          for (const change of changes) last = checkChange('upload', this, change, last);
          const secured = await this.security.apply(client, policies, user, changes, before);
          if (secured.after > before) await this.announce(client, this.schema, { before, after: secured.after, lastSeq: null });
          // sites added in a savepoint that rolled back are not stored: read them again next time
          this.sites.invalidate();
          // the newest seq is not known here: checks ask PostgreSQL again
          const newest = secured.after > before ? { dbVersion: secured.after, lastSeq: null } : null;
          return { changes: secured.applied, refused: secured.refused, restore: secured.restore, added: new Map<number, Uint8Array>(), newest, before };
        }
        if (count === 0) return { changes: 0, refused: [], restore: null, added: new Map<number, Uint8Array>(), newest: null as { dbVersion: number; lastSeq: number | null } | null, before };
        const { added, after, lastSeq } = await mergeUpload(client, this, { rows: () => groups.changesByRow(), keys: () => groups.rowKeys(), siteIds: sites.values(), likelyNew: likelyNew && count >= BULK_ROWS }, { ...state, tracksRuns: true });
        if (after > before) await this.announce(client, this.schema, { before, after, lastSeq });
        return { changes: count, refused: [], restore: null, added, newest: after > before ? { dbVersion: after, lastSeq } : null, before };
      });
      if (outcome.newest) this.heard(outcome.newest.dbVersion, outcome.newest.lastSeq);
      // known once committed (a rolled-back upload's ordinals were never stored)
      for (const [ordinal, id] of outcome.added) this.sites.remember(ordinal, id);
      return { changes: outcome.changes, refused: outcome.refused, restore: outcome.restore, before: outcome.before };
    } catch (error) {
      this.sites.invalidate();
      throw error;
    }
  }

  /** SecuredHost: merges one source transaction's changes; returns the db_version after. */
  async mergeGroup(client: PoolClient, changes: Change[], committed: number): Promise<number> {
    const rows = groupByRow(changes);
    const sites = new SiteSet();
    for (const change of changes) sites.add(change.siteId);
    const keys = rows.map((group) => ({ table: (group[0] as Change).tbl, pk: (group[0] as Change).pk }));
    return (await mergeUpload(client, this, { rows: () => rows, keys: () => keys, siteIds: sites.values() }, { dbVersion: committed, lastSeq: UNKNOWN_SEQ, run: null, tracksRuns: false })).after;
  }

  tables(): readonly HostedTable[] {
    return this.tableList;
  }

  siteIdOf(ordinal: number): Uint8Array {
    return this.sites.idOf(ordinal);
  }

  ordinalOf(siteId: Uint8Array): number {
    return this.sites.ordinalOf(siteId);
  }

  schemaHash(): bigint {
    return this.hash;
  }

  async download(site: Uint8Array, since: Position, maxBytes: number, user: PolicyUser | null): Promise<EncodedPayload[]> {
    // a device at the newest position (most checks): answered from what this node heard, or one prepared read of the state row
    const spell = this.hearing();
    const known = this.newest;
    if (spell !== null && known?.spell === spell && since.dbVersion === known.dbVersion && since.seq >= known.lastSeq) return [];
    const { rows } = await this.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM ${pgName(this.schema)}.cloudsync_state`, [], 'named');
    const row = rows[0];
    if (row && row.generation === this.generation) {
      const state = stateOf(row);
      // a read begun while this node heard every upload: what it read, and later news, is all there is
      if (spell !== null && this.hearing() === spell) this.heard(state.dbVersion, state.lastSeq, spell);
      if (since.dbVersion > state.dbVersion) throw pastNewestError(since, state.dbVersion);
      if (since.dbVersion === state.dbVersion && since.seq >= state.lastSeq) return [];
      // a device behind by its own changes only (it uploaded since its last check): the newest
      // change alone moves its watermark; a site cache that may be wrong is not trusted for it
      const { run } = state;
      if (run !== null && !this.sites.stale && this.sites.ordinalOf(site) === run.site && !isAfter(run.from, since) && (user === null || !(await this.filtersReads()))) {
        return this.read({ dbVersion: state.dbVersion, seq: state.lastSeq - 1 }, maxBytes, site);
      }
    }
    if (user === null || !(await this.filtersReads())) return this.read(since, maxBytes, site);
    return transaction(
      this.pool,
      async (client) => {
        const stored = (await this.readState(client)).dbVersion;
        const policies = await this.security.policies(client);
        // policies removed meanwhile: the plain download
        if (policies.size === 0) return collectDownload(client, this, since, maxBytes, site, stored);
        if (since.dbVersion > stored) throw pastNewestError(since, stored);
        await this.sites.sync(client);
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
        await this.readState(client);
        const policies = await this.security.policies(client);
        if (policies.size === 0) return true;
        await this.sites.sync(client);
        await this.security.actAs(client, user);
        return this.security.hasNews(client, policies, user, site, since);
      },
      'REPEATABLE READ READ ONLY',
    );
  }

  async setPolicy(table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy> {
    await this.readState(this.pool);
    return transaction(this.pool, (client) => this.security.setPolicy(client, table, policy));
  }

  async removePolicy(table: string): Promise<boolean> {
    await this.readState(this.pool);
    return this.security.removePolicy(this.pool, table);
  }

  async listPolicies(): Promise<TablePolicy[]> {
    return [...(await this.security.policies(this.pool)).values()];
  }

  async unprotectedTables(): Promise<string[]> {
    await this.readState(this.pool);
    const policies = await this.security.policies(this.pool);
    return this.tableList.map((t) => t.name).filter((name) => !policies.has(name.toLowerCase()));
  }

  async status(): Promise<PeerStatus> {
    await this.readState(this.pool);
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
      siteId: Buffer.from(this.sites.idOf(0)).toString('hex'),
      dbVersion: Number(size.rows[0]?.db_version ?? 0),
      sizeBytes: Number(size.rows[0]?.bytes ?? 0),
      sitesWithChanges: Number(sites.rows[0]?.n ?? 0),
      tables,
    };
  }

  /**
   * News of the newest position (an upload's, a read's); lastSeq null: not known, ask PostgreSQL
   * next time. Positions only grow while the node hears every upload, so a late answer never
   * takes a newer one back.
   */
  heard(dbVersion: number, lastSeq: number | null, spell = this.hearing()): void {
    if (spell === null || lastSeq === null) {
      this.newest = null;
      return;
    }
    const known = this.newest;
    if (known !== null && known.spell === spell && (known.dbVersion > dbVersion || (known.dbVersion === dbVersion && known.lastSeq >= lastSeq))) return;
    this.newest = { spell, dbVersion, lastSeq };
  }

  /** The changes after `since` on one snapshot, split into payloads; `skipSite`'s left out but for the very last. */
  private async read(since: Position, maxBytes: number, skipSite: Uint8Array | null): Promise<EncodedPayload[]> {
    return transaction(this.pool, async (client) => collectDownload(client, this, since, maxBytes, skipSite, (await this.readState(client)).dbVersion), 'REPEATABLE READ READ ONLY');
  }

  /**
   * Reads the state row, locked for an upload ('lock': uploads to this database then commit one
   * after another, across nodes); reloads the layout when the database was dropped and created
   * again meanwhile (by another node).
   */
  private async readState(client: PoolClient | Pool, lock?: 'lock'): Promise<Omit<LockedState, 'tracksRuns'>> {
    const { rows } = await client.query<StateRow>(`SELECT ${STATE_COLUMNS} FROM ${pgName(this.schema)}.cloudsync_state${lock ? ' FOR UPDATE' : ''}`);
    const row = rows[0];
    if (!row) throw new HttpError(404, `database '${this.schema}' has no data in the PostgreSQL store`);
    if (row.generation !== this.generation) await this.load(client);
    return stateOf(row);
  }
}

/** The seq of a newest change that is not known (a database copied in): no check is answered from the state row alone. */
const UNKNOWN_SEQ = 1_073_741_824;

const STATE_COLUMNS = 'db_version, last_seq, generation, run_site, run_db_version, run_seq, run_checked';

/** The state row (int8 columns come as text). */
interface StateRow {
  db_version: string;
  last_seq: string;
  generation: string;
  run_site: number;
  run_db_version: string;
  run_seq: string;
  run_checked: string;
}

function stateOf(row: StateRow): Omit<LockedState, 'tracksRuns'> {
  const dbVersion = Number(row.db_version);
  // a run holds only if the newest upload kept it up (an upload by an older node, or a copy, does not)
  const run = row.run_site >= 0 && Number(row.run_checked) === dbVersion ? { site: row.run_site, from: { dbVersion: Number(row.run_db_version), seq: Number(row.run_seq) } } : null;
  return { dbVersion, lastSeq: Number(row.last_seq), run };
}

/** A new generation mark for a hosted database's state (tells nodes it was created again). */
export function newGeneration(): string {
  return randomUUID();
}
