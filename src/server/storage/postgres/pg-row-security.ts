// Row-level security on the PostgreSQL store: the same policies, refusals and removals as
// src/server/row-security.ts, with each policy a PostgreSQL expression evaluated by PostgreSQL
// over the hosted table. Inside an operation for a token user the transaction's search_path is
// the database's schema, then sqlite_sync, whose functions answer for the user:
// auth_userid() (text), auth_claim(name) (text: the claim as ->> gives it), auth_claims() (jsonb).
//
// Tables in the database's schema, so they commit with the data:
// | table                   | holds                                                   |
// |-------------------------|---------------------------------------------------------|
// | cloudsync_rls_policies  | tbl, read_expr, write_expr (NULL: that operation is denied) |
// | cloudsync_rls_seen      | (user_id, tbl, pk): rows a user was sent or wrote        |

import type { PoolClient } from 'pg';
import { decodePk, encodePk } from '../../../codec/pk.js';
import { type Change, SENTINEL } from '../../../codec/payload.js';
import type { SqlValue } from '../../../codec/value.js';
import type { EncodedPayload } from '../../../engine/cloudsync.js';
import { groupByRow } from '../../../engine/merge.js';
import { splitPayloads } from '../../../engine/payload-split.js';
import { readRowClocks } from '../../../engine/row-clocks.js';
import { HttpError } from '../../http-error.js';
import { bySourceTransaction, changedByOthers, emitPick, HORIZON_SEQ, isAfter, newest, type Pick, type PolicyUser, type Refusal, type TablePolicy } from '../../row-security.js';
import type { Position } from '../storage.js';
import type { HostedTable } from './pg-hosted-table.js';
import { keyText } from './pg-hosted-table.js';
import { fromPg, pgName } from './pg-layout.js';

/** What row-level security needs of its peer. */
export interface SecuredHost {
  readonly schema: string;
  tables(): readonly HostedTable[];
  table(name: string): HostedTable | undefined;
  siteIdOf(ordinal: number): Uint8Array;
  /** The ordinal of a site id, -1 when this database never heard of it. */
  ordinalOf(siteId: Uint8Array): number;
  schemaHash(): bigint;
  /** Merges changes inside the caller's transaction (which holds the state lock) above `committed`; returns the new db_version. */
  mergeGroup(client: PoolClient, changes: Change[], committed: number): Promise<number>;
}

type Policies = Map<string, TablePolicy>;

/** The DDL of the policy tables (part of a hosted database's schema). */
export function securityStatements(schema: string): string[] {
  const s = pgName(schema);
  return [
    `CREATE TABLE ${s}.cloudsync_rls_policies (tbl text PRIMARY KEY, read_expr text, write_expr text)`,
    `CREATE TABLE ${s}.cloudsync_rls_seen (user_id text NOT NULL, tbl text NOT NULL, pk bytea NOT NULL, PRIMARY KEY (user_id, tbl, pk))`,
  ];
}

/** Row-level security of one hosted database in PostgreSQL. */
export class PgRowSecurity {
  constructor(private readonly host: SecuredHost) {}

  private get s(): string {
    return pgName(this.host.schema);
  }

  /** Every table's policies, read now (another node may have changed them). */
  async policies(client: { query: PoolClient['query'] }): Promise<Policies> {
    const { rows } = await client.query<{ tbl: string; read_expr: string | null; write_expr: string | null }>(`SELECT tbl, read_expr, write_expr FROM ${this.s}.cloudsync_rls_policies`);
    return new Map(rows.map((r) => [r.tbl.toLowerCase(), { table: r.tbl, read: r.read_expr, write: r.write_expr }]));
  }

  /** Makes the transaction's policies answer for `user` (search_path, auth_userid(), auth_claim()). */
  async actAs(client: PoolClient, user: PolicyUser | null): Promise<void> {
    await client.query("SELECT set_config('search_path', $1, true), set_config('sqlite_sync.user_id', $2, true), set_config('sqlite_sync.claims', $3, true)", [
      `${this.s}, sqlite_sync`,
      user?.userId ?? '',
      JSON.stringify(user?.claims ?? {}),
    ]);
  }

