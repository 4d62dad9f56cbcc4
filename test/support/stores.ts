// The two stores a server suite runs on, one suite for both: the embedded SQLite store (a data
// directory) and PostgreSQL (a fresh database on the throwaway server the test runner started).
// A suite asks for a location and gives it wherever a data directory went before.

import { join } from 'node:path';
import type { ServerData } from '../../src/server/index.js';
import { PgStore } from '../../src/server/storage/postgres/pg-store.js';
import { pgName } from '../../src/server/storage/postgres/pg-layout.js';
import { SqliteStore } from '../../src/server/storage/sqlite/sqlite-store.js';
import type { SqlValue } from '../../src/codec/value.js';
import { temporaryFolder } from './databases.js';
import { freshPgDatabase, skipWithoutPostgres } from './postgres.js';

/** A store a suite runs on. */
export interface TestStore {
  name: string;
  /** Why the suite skips on it, or false. */
  skip: string | false;
  /** A new, empty location (a directory or a PostgreSQL URL), and how to remove it. */
  create(): Promise<{ location: string; remove(): Promise<void> }>;
}

export const STORES: readonly TestStore[] = [
  {
    name: 'embedded SQLite',
    skip: false,
    create: async () => {
      const folder = temporaryFolder();
      return { location: join(folder.path('data')), remove: async () => folder.remove() };
    },
  },
  {
    name: 'PostgreSQL',
    skip: skipWithoutPostgres,
    create: async () => {
      const database = await freshPgDatabase();
      return { location: database.url, remove: () => database.drop() };
    },
  },
];

if (skipWithoutPostgres) console.log(skipWithoutPostgres);

/** A hosted table's rows as the server stores them, sorted by key, as JSON lines (text and numbers as SQLite gives them). */
export async function hostedRows(data: ServerData, database: string, table: string): Promise<string[]> {
  const store = data.store;
  if (store instanceof SqliteStore) {
    return (store.open(database).db.prepare(`SELECT * FROM ${pgName(table)} ORDER BY 1`).all() as Record<string, SqlValue>[]).map((row) => JSON.stringify(row));
  }
  if (store instanceof PgStore) {
    const { rows } = await store.pool.query(`SELECT * FROM ${pgName(database)}.${pgName(table)} ORDER BY 1`);
    return rows.map((row: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v]))));
  }
  throw new Error('unknown store');
}
