// The global cloudsync tables in the user's database: settings, site ids, table registry and
// schema-hash history. Names and shapes follow the reference so tools that know it can read them.

import type { SqlValue } from '../codec/value.js';
import type { Connection, Statement } from './connection.js';
import { unexpected } from './errors.js';
import { createUuidBytes, type RandomBytes } from './uuid.js';
import { toHex } from '../codec/bytes.js';

/**
 * The table that holds one row while this connection merges, inside the merge's transaction, so
 * that other connections never see it: the log triggers test it natively and skip a merge's
 * writes without calling JavaScript (see meta-schema.ts). createTriggers creates it too, for
 * databases whose global tables are older.
 */
export const MERGING_TABLE_SQL = 'CREATE TABLE IF NOT EXISTS main.cloudsync_merging (merging INTEGER NOT NULL);';

const GLOBAL_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS cloudsync_settings (key TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, value TEXT);
CREATE TABLE IF NOT EXISTS cloudsync_site_id (site_id BLOB UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS cloudsync_table_settings (tbl_name TEXT NOT NULL COLLATE NOCASE, col_name TEXT NOT NULL COLLATE NOCASE, key TEXT NOT NULL COLLATE NOCASE, value TEXT, PRIMARY KEY (tbl_name, col_name, key));
CREATE TABLE IF NOT EXISTS cloudsync_schema_versions (hash INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
${MERGING_TABLE_SQL}
`;

/** Table-wide settings use this column name. */
export const ALL_COLUMNS = '*';

/** Reads and writes the global cloudsync tables of one connection. */
export class Settings {
  private readonly statements = new Map<string, Statement>();
  private readonly siteOrdinals = new Map<string, number>();
  private readonly siteIds = new Map<number, Uint8Array>();
  private hasMergingTable: boolean | undefined;

  constructor(private readonly db: Connection) {}

  /** True once the global tables exist. */
  exist(): boolean {
    return this.statement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cloudsync_site_id'").get() !== undefined;
  }

  /** Creates the global tables and the local site id if they are missing. */
  create(libraryVersion: string, now: number, random: RandomBytes): void {
    this.db.exec(GLOBAL_TABLES_SQL);
    this.statements.clear();
    if (!this.db.prepare('SELECT 1 FROM cloudsync_site_id WHERE rowid = 0').get()) {
      this.db.prepare('INSERT INTO cloudsync_site_id (rowid, site_id) VALUES (0, ?)').run([createUuidBytes(now, random)]);
      this.set('version', libraryVersion);
    }
  }

  /**
   * Marks the start (true) or end (false) of a merge in the merging table, inside the merge's
   * transaction. Nothing when the database has no such table (its triggers are older and ask
   * JavaScript instead).
   */
  markMerging(merging: boolean): void {
    this.hasMergingTable ??= this.statement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cloudsync_merging'").get() !== undefined;
    if (this.hasMergingTable) this.statement(merging ? 'INSERT INTO cloudsync_merging (merging) VALUES (1)' : 'DELETE FROM cloudsync_merging').run();
  }

  /** Forgets cached statements and site ordinals (after tables were dropped or recreated). */
  forget(): void {
    this.hasMergingTable = undefined;
    this.statements.clear();
    this.siteOrdinals.clear();
    this.siteIds.clear();
  }

  /** Forgets the cached site ordinals (a rollback may have removed site ids added since). */
  forgetSites(): void {
    this.siteOrdinals.clear();
    this.siteIds.clear();
  }

  /** The local site id (16 bytes). */
  localSiteId(): Uint8Array {
    return this.siteId(0);
  }

  /** The site id stored under an ordinal. */
  siteId(ordinal: number): Uint8Array {
    let id = this.siteIds.get(ordinal);
    if (!id) {
      const row = this.statement('SELECT site_id FROM cloudsync_site_id WHERE rowid = ?').get([BigInt(ordinal)]);
      if (!row || !(row[0] instanceof Uint8Array)) unexpected(`a meta row names site ordinal ${ordinal}, which cloudsync_site_id does not hold`);
      id = Uint8Array.from(row[0]);
      this.siteIds.set(ordinal, id);
      this.siteOrdinals.set(toHex(id), ordinal);
    }
    return id;
  }

  /** The ordinal of a site id, or undefined when this database never saw it. */
  findSiteOrdinal(siteId: Uint8Array): number | undefined {
    const key = toHex(siteId);
    const known = this.siteOrdinals.get(key);
    if (known !== undefined) return known;
    const found = this.statement('SELECT rowid FROM cloudsync_site_id WHERE site_id = ?').get([siteId]);
    if (!found) return undefined;
    const ordinal = Number(found[0]);
    this.siteOrdinals.set(key, ordinal);
    this.siteIds.set(ordinal, Uint8Array.from(siteId));
    return ordinal;
  }

  /** The ordinal of a site id, adding it when new. */
  siteOrdinal(siteId: Uint8Array): number {
    const key = toHex(siteId);
    let ordinal = this.findSiteOrdinal(siteId);
    if (ordinal === undefined) {
      const next = this.statement('SELECT max(rowid) + 1 FROM cloudsync_site_id').get();
      ordinal = Math.max(1, Number(next?.[0] ?? 1));
      this.statement('INSERT INTO cloudsync_site_id (rowid, site_id) VALUES (?, ?)').run([BigInt(ordinal), siteId]);
      this.siteOrdinals.set(key, ordinal);
      this.siteIds.set(ordinal, Uint8Array.from(siteId));
    }
    return ordinal;
  }

  /** Reads a global setting (null when missing). */
  get(key: string): string | null {
    const row = this.statement('SELECT value FROM cloudsync_settings WHERE key = ?').get([key]);
    return row === undefined || row[0] === null ? null : String(row[0]);
  }

  /** Writes a global setting; null deletes it. */
  set(key: string, value: SqlValue): void {
    if (value === null) this.statement('DELETE FROM cloudsync_settings WHERE key = ?').run([key]);
    else this.statement('INSERT INTO cloudsync_settings (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value').run([key, textOf(value)]);
  }

  /** Reads a table or column setting. */
  getTable(table: string, key: string, column: string = ALL_COLUMNS): string | null {
    const row = this.statement('SELECT value FROM cloudsync_table_settings WHERE tbl_name = ? AND col_name = ? AND key = ?').get([table, column, key]);
    return row === undefined || row[0] === null ? null : String(row[0]);
  }

  /** Writes a table or column setting; null deletes it. */
  setTable(table: string, key: string, value: SqlValue, column: string = ALL_COLUMNS): void {
    if (value === null) this.statement('DELETE FROM cloudsync_table_settings WHERE tbl_name = ? AND col_name = ? AND key = ?').run([table, column, key]);
    else
      this.statement('INSERT INTO cloudsync_table_settings (tbl_name, col_name, key, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value').run([
        table,
        column,
        key,
        textOf(value),
      ]);
  }

  /** Removes every setting of a table. */
  deleteTable(table: string): void {
    this.statement('DELETE FROM cloudsync_table_settings WHERE tbl_name = ?').run([table]);
  }

  /** Names of the registered (augmented) tables, in the order the database created them. */
  tables(): string[] {
    return this.statement(
      `SELECT s.tbl_name FROM cloudsync_table_settings s LEFT JOIN sqlite_master m ON m.type = 'table' AND m.name = s.tbl_name
       WHERE s.col_name = '*' AND s.key = 'algo' ORDER BY m.rowid`,
    )
      .all()
      .map((r) => String(r[0]));
  }

  /** Records a schema hash as the current one. */
  recordSchemaHash(hash: bigint): void {
    this.statement('INSERT INTO cloudsync_schema_versions (hash, seq) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM cloudsync_schema_versions)) ON CONFLICT DO UPDATE SET seq = excluded.seq').run([hash]);
  }

  /** True when a (signed) schema hash is the current one or in the history. */
  knowsSchemaHash(hash: bigint): boolean {
    return this.statement('SELECT 1 FROM cloudsync_schema_versions WHERE hash = ?').get([hash]) !== undefined;
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** Drops the global tables (cloudsync_cleanup('*')). */
export function dropGlobalTables(db: Connection): void {
  db.exec(`DROP TABLE IF EXISTS cloudsync_settings; DROP TABLE IF EXISTS cloudsync_site_id;
    DROP TABLE IF EXISTS cloudsync_table_settings; DROP TABLE IF EXISTS cloudsync_schema_versions; DROP TABLE IF EXISTS cloudsync_merging;`);
}

const utf8 = new TextDecoder();

function textOf(value: SqlValue): string {
  return value instanceof Uint8Array ? utf8.decode(value) : String(value);
}
