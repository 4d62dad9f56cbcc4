// How a hosted database's tables look in PostgreSQL. The schema text a database is created from
// is SQLite's (devices run the same text, so the schema hash matches): it runs once in an
// in-memory SQLite with our engine to learn each synced table's key, columns in clock order,
// algorithm and defaults, then each table becomes an ordinary PostgreSQL table with the app's
// columns, typed by SQLite's affinity rules:
//
// | declared type (SQLite affinity)               | PostgreSQL        | values accepted          |
// |-----------------------------------------------|-------------------|--------------------------|
// | contains INT (INTEGER)                        | bigint            | integers                 |
// | contains CHAR, CLOB or TEXT (TEXT)            | text              | text without NUL         |
// | contains BLOB (BLOB)                          | bytea             | blobs                    |
// | contains REAL, FLOA or DOUB (REAL)            | double precision  | reals, integers (as real)|
// | contains DATE or TIME (NUMERIC)               | text              | text without NUL         |
// | anything else: NUMERIC, DECIMAL, BOOLEAN (NUMERIC) | numeric      | integers, finite reals   |
// | none                                          | refused at create: declare a type          |
//
// NULL fits every column. A value that does not fit (SQLite would keep 'abc' in an INTEGER column)
// is refused with the upload, naming the table and column: nothing of that upload is applied.

import Database from 'better-sqlite3';
import type { SqlValue } from '../../../codec/value.js';
import { CloudSyncError } from '../../../engine/errors.js';
import type { Algo } from '../../../engine/meta-schema.js';
import { load } from '../../../load.js';
import { HttpError } from '../../http-error.js';

/** How a column's values are kept in PostgreSQL. */
export type PgKind = 'integer' | 'real' | 'text' | 'blob' | 'numeric';

const PG_TYPES: Record<PgKind, string> = { integer: 'bigint', real: 'double precision', text: 'text', blob: 'bytea', numeric: 'numeric' };

/** A column of a hosted table. */
export interface PgColumn {
  name: string;
  kind: PgKind;
  notNull: boolean;
  /** The default for rows a merge creates with some columns only (null: none). */
  default: SqlValue;
}

/** A synced table of a hosted database. */
export interface PgTableLayout {
  name: string;
  pk: PgColumn[];
  /** Non-key columns in clock order. */
  columns: PgColumn[];
  algo: Algo;
}

/** What a hosted database is made of, as stored with it. */
export interface PgDatabaseLayout {
  tables: PgTableLayout[];
  /** The schema hash of the text it was created from (unsigned, decimal). */
  schemaHash: string;
}

