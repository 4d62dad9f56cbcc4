// Reads a user table's shape from SQLite and checks that it can be synced (the reference's rules).

import type { Connection } from './connection.js';
import { CloudSyncError } from './errors.js';
import { logTableName, metaTableName, quoteLiteral } from './identifiers.js';

/** One primary-key column: its name, declared type and collation, in key order. */
export interface PkColumn {
  name: string;
  type: string;
  collation: string;
}

/** What the engine needs to know about a synced table. */
export interface TableShape {
  name: string;
  pk: PkColumn[];
  /** Non-primary-key columns in declaration (cid) order. */
  columns: string[];
}

const MAX_NAME_LENGTH = 1900;
const MAX_PK_COLUMNS = 128;

/** Reads a table's columns; throws NOT_FOUND if it does not exist. */
export function readTableShape(db: Connection, fn: string, table: string): TableShape {
  const name = findTable(db, table);
  if (name === undefined) throw new CloudSyncError('NOT_FOUND', `${fn}: table ${table} does not exist`);
  const info = db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo(${quoteLiteral(name)}, 'main') WHERE hidden = 0 ORDER BY cid`).all();
  const pkRows = info.filter((r) => Number(r[4]) > 0).sort((a, b) => Number(a[4]) - Number(b[4]));
  const collations = readPkCollations(db, name);
  return {
    name,
    pk: pkRows.map((r) => ({ name: String(r[0]), type: String(r[1] ?? ''), collation: collations.get(String(r[0])) ?? 'BINARY' })),
    columns: info.filter((r) => Number(r[4]) === 0).map((r) => String(r[0])),
  };
}

/** Applies the reference's checks for cloudsync_init; `force` allows a single INTEGER key. */
export function checkSyncable(db: Connection, fn: string, table: string, force: boolean): TableShape {
  if (table.length > MAX_NAME_LENGTH) throw new CloudSyncError('SCHEMA', `${fn}: table name is longer than ${MAX_NAME_LENGTH} characters`);
  const shape = readTableShape(db, fn, table);
  const info = db.prepare(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo(${quoteLiteral(shape.name)}, 'main') WHERE hidden = 0`).all();
  if (shape.pk.length === 0) {
    throw new CloudSyncError('SCHEMA', `${fn}: table ${shape.name} has no primary key; rowid-only tables cannot be synced, declare a PRIMARY KEY`);
  }
  if (shape.pk.length > MAX_PK_COLUMNS) {
    throw new CloudSyncError('SCHEMA', `${fn}: table ${shape.name} has more than ${MAX_PK_COLUMNS} primary-key columns`);
  }
  const only = shape.pk[0];
  if (!force && shape.pk.length === 1 && only && /INT/i.test(only.type)) {
    throw new CloudSyncError(
      'SCHEMA',
      `${fn}: table ${shape.name} has a single INTEGER primary key; integer keys generated on several devices collide. Use TEXT keys from cloudsync_uuid(), or pass force = 1 if the keys are globally unique`,
    );
  }
  for (const row of info) {
    const [name, , notNull, dflt, pk] = row;
    if (Number(pk) > 0 && Number(notNull) === 0) {
      throw new CloudSyncError('SCHEMA', `${fn}: primary-key column ${String(name)} of table ${shape.name} must be declared NOT NULL`);
    }
    if (Number(pk) === 0 && Number(notNull) !== 0 && dflt === null) {
      throw new CloudSyncError('SCHEMA', `${fn}: column ${String(name)} of table ${shape.name} is NOT NULL without a DEFAULT; rows are merged one column at a time, add a DEFAULT`);
    }
  }
  return shape;
}

function readPkCollations(db: Connection, table: string): Map<string, string> {
  const result = new Map<string, string>();
  const index = db.prepare(`SELECT name FROM pragma_index_list(${quoteLiteral(table)}, 'main') WHERE origin = 'pk'`).get();
  if (!index) return result;
  for (const row of db.prepare(`SELECT name, coll FROM pragma_index_xinfo(${quoteLiteral(String(index[0]))}, 'main') WHERE key = 1`).all()) {
    result.set(String(row[0]), String(row[1] ?? 'BINARY'));
  }
  return result;
}

/** Names of the user's tables in creation order (not SQLite's nor ours), for cloudsync_init('*'). */
export function userTables(db: Connection): string[] {
  return db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")
    .all()
    .map((r) => String(r[0]))
    .filter((name) => !/^sqlite_/i.test(name) && !/^cloudsync_/i.test(name) && !/_cloudsync(_log)?$/i.test(name));
}

/** The name of the main-schema table called `name` (as SQLite compares names), or undefined. */
function findTable(db: Connection, name: string): string | undefined {
  const row = db.prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE").get([name]);
  return row === undefined ? undefined : String(row[0]);
}

/** Refuses to start syncing `table` when a table of the user's has the name of its meta table or log. */
export function refuseForeignTables(db: Connection, fn: string, table: string): void {
  for (const name of [metaTableName(table), logTableName(table)]) {
    if (findTable(db, name) !== undefined) {
      throw new CloudSyncError('MISUSE', `${fn}: table ${name} already exists and was not made by cloudsync; rename it before syncing ${table}`);
    }
  }
}
