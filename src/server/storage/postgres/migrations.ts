// The PostgreSQL store's schema, versioned: each migration runs once, in order, in a transaction
// that holds an advisory lock, so several server nodes starting at once do not race. All of our
// tables live in the schema `sqlite_sync`; a hosted database's tables will live in a schema of
// its own.

import type { Pool, PoolClient } from 'pg';

/** The migrations, oldest first; a released one is never edited, only followed by another. */
const MIGRATIONS: readonly string[] = [
  // 1: the admin records
  `CREATE TABLE sqlite_sync.databases (name text PRIMARY KEY, created_at bigint NOT NULL, schema text NOT NULL);
   CREATE TABLE sqlite_sync.api_keys (
     id text PRIMARY KEY, database text NOT NULL, name text NOT NULL, key_hash bytea NOT NULL UNIQUE,
     created_at bigint NOT NULL, revoked_at bigint, seq bigserial NOT NULL);
   CREATE INDEX api_keys_database ON sqlite_sync.api_keys (database);
   CREATE TABLE sqlite_sync.sites (
     database text NOT NULL, site_id text NOT NULL, first_seen bigint NOT NULL, last_seen bigint NOT NULL,
     caught_up_to bigint, PRIMARY KEY (database, site_id));
   CREATE TABLE sqlite_sync.settings (key text PRIMARY KEY, value bytea NOT NULL);
   CREATE TABLE sqlite_sync.external_auth (
     database text PRIMARY KEY, jwks text NOT NULL, issuer text NOT NULL, audience text NOT NULL,
     algorithms text NOT NULL, updated_at bigint NOT NULL);`,
  // 2: transfer slots shared by every node (the token's SHA-256 is the key: the token is a credential)
  `CREATE TABLE sqlite_sync.transfers (
     id bytea PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('upload', 'download')),
     database text, site text, principal text, expires bigint NOT NULL,
     payload bytea, applied boolean NOT NULL DEFAULT false, lease_until bigint);
   CREATE INDEX transfers_expires ON sqlite_sync.transfers (expires);`,
  // 3: what row-level security policies call: the token user of the transaction (set by the server with set_config)
  `CREATE FUNCTION sqlite_sync.auth_userid() RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT nullif(current_setting('sqlite_sync.user_id', true), '') $$;
   CREATE FUNCTION sqlite_sync.auth_claims() RETURNS jsonb LANGUAGE sql STABLE
     AS $$ SELECT coalesce(nullif(current_setting('sqlite_sync.claims', true), ''), '{}')::jsonb $$;
   CREATE FUNCTION sqlite_sync.auth_claim(name text) RETURNS text LANGUAGE sql STABLE
     AS $$ SELECT sqlite_sync.auth_claims() ->> name $$;`,
  // 4: the bytes held by filled upload slots, summed on each PUT, without reading every slot
  `CREATE INDEX transfers_filled ON sqlite_sync.transfers (kind) WHERE payload IS NOT NULL AND kind = 'upload';`,
  // 5: payloads are compressed already; PostgreSQL's own compression of them cost 30-50 ms per MB written
  `ALTER TABLE sqlite_sync.transfers ALTER COLUMN payload SET STORAGE EXTERNAL;`,
  // 6: each hosted database's run (see Run in pg-upload.ts), added to the state rows of databases created before
  `DO $$
   DECLARE s text;
   BEGIN
     FOR s IN SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'cloudsync_state' AND c.relkind = 'r' LOOP
       EXECUTE format('ALTER TABLE %I.cloudsync_state ADD COLUMN IF NOT EXISTS run_site integer NOT NULL DEFAULT -1, ADD COLUMN IF NOT EXISTS run_db_version bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS run_seq bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS run_checked bigint NOT NULL DEFAULT -1', s);
     END LOOP;
   END $$;`,
];

/** The advisory lock key of migrations (any constant that no other use of the lock shares). */
const MIGRATION_LOCK = 0x5153_7953; // "SQSy"

/** The schema version this code needs. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the store's schema to SCHEMA_VERSION; returns the versions it applied. Refuses a store newer than this code. */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE SCHEMA IF NOT EXISTS sqlite_sync');
    await client.query('CREATE TABLE IF NOT EXISTS sqlite_sync.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const current = await currentVersion(client);
    if (current > SCHEMA_VERSION) throw new Error(`the PostgreSQL store is at schema version ${current}, newer than this sqlite-sync (${SCHEMA_VERSION}): upgrade sqlite-sync`);
    const applied: number[] = [];
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      await client.query(MIGRATIONS[version - 1] as string);
      await client.query('INSERT INTO sqlite_sync.migrations (version) VALUES ($1)', [version]);
      applied.push(version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function currentVersion(client: PoolClient): Promise<number> {
  const result = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM sqlite_sync.migrations');
  return Number(result.rows[0]?.version ?? 0);
}
