// The admin records of both stores, one suite: the embedded store's server.db and PostgreSQL
// (a real server, started by the test runner). Databases, API keys, sites, settings and identity
// providers behave the same on each; PostgreSQL's schema migrates once, also with two nodes at once.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate, SCHEMA_VERSION } from '../src/server/storage/postgres/migrations.js';
import { PgAdminRecords } from '../src/server/storage/postgres/admin-records.js';
import { SqliteStore } from '../src/server/storage/sqlite/sqlite-store.js';
import type { AdminRecords } from '../src/server/storage/storage.js';
import { temporaryFolder } from './support/databases.js';
import { freshPgDatabase, skipWithoutPostgres, type TestPgDatabase } from './support/postgres.js';

interface Opened {
  records: AdminRecords;
  close(): Promise<void>;
}

const stores: { name: string; skip: string | false; open(): Promise<Opened> }[] = [
  {
    name: 'embedded SQLite',
    skip: false,
    open: async () => {
      const folder = temporaryFolder();
      const store = new SqliteStore(folder.path('data'));
      return { records: store.admin, close: async () => (await store.close(), folder.remove()) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: skipWithoutPostgres,
    open: async () => {
      const database = await freshPgDatabase();
      const pool = new pg.Pool({ connectionString: database.url, max: 4 });
      await migrate(pool);
      return { records: new PgAdminRecords(pool), close: async () => (await pool.end(), await database.drop()) };
    },
  },
];

if (skipWithoutPostgres) console.log(skipWithoutPostgres);

for (const store of stores) {
  describe(`admin records on ${store.name}`, { skip: store.skip }, () => {
    let opened: Opened;
    let records: AdminRecords;
    before(async () => {
      opened = await store.open();
      records = opened.records;
    });
    after(() => opened?.close());

    it('adds, finds, lists (by name) and removes databases, with their keys, sites and identity provider', async () => {
      await records.addDatabase({ name: 'b.sqlite', createdAt: 2, schema: 'CREATE TABLE t (id TEXT PRIMARY KEY)' });
      await records.addDatabase({ name: 'a.sqlite', createdAt: 1, schema: 'x' });
      await assert.rejects(() => records.addDatabase({ name: 'a.sqlite', createdAt: 3, schema: 'y' }), 'a name is unique');
      assert.deepEqual(await records.findDatabase('b.sqlite'), { name: 'b.sqlite', createdAt: 2, schema: 'CREATE TABLE t (id TEXT PRIMARY KEY)' });
      assert.equal(await records.findDatabase('nope'), undefined);
      assert.deepEqual((await records.listDatabases()).map((d) => d.name), ['a.sqlite', 'b.sqlite']);
      await records.addApiKey({ id: 'k-b', database: 'b.sqlite', name: 'default', createdAt: 5, revokedAt: null }, new Uint8Array(32).fill(7));
      await records.touchSites([{ database: 'b.sqlite', siteId: 'f'.repeat(32), at: 9, caughtUpTo: 4 }]);
      await records.setExternalAuth('b.sqlite', { jwks: 'https://idp/jwks', issuer: 'i', audience: 'a', algorithms: ['RS256'], updatedAt: 1 });
      assert.equal(await records.removeDatabase('b.sqlite'), true);
      assert.equal(await records.removeDatabase('b.sqlite'), false);
      assert.deepEqual(await records.listApiKeys('b.sqlite'), []);
      assert.deepEqual(await records.listSites('b.sqlite'), []);
      assert.equal(await records.findExternalAuth('b.sqlite'), undefined);
      assert.equal(await records.findActiveKey(new Uint8Array(32).fill(7)), undefined);
    });

    it('keeps API keys by hash, lists them in creation order, and revokes once', async () => {
      const hash = (n: number) => new Uint8Array(32).fill(n);
      await records.addApiKey({ id: 'k1', database: 'a.sqlite', name: 'phone', createdAt: 10, revokedAt: null }, hash(1));
      await records.addApiKey({ id: 'k0', database: 'a.sqlite', name: 'laptop', createdAt: 10, revokedAt: null }, hash(2));
      await records.addApiKey({ id: 'k2', database: 'other', name: 'x', createdAt: 11, revokedAt: null }, hash(3));
      await assert.rejects(() => records.addApiKey({ id: 'k3', database: 'a.sqlite', name: 'dup', createdAt: 12, revokedAt: null }, hash(1)), 'a hash is unique');
      assert.deepEqual((await records.listApiKeys('a.sqlite')).map((k) => k.id), ['k1', 'k0'], 'same millisecond: insertion order');
      assert.deepEqual((await records.listApiKeys()).map((k) => k.id), ['k1', 'k0', 'k2']);
      const found = await records.findActiveKey(hash(2));
      assert.equal(found?.id, 'k0');
      assert.equal(found?.database, 'a.sqlite');
      assert.deepEqual([...(found?.hash ?? [])], [...hash(2)]);
      assert.equal(await records.revokeApiKey('k0', 20), true);
      assert.equal(await records.revokeApiKey('k0', 21), false);
      assert.equal(await records.findActiveKey(hash(2)), undefined);
      assert.equal((await records.listApiKeys('a.sqlite')).find((k) => k.id === 'k0')?.revokedAt, 20);
    });

    it('records sites in batches: first and last seen, the newest catch-up kept when a visit has none', async () => {
      const site = (n: number) => String(n).repeat(32);
      await records.touchSites([]);
      await records.touchSites([
        { database: 'a.sqlite', siteId: site(1), at: 100, caughtUpTo: null },
        { database: 'a.sqlite', siteId: site(2), at: 101, caughtUpTo: 7 },
      ]);
      await records.touchSites([
        { database: 'a.sqlite', siteId: site(1), at: 150, caughtUpTo: 3 },
        { database: 'a.sqlite', siteId: site(2), at: 90, caughtUpTo: null },
      ]);
      assert.deepEqual(await records.listSites('a.sqlite'), [
        { siteId: site(1), firstSeen: 100, lastSeen: 150, caughtUpTo: 3 },
        { siteId: site(2), firstSeen: 101, lastSeen: 101, caughtUpTo: 7 },
      ]);
    });

    it('writes a setting once: a second writer gets the first value', async () => {
      assert.equal(await records.readSetting('secret'), undefined);
      const [first, second] = await Promise.all([records.writeSettingOnce('secret', new Uint8Array([1, 2])), records.writeSettingOnce('secret', new Uint8Array([3, 4]))]);
      assert.deepEqual([...first], [...second]);
      assert.deepEqual([...((await records.readSetting('secret')) ?? [])], [...first]);
    });

    it('sets, replaces and removes an identity provider', async () => {
      await records.setExternalAuth('a.sqlite', { jwks: '/keys.json', issuer: 'one', audience: 'app', algorithms: ['RS256', 'ES256'], updatedAt: 1 });
      await records.setExternalAuth('a.sqlite', { jwks: 'https://idp/jwks', issuer: 'two', audience: 'app', algorithms: ['ES256'], updatedAt: 2 });
      assert.deepEqual(await records.findExternalAuth('a.sqlite'), { jwks: 'https://idp/jwks', issuer: 'two', audience: 'app', algorithms: ['ES256'], updatedAt: 2 });
      assert.equal(await records.removeExternalAuth('a.sqlite'), true);
      assert.equal(await records.removeExternalAuth('a.sqlite'), false);
    });
  });
}

describe('PostgreSQL schema migrations', { skip: skipWithoutPostgres }, () => {
  let database: TestPgDatabase;
  before(async () => {
    database = await freshPgDatabase();
  });
  after(() => database?.drop());

  it('run once, in order, also when two nodes start at the same moment; a newer store is refused', async () => {
    const pools = [new pg.Pool({ connectionString: database.url }), new pg.Pool({ connectionString: database.url })];
    try {
      const applied = await Promise.all(pools.map((pool) => migrate(pool)));
      assert.deepEqual(applied.flat().sort(), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'every version applied by exactly one node');
      assert.deepEqual(await migrate(pools[0] as pg.Pool), [], 'nothing left to apply');
      await (pools[0] as pg.Pool).query('INSERT INTO sqlite_sync.migrations (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
      await assert.rejects(() => migrate(pools[1] as pg.Pool), /newer than this sqlite-sync/);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