  /** Compiles each expression against the table (as a boolean condition), then stores the policies. */
  async setPolicy(client: PoolClient, table: string, policy: { read: string | null; write: string | null }): Promise<TablePolicy> {
    const hosted = this.host.table(table);
    if (!hosted) throw new HttpError(404, `table '${table}' is not a synced table of this database`);
    await this.actAs(client, null);
    for (const [name, expression] of [['read', policy.read], ['write', policy.write]] as const) {
      if (expression === null) continue;
      if (expression.trim() === '' || expression.includes(';')) throw new HttpError(400, `the ${name} policy must be one SQL expression`);
      try {
        await client.query('SAVEPOINT cloudsync_policy');
        await client.query(`SELECT 1 FROM ${hosted.base} WHERE (${expression}) LIMIT 0`);
        await client.query('RELEASE cloudsync_policy');
      } catch (error) {
        await client.query('ROLLBACK TO cloudsync_policy');
        throw new HttpError(400, `the ${name} policy of ${hosted.name} does not compile on PostgreSQL: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    await client.query(`INSERT INTO ${this.s}.cloudsync_rls_policies (tbl, read_expr, write_expr) VALUES ($1, $2, $3) ON CONFLICT (tbl) DO UPDATE SET read_expr = excluded.read_expr, write_expr = excluded.write_expr`, [hosted.name, policy.read, policy.write]);
    return { table: hosted.name, read: policy.read, write: policy.write };
  }

  async removePolicy(client: { query: PoolClient['query'] }, table: string): Promise<boolean> {
    const hosted = this.host.table(table);
    const removed = await client.query(`DELETE FROM ${this.s}.cloudsync_rls_policies WHERE tbl = $1`, [hosted?.name ?? table]);
    return (removed.rowCount ?? 0) > 0;
  }

  /**
   * A token user's download (see RowSecurity.download): the rows changed after `since` that the
   * read policy shows now, whole; removals for rows the user had that left their view; then a
   * horizon marker. Inside the caller's transaction, after actAs.
   */
  async download(client: PoolClient, policies: Policies, user: PolicyUser, site: Uint8Array, since: Position, stored: number, maxBytes: number): Promise<EncodedPayload[]> {
    const chosen = await this.choose(client, policies, user, site, since);
    await this.remember(client, policies, user, chosen.filter((p) => p.values !== null));
    const horizon = { dbVersion: stored, seq: HORIZON_SEQ };
    const lastSent = chosen[chosen.length - 1]?.last;
    const first = this.host.tables()[0];
    const marker = first && isAfter(horizon, since) && (lastSent === undefined || isAfter(horizon, lastSent));
    const siteOf = (ordinal: number) => this.host.siteIdOf(ordinal);
    return splitPayloads(
      (sink, begin) => {
        begin(chosen.length * 4 + 1);
        for (const pick of chosen) emitPick(pick, sink, siteOf);
        // a removal of a key no row can have: changes nothing, moves the watermark to the horizon
        if (marker) sink(first.name, encodePk(new Array<SqlValue>(first.shape.pk.length).fill(null)), SENTINEL, null, 0, horizon.dbVersion, siteOf(0), 0, horizon.seq);
      },
      { schemaHash: this.host.schemaHash(), maxBytes },
    );
  }

  /** Whether the user's download from `since` would bring anything (a live notice). */
  async hasNews(client: PoolClient, policies: Policies, user: PolicyUser, site: Uint8Array, since: Position): Promise<boolean> {
    return (await this.choose(client, policies, user, site, since)).length > 0;
  }

  /**
   * A token user's upload: per source transaction, refused whole when the write policy refuses a
   * touched row before or after the change (a savepoint undoes it); the rest applies. Inside the
   * caller's transaction, which holds the state lock; returns the db_version after.
   */
  async apply(client: PoolClient, policies: Policies, user: PolicyUser, changes: readonly Change[], committed: number): Promise<{ applied: number; refused: Refusal[]; restore: Uint8Array | null; after: number }> {
    const refused: Refusal[] = [];
    let applied = 0;
    for (const group of bySourceTransaction(changes)) {
      const rows = groupByRow(group);
      let reason = await this.checkRows(client, policies, rows, 'before');
      if (reason === null) {
        await client.query('SAVEPOINT cloudsync_rls');
        const after = await this.host.mergeGroup(client, group, committed);
        reason = await this.checkRows(client, policies, rows, 'after');
        if (reason === null) {
          await client.query('RELEASE cloudsync_rls');
          committed = after;
        } else {
          await client.query('ROLLBACK TO cloudsync_rls; RELEASE cloudsync_rls');
        }
      }
      if (reason !== null) {
        const dbVersion = (group[0] as Change).dbVersion;
        for (const row of rows) refused.push({ table: (row[0] as Change).tbl, pk: (row[0] as Change).pk, dbVersion, reason });
        continue;
      }
      applied += group.length;
      const seen = rows.map((row) => row[0] as Change);
      await this.recordSeen(client, user, seen.map((c) => this.host.table(c.tbl)?.name ?? c.tbl), seen.map((c) => c.pk));
    }
    return { applied, refused, restore: await this.restore(client, policies, user, refused), after: committed };
  }

  /** The rows of a download from `since`, ordered by their newest position. */
  private async choose(client: PoolClient, policies: Policies, user: PolicyUser, site: Uint8Array, since: Position): Promise<Pick<HostedTable>[]> {
    const requester = this.host.ordinalOf(site);
    const picks: Pick<HostedTable>[] = [];
    for (const table of this.host.tables()) {
      const policy = policies.get(table.name.toLowerCase());
      if (policy && policy.read === null) continue;
      await this.pickRows(client, table, policy?.read ?? null, since, user, picks);
    }
    picks.sort((a, b) => a.last.dbVersion - b.last.dbVersion || a.last.seq - b.last.seq);
    return picks.filter((pick) => changedByOthers(pick.clocks, since, requester));
  }

  private async pickRows(client: PoolClient, table: HostedTable, read: string | null, since: Position, user: PolicyUser, picks: Pick<HostedTable>[]): Promise<void> {
    const keyCount = table.shape.pk.length;
    const filter = read === null ? 'true' : `(${read})`;
    const keys = table.shape.pk.map((c) => `b.${pgName(c.name)}`);
    const join = table.metaJoin;
    const columns = table.columns.map((c) => `, b.${pgName(c.name)}`).join('');
    const add = (pk: Uint8Array, stored: unknown, values: SqlValue[] | null) => {
      const clocks = readRowClocks(stored, table.cellCount);
      const last = newest(clocks);
      if (last && isAfter(last, since)) picks.push({ table, pk, clocks, values, last });
    };
    const valuesOf = (row: unknown[], at: number) => table.columns.map((c, i) => fromPg(row[at + i], c.kind));
    if (since.dbVersion === 0) {
      const { rows } = await client.query({ text: `SELECT ${keys.join(', ')}, m.clocks${columns} FROM (SELECT * FROM ${table.base} WHERE ${filter}) AS b JOIN ${table.meta} AS m ON ${join}`, rowMode: 'array' });
      const shown = new Set<string>();
      for (const row of rows as unknown[][]) {
        const key = table.keyOf(row);
        shown.add(keyText(key));
        add(encodePk(key), row[keyCount], valuesOf(row, keyCount + 1));
      }
      if (read !== null) {
        // the rows the user had that the policy no longer shows: removals
        const had = await client.query<{ pk: Buffer }>(`SELECT pk FROM ${this.s}.cloudsync_rls_seen WHERE user_id = $1 AND tbl = $2`, [user.userId, table.name]);
        const gone = had.rows.map((r) => decodePk(r.pk)).filter((key) => !shown.has(keyText(key)));
        if (gone.length > 0) {
          const meta = await client.query({ text: `SELECT ${table.shape.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks FROM ${table.meta} AS m WHERE ${table.keyMatch('m', table.shape.pk.map((_, i) => `pk${i + 1}`))}`, values: table.keyArrays(gone), rowMode: 'array' });
          for (const row of meta.rows as unknown[][]) add(encodePk(table.keyOf(row)), row[keyCount], null);
        }
      } else {
        // a table without policies: its deleted rows travel as deletes
        const { rows: deleted } = await client.query({ text: `SELECT ${table.shape.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks FROM ${table.meta} AS m WHERE NOT EXISTS (SELECT 1 FROM ${table.base} AS b WHERE ${join})`, rowMode: 'array' });
        for (const row of deleted as unknown[][]) add(encodePk(table.keyOf(row)), row[keyCount], null);
      }
      return;
    }
    // since a watermark: the rows changed after it, each through the policy
    const from = since.seq >= HORIZON_SEQ ? since.dbVersion + 1 : since.dbVersion;
    const { rows } = await client.query({
      text: `SELECT ${table.shape.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks, b.${pgName(table.shape.pk[0]?.name ?? '')} IS NOT NULL${columns} FROM ${table.meta} AS m LEFT JOIN (SELECT * FROM ${table.base} WHERE ${filter}) AS b ON ${join} WHERE m.db_version >= $1`,
      values: [from],
      rowMode: 'array',
    });
    const hidden: { pk: Uint8Array; stored: unknown }[] = [];
    for (const row of rows as unknown[][]) {
      const pk = encodePk(table.keyOf(row));
      if (row[keyCount + 1] === true) add(pk, row[keyCount], valuesOf(row, keyCount + 2));
      else hidden.push({ pk, stored: row[keyCount] });
    }
    if (hidden.length === 0) return;
    if (read === null) {
      for (const h of hidden) add(h.pk, h.stored, null);
      return;
    }
    // a removal only for rows the user had: of any other row the user learns nothing
    const had = await client.query<{ pk: Buffer }>(`SELECT pk FROM ${this.s}.cloudsync_rls_seen WHERE user_id = $1 AND tbl = $2 AND pk = ANY($3::bytea[])`, [user.userId, table.name, hidden.map((h) => Buffer.from(h.pk))]);
    const known = new Set(had.rows.map((r) => r.pk.toString('latin1')));
    for (const h of hidden) if (known.has(Buffer.from(h.pk).toString('latin1'))) add(h.pk, h.stored, null);
  }

  /** Records that the user was sent these rows (of tables with policies). */
  private async remember(client: PoolClient, policies: Policies, user: PolicyUser, picks: readonly Pick<HostedTable>[]): Promise<void> {
    const secured = picks.filter((p) => policies.has(p.table.name.toLowerCase()));
    if (secured.length === 0) return;
    await this.recordSeen(client, user, secured.map((p) => p.table.name), secured.map((p) => p.pk));
  }

  /** Records rows (table names and keys, in pairs) as sent to or written by the user. */
  private async recordSeen(client: PoolClient, user: PolicyUser, tables: string[], pks: Uint8Array[]): Promise<void> {
    await client.query(`INSERT INTO ${this.s}.cloudsync_rls_seen (user_id, tbl, pk) SELECT $1, * FROM unnest($2::text[], $3::bytea[]) ON CONFLICT DO NOTHING`, [user.userId, tables, pks.map((pk) => Buffer.from(pk))]);
  }

  /** The reason the write policy refuses these rows in their current state, or null. */
  private async checkRows(client: PoolClient, policies: Policies, rows: readonly (readonly Change[])[], when: 'before' | 'after'): Promise<string | null> {
    const byTable = new Map<HostedTable, SqlValue[][]>();
    for (const row of rows) {
      const first = row[0] as Change;
      const table = this.host.table(first.tbl);
      if (!table) throw new HttpError(422, `upload: unknown table ${first.tbl}`);
      const policy = policies.get(table.name.toLowerCase());
      if (!policy) continue;
      if (policy.write === null) return `table ${table.name} accepts no writes from users (it has policies but no write policy)`;
      let keys = byTable.get(table);
      if (!keys) byTable.set(table, (keys = []));
      keys.push(decodePk(first.pk));
    }
    for (const [table, keys] of byTable) {
      const write = (policies.get(table.name.toLowerCase()) as TablePolicy).write as string;
      // an insert has no row before, a delete none after: only rows present are judged
      const { rows: judged } = await client.query({ text: `SELECT coalesce((${write}), false) FROM ${table.base} AS b WHERE ${table.keyMatch('b', table.shape.pk.map((c) => pgName(c.name)))}`, values: table.keyArrays(keys), rowMode: 'array' });
      if ((judged as unknown[][]).some((row) => row[0] !== true)) return `the write policy of ${table.name} refuses this row ${when} the change`;
    }
    return null;
  }

  /** The server's rows for refused keys that the user may read, whole, as a payload. */
  private async restore(client: PoolClient, policies: Policies, user: PolicyUser, refused: readonly Refusal[]): Promise<Uint8Array | null> {
    if (refused.length === 0) return null;
    const picks: Pick<HostedTable>[] = [];
    const byTable = new Map<HostedTable, SqlValue[][]>();
    for (const refusal of refused) {
      const table = this.host.table(refusal.table);
      const policy = table && policies.get(table.name.toLowerCase());
      if (!table || (policy && policy.read === null)) continue;
      let keys = byTable.get(table);
      if (!keys) byTable.set(table, (keys = []));
      keys.push(decodePk(refusal.pk));
    }
    for (const [table, keys] of byTable) {
      const read = policies.get(table.name.toLowerCase())?.read ?? null;
      const join = table.metaJoin;
      const { rows } = await client.query({
        text: `SELECT ${table.shape.pk.map((c) => `b.${pgName(c.name)}`).join(', ')}, m.clocks${table.columns.map((c) => `, b.${pgName(c.name)}`).join('')} FROM (SELECT * FROM ${table.base} WHERE ${read === null ? 'true' : `(${read})`}) AS b JOIN ${table.meta} AS m ON ${join} WHERE ${table.keyMatch('b', table.shape.pk.map((c) => pgName(c.name)))}`,
        values: table.keyArrays(keys),
        rowMode: 'array',
      });
      const keyCount = table.shape.pk.length;
      for (const row of rows as unknown[][]) {
        const clocks = readRowClocks(row[keyCount], table.cellCount);
        const last = newest(clocks);
        if (last) picks.push({ table, pk: encodePk(table.keyOf(row)), clocks, values: table.columns.map((c, i) => fromPg(row[keyCount + 1 + i], c.kind)), last });
      }
    }
    if (picks.length === 0) return null;
    await this.remember(client, policies, user, picks);
    const siteOf = (ordinal: number) => this.host.siteIdOf(ordinal);
    const [payload] = splitPayloads((sink) => picks.forEach((p) => emitPick(p, sink, siteOf)), { schemaHash: this.host.schemaHash(), maxBytes: Number.MAX_SAFE_INTEGER });
    return payload?.payload ?? null;
  }
}
