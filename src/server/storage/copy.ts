// Moving a hosted database from the embedded store to PostgreSQL (`sqlite-sync db copy`) without
// losing a clock: every row with its values, every meta row with its clocks (versions, the
// server's db_versions and seqs, site ordinals), the site ids (the server's own included), the
// database's db_version, its policies and the rows each user was sent; then its admin records
// (the record with its schema text, active API keys by hash, identity provider, sites). Devices
// keep their watermarks: they are positions in the same numbering, so their next check brings
// only what is new.

import type { SqlValue } from '../../codec/value.js';
import { maxDbVersion, readRowClocks, writeRowClocks } from '../../engine/row-clocks.js';
import { HttpError } from '../http-error.js';
import type { ServerData } from '../server-data.js';
import { transaction } from './postgres/pg-errors.js';
import { pgName, pgType, toPg } from './postgres/pg-layout.js';
import type { PgPeer } from './postgres/pg-peer.js';
import { PgStore } from './postgres/pg-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/** What a copy moved. */
export interface CopyReport {
  rows: number;
  metaRows: number;
  sites: number;
  dbVersion: number;
  keys: number;
  policies: number;
  /** Said when the token secret could not be carried over (tokens must then be issued again). */
  warnings: string[];
}

const BATCH = 5000;

/** Copies database `name` from `from` (the embedded store) to `to` (PostgreSQL), where it must not exist yet. */
export async function copyDatabase(from: ServerData, to: ServerData, name: string): Promise<CopyReport> {
  if (!(from.store instanceof SqliteStore) || !(to.store instanceof PgStore)) {
    throw new HttpError(400, 'db copy moves a database from a data directory (the embedded store) to PostgreSQL; give the source with --data and the target with --to postgres://…');
  }
  const record = await from.store.admin.findDatabase(name);
  if (!record) throw new HttpError(404, `database '${name}' not found`);
  if (await to.store.admin.findDatabase(name)) throw new HttpError(409, `database '${name}' already exists in the target store`);
  const source = from.store.open(name);
  const db = source.db;
  source.sync.engine.log.foldAll(); // writes made by a shell on the server's file
  await to.store.createData(name, record.schema);
  const target = (await to.store.peer(name)) as PgPeer;
  const report: CopyReport = { rows: 0, metaRows: 0, sites: 0, dbVersion: 0, keys: 0, policies: 0, warnings: [] };
  const s = pgName(name);
  try {
    db.exec('BEGIN'); // one snapshot of the file, also while a server writes it
    try {
      await transaction(to.store.pool, async (client) => {
        await client.query(`SELECT 1 FROM ${s}.cloudsync_state FOR UPDATE`);
        const sites = db.prepare('SELECT rowid AS ordinal, site_id FROM cloudsync_site_id ORDER BY rowid').all() as { ordinal: number; site_id: Buffer }[];
        await client.query(`DELETE FROM ${s}.cloudsync_sites`);
        await client.query(`INSERT INTO ${s}.cloudsync_sites (ordinal, site_id) SELECT * FROM unnest($1::int[], $2::bytea[])`, [sites.map((r) => r.ordinal), sites.map((r) => r.site_id)]);
        report.sites = sites.length;
        for (const table of target.tables()) {
          const names = [...table.shape.pk, ...table.columns];
          const quoted = names.map((c) => `"${c.name.replaceAll('"', '""')}"`);
          const insertBase = async (batch: SqlValue[][]) => {
            if (batch.length === 0) return;
            const arrays = names.map((c, i) => batch.map((row) => toPg(row[i] ?? null, c.kind, table.name, c.name)));
            await client.query(`INSERT INTO ${table.base} (${names.map((c) => pgName(c.name)).join(', ')}) SELECT * FROM unnest(${names.map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`).join(', ')})`, arrays);
            report.rows += batch.length;
          };
          let batch: SqlValue[][] = [];
          for (const row of db.prepare(`SELECT ${quoted.join(', ')} FROM "${table.name.replaceAll('"', '""')}"`).raw().safeIntegers().iterate() as Iterable<SqlValue[]>) {
            batch.push(row);
            if (batch.length >= BATCH) await insertBase(batch.splice(0));
          }
          await insertBase(batch);
          const keys = table.shape.pk.map((_, i) => `pk${i + 1}`);
          const insertMeta = async (rows: SqlValue[][]) => {
            if (rows.length === 0) return;
            const clocks = rows.map((row) => readRowClocks(row[keys.length], table.cellCount));
            const arrays = [
              ...table.shape.pk.map((c, i) => rows.map((row) => toPg(row[i] ?? null, c.kind, table.name, c.name))),
              clocks.map((c) => writeRowClocks(c)),
              clocks.map((c) => maxDbVersion(c)),
            ];
            await client.query(
              `INSERT INTO ${table.meta} (${keys.join(', ')}, clocks, db_version) SELECT * FROM unnest(${table.shape.pk.map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`).join(', ')}, $${keys.length + 1}::text[], $${keys.length + 2}::int8[])`,
              arrays,
            );
            report.metaRows += rows.length;
          };
          batch = [];
          for (const row of db.prepare(`SELECT ${keys.join(', ')}, clocks FROM "${`${table.name}_cloudsync`.replaceAll('"', '""')}"`).raw().safeIntegers().iterate() as Iterable<SqlValue[]>) {
            batch.push(row);
            if (batch.length >= BATCH) await insertMeta(batch.splice(0));
          }
          await insertMeta(batch);
        }
        report.dbVersion = Math.max(source.sync.dbVersion(), source.sync.engine.storedVersion());
        // last_seq stays at its default, above any seq: the first check at this version reads the tables
        // the newest change's seq is not known here (DEFAULT: no check is answered from the state row alone)
        await client.query(`UPDATE ${s}.cloudsync_state SET db_version = $1, last_seq = DEFAULT`, [report.dbVersion]);
        // policies compiled on PostgreSQL: one written for SQLite that PostgreSQL refuses stops the copy
        for (const policy of source.security.policies()) {
          await target.security.setPolicy(client, policy.table, { read: policy.read, write: policy.write }).catch((error: unknown) => {
            throw new HttpError(400, `${error instanceof Error ? error.message : String(error)}; rewrite it for PostgreSQL (docs/security.md) on the source, then copy again`);
          });
          report.policies++;
        }
        const seen = db.prepare('SELECT user_id, tbl, pk FROM cloudsync_rls_seen').all() as { user_id: string; tbl: string; pk: Buffer }[];
        if (seen.length > 0) {
          await client.query(`INSERT INTO ${s}.cloudsync_rls_seen (user_id, tbl, pk) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT DO NOTHING`, [seen.map((r) => r.user_id), seen.map((r) => r.tbl), seen.map((r) => r.pk)]);
        }
      });
    } finally {
      db.exec('COMMIT');
    }
  } catch (error) {
    await to.store.dropData(name).catch(() => undefined);
    throw error;
  }
  to.store.forget(name); // the peer read the sites before they were copied
  await copyAdmin(from, to, name, record, report);
  return report;
}

async function copyAdmin(from: ServerData, to: ServerData, name: string, record: { name: string; createdAt: number; schema: string }, report: CopyReport): Promise<void> {
  const source = from.store.admin;
  const target = to.store.admin;
  await target.addDatabase(record);
  for (const { record: key, hash } of await source.apiKeyHashes(name)) {
    if (key.revokedAt !== null) continue;
    await target.addApiKey(key, hash);
    report.keys++;
  }
  const auth = await source.findExternalAuth(name);
  if (auth) await target.setExternalAuth(name, auth);
  await target.touchSites((await source.listSites(name)).map((site) => ({ database: name, siteId: site.siteId, at: site.lastSeen, caughtUpTo: site.caughtUpTo })));
  const secret = await source.readSetting('token_secret');
  if (secret) {
    const kept = await target.writeSettingOnce('token_secret', secret);
    if (!Buffer.from(kept).equals(Buffer.from(secret))) report.warnings.push('the target store signs tokens with its own secret: tokens issued by the source server are refused there; issue them again');
  }
}