/** Runs a schema text in a scratch SQLite database and reads the layout of its tables. */
export function layoutOfSchema(schema: string): PgDatabaseLayout {
  const db = new Database(':memory:');
  try {
    const sync = load(db);
    try {
      db.exec(schema);
      const synced = new Set(sync.engine.syncedTables().map((t) => t.name.toLowerCase()));
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'cloudsync_%' AND name NOT LIKE '%_cloudsync' AND name NOT LIKE '%_cloudsync_log' ORDER BY rowid").all() as { name: string }[]) {
        if (!synced.has(name.toLowerCase())) sync.init(name);
      }
    } catch (error) {
      throw new HttpError(400, `the schema failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const tables = sync.engine.syncedTables().map((table): PgTableLayout => {
      const info = new Map(
        (db.prepare(`SELECT name, type, "notnull" AS not_null, dflt_value FROM pragma_table_info(?)`).all(table.name) as { name: string; type: string; not_null: number; dflt_value: string | null }[]).map((row) => [row.name, row]),
      );
      const column = (name: string, isKey: boolean): PgColumn => {
        const row = info.get(name);
        if (!row) throw new HttpError(400, `the schema failed: column ${name} of table ${table.name} not found`);
        const kind = kindOf(row.type);
        if (kind === null) throw new HttpError(400, `column ${name} of table ${table.name} has no declared type; the PostgreSQL store keeps every column in a typed PostgreSQL column: declare INTEGER, REAL, TEXT, BLOB or NUMERIC`);
        const fallback = isKey || row.dflt_value === null ? null : defaultValue(db, row.dflt_value, kind);
        return { name, kind, notNull: isKey || row.not_null !== 0, default: fallback };
      };
      return {
        name: table.name,
        algo: table.layout.algo,
        pk: table.layout.pk.map((c) => column(c.name, true)),
        columns: table.layout.columns.map((c) => column(c, false)),
      };
    });
    if (tables.length === 0) throw new HttpError(400, 'the schema creates no table');
    return { tables, schemaHash: sync.engine.schemaHash().toString() };
  } finally {
    db.close();
  }
}

/** The PostgreSQL kind of a declared SQLite type (SQLite's affinity rules, dates kept as text), or null when there is none. */
export function kindOf(declared: string): PgKind | null {
  const type = declared.toUpperCase();
  if (type.trim() === '') return null;
  if (type.includes('INT')) return 'integer';
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT')) return 'text';
  if (type.includes('BLOB')) return 'blob';
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 'real';
  if (type.includes('DATE') || type.includes('TIME')) return 'text';
  return 'numeric';
}

/** The PostgreSQL type of a kind. */
export function pgType(kind: PgKind): string {
  return PG_TYPES[kind];
}

/** A default evaluated once by SQLite; null when it does not fit the column (rows then take NULL). */
function defaultValue(db: Database.Database, expression: string, kind: PgKind): SqlValue {
  let value: SqlValue;
  try {
    value = (db.prepare(`SELECT (${expression})`).raw().safeIntegers().get() as SqlValue[])[0] ?? null;
  } catch {
    return null;
  }
  if (kind === 'integer' && typeof value === 'string' && /^-?\d+$/.test(value.trim())) value = BigInt(value.trim());
  try {
    toPg(value, kind, '', '');
    return value;
  } catch {
    return null;
  }
}

/** Quotes a PostgreSQL identifier. */
export function pgName(name: string): string {
  if (name.includes('\u0000')) throw new HttpError(400, 'a name cannot contain NUL');
  // PostgreSQL cuts longer names silently, which could make two names one
  if (Buffer.byteLength(name) > 63) throw new HttpError(400, `the name ${name} is longer than the 63 bytes PostgreSQL allows for a name (the PostgreSQL store names schemas after databases, and meta tables <table>_cloudsync)`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** A value as a query parameter for a column of `kind`; CloudSyncError MISMATCH when it does not fit. */
export function toPg(value: SqlValue, kind: PgKind, table: string, column: string): string | number | Buffer | null {
  if (value === null) return null;
  switch (kind) {
    case 'integer':
      if (typeof value === 'bigint') return value.toString();
      break;
    case 'real':
      if (typeof value === 'number') return Number.isFinite(value) ? value : value > 0 ? 'Infinity' : value < 0 ? '-Infinity' : 'NaN';
      if (typeof value === 'bigint') return Number(value);
      break;
    case 'text':
      if (typeof value === 'string') {
        if (value.includes('\u0000')) throw misfit(table, column, 'text with a NUL character, which PostgreSQL text cannot hold');
        return value;
      }
      break;
    case 'blob':
      if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      break;
    case 'numeric':
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      break;
  }
  throw misfit(table, column, describeValue(value));
}

/** A value read from PostgreSQL (int8 as text, numeric as text, bytea as Buffer) as a SQLite value. */
export function fromPg(value: unknown, kind: PgKind): SqlValue {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'integer':
      return BigInt(value as string);
    case 'real':
      return typeof value === 'number' ? value : Number(value);
    case 'numeric': {
      const text = String(value);
      if (/^-?\d+$/.test(text)) {
        const n = BigInt(text);
        if (n >= -(2n ** 63n) && n < 2n ** 63n) return n;
      }
      return Number(text);
    }
    case 'blob':
      return value as Buffer;
    default:
      return String(value);
  }
}

function misfit(table: string, column: string, what: string): CloudSyncError {
  return new CloudSyncError('MISMATCH', `column ${column} of table ${table} cannot hold ${what} on the PostgreSQL store (its values are kept in a typed PostgreSQL column; see docs/server.md)`);
}

function describeValue(value: SqlValue): string {
  if (typeof value === 'bigint') return `the integer ${value}`;
  if (typeof value === 'number') return `the real ${value}`;
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `a ${(value as Uint8Array).length}-byte blob`;
}

/** The DDL of a hosted database's schema in PostgreSQL: the app's tables, their meta tables, sites and state. */
export function createStatements(schemaName: string, layout: PgDatabaseLayout): string[] {
  const s = pgName(schemaName);
  const statements = [`CREATE SCHEMA ${s}`];
  for (const table of layout.tables) {
    // key columns compare text as SQLite does (bytes: "C"), whatever the cluster's locale, which is faster too
    const keyType = (c: PgColumn) => `${pgType(c.kind)}${c.kind === 'text' ? ' COLLATE "C"' : ''}`;
    const keyNames = new Set(table.pk.map((c) => c.name));
    const column = (c: PgColumn) => {
      let text = `${pgName(c.name)} ${keyNames.has(c.name) ? keyType(c) : pgType(c.kind)}`;
      if (c.notNull) text += ' NOT NULL';
      if (c.default !== null) text += ` DEFAULT ${literal(toPg(c.default, c.kind, table.name, c.name))}`;
      return text;
    };
    const keys = table.pk.map((c) => pgName(c.name)).join(', ');
    statements.push(`CREATE TABLE ${s}.${pgName(table.name)} (${[...table.pk, ...table.columns].map(column).join(', ')}, PRIMARY KEY (${keys}))`);
    const meta = pgName(metaName(table.name));
    const metaKeys = table.pk.map((c, i) => `pk${i + 1} ${keyType(c)} NOT NULL`).join(', ');
    statements.push(`CREATE TABLE ${s}.${meta} (${metaKeys}, clocks text NOT NULL, db_version bigint NOT NULL, PRIMARY KEY (${table.pk.map((_, i) => `pk${i + 1}`).join(', ')}))`);
    statements.push(`CREATE INDEX ON ${s}.${meta} (db_version)`);
  }
  statements.push(`CREATE TABLE ${s}.cloudsync_sites (ordinal integer PRIMARY KEY, site_id bytea NOT NULL UNIQUE)`);
  statements.push(`CREATE TABLE ${s}.cloudsync_state (id boolean PRIMARY KEY DEFAULT true CHECK (id), db_version bigint NOT NULL, last_seq bigint NOT NULL DEFAULT 1073741824, generation text NOT NULL, layout jsonb NOT NULL, run_site integer NOT NULL DEFAULT -1, run_db_version bigint NOT NULL DEFAULT 0, run_seq bigint NOT NULL DEFAULT 0, run_checked bigint NOT NULL DEFAULT -1)`);
  return statements;
}

/** The meta table of a hosted table (as the engine names them). */
export function metaName(table: string): string {
  return `${table}_cloudsync`;
}

/** A parameter as an SQL literal (for defaults in DDL, which takes no parameters). */
function literal(value: string | number | Buffer | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'::bytea`;
  return `'${value.replaceAll("'", "''")}'`;
}

/** The layout as stored in cloudsync_state (SqlValue defaults tagged, since JSON has no bigint or blob). */
export function layoutToJson(layout: PgDatabaseLayout): unknown {
  const tag = (v: SqlValue) => (typeof v === 'bigint' ? { i: v.toString() } : v instanceof Uint8Array ? { b: Buffer.from(v).toString('hex') } : v);
  return { ...layout, tables: layout.tables.map((t) => ({ ...t, pk: t.pk.map((c) => ({ ...c, default: null })), columns: t.columns.map((c) => ({ ...c, default: tag(c.default) })) })) };
}

/** The layout read back from cloudsync_state. */
export function layoutFromJson(json: unknown): PgDatabaseLayout {
  const layout = json as PgDatabaseLayout;
  const untag = (v: unknown): SqlValue => {
    if (v !== null && typeof v === 'object') {
      const o = v as { i?: string; b?: string };
      return o.i !== undefined ? BigInt(o.i) : Buffer.from(o.b ?? '', 'hex');
    }
    return v as SqlValue;
  };
  return { ...layout, tables: layout.tables.map((t) => ({ ...t, columns: t.columns.map((c) => ({ ...c, default: untag(c.default) })) })) };
}
