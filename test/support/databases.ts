// Small helpers shared by the engine tests: open synced databases and exchange payloads.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../../src/index.js';

/** A database with sqlite-sync loaded. */
export interface SyncedDb {
  db: Database.Database;
  sync: CloudSync;
}

/** Opens an in-memory database (or a WAL file when `file` is given) with sqlite-sync loaded. */
export function openSynced(file = ':memory:', ...schema: string[]): SyncedDb {
  const db = new Database(file);
  if (file !== ':memory:') db.pragma('journal_mode = WAL');
  const sync = load(db);
  for (const sql of schema) db.exec(sql);
  return { db, sync };
}

/** A temporary folder removed by the returned cleanup function. */
export function temporaryFolder(): { path: (name: string) => string; remove: () => void } {
  const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-test-'));
  return { path: (name) => join(folder, name), remove: () => rmSync(folder, { recursive: true, force: true }) };
}

const ENCODE = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes';

/** Encodes a database's changes (only its own with `local`) through SQL, as the brief does. */
export function encodeSql(db: Database.Database, only: 'local' | 'all' = 'all'): Buffer | null {
  return db.prepare(only === 'local' ? `${ENCODE} WHERE site_id = cloudsync_siteid()` : ENCODE).pluck().get() as Buffer | null;
}

/** Sends `from`'s changes to `to` through SQL; returns the number applied (0 when none). */
export function sendSql(from: Database.Database, to: Database.Database, only: 'local' | 'all' = 'all'): number {
  const payload = encodeSql(from, only);
  if (payload === null) return 0;
  return Number(to.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload));
}

/** All rows of a table ordered by every column, as JSON-friendly arrays. */
export function rowsOf(db: Database.Database, table: string): unknown[][] {
  const quoted = `"${table.replaceAll('"', '""')}"`;
  const count = db.prepare(`SELECT * FROM ${quoted}`).columns().length;
  const order = Array.from({ length: count }, (_, i) => i + 1).join(', ');
  return db.prepare(`SELECT * FROM ${quoted} ORDER BY ${order}`).safeIntegers(true).raw(true).all() as unknown[][];
}
