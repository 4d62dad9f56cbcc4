// PostgreSQL for tests: the throwaway server that scripts/run-tests.mjs started (its URL in
// SQLITE_SYNC_TEST_PG), and a fresh database in it per caller, so test files running at once do
// not meet. Without a server the PostgreSQL tests skip with the reason the runner recorded.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

const serverUrl = process.env.SQLITE_SYNC_TEST_PG ?? null;

/** Why the PostgreSQL tests skip, or false when a server is there. */
export const skipWithoutPostgres: string | false = serverUrl
  ? false
  : (process.env.SQLITE_SYNC_TEST_PG_SKIP ?? 'PostgreSQL tests skipped: no server (run the tests through `npm test`, which starts one, or set SQLITE_SYNC_TEST_PG)');

/** A database made for one test, and how to drop it. */
export interface TestPgDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database on the test server. */
export async function freshPgDatabase(): Promise<TestPgDatabase> {
  if (!serverUrl) throw new Error(String(skipWithoutPostgres));
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
