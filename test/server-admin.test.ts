// Administration through the library, on both stores, with a running server picking up every
// change at once: databases, API keys (stored hashed, revocable), status.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PgStore } from '../src/server/storage/postgres/pg-store.js';
import type { SyncServer } from '../src/server/index.js';
import { temporaryFolder } from './support/databases.js';
import { STORES } from './support/stores.js';
import { openDevice, startServer, TODO_SCHEMA } from './support/sync-server.js';

for (const store of STORES) describe(`server administration, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let server: SyncServer;
  let location: { location: string; remove(): Promise<void> };

  before(async () => {
    location = await store.create();
    server = await startServer(location.location);
  });
  after(async () => {
    await server?.close();
    await location?.remove();
    folder.remove();
  });

  /** Whether a hosted database has storage of its own (a file, or a PostgreSQL schema). */
  const hasStorage = async (name: string) => {
    if (server.data.store instanceof PgStore) return (await server.data.store.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name])).rows.length > 0;
    return existsSync(join(location.location, 'databases', `${name}.db`));
  };
  /** Every byte the store keeps of its records, to look for a secret in. */
  const recordBytes = async (): Promise<Buffer[]> => {
    if (server.data.store instanceof PgStore) {
      const tables = ['api_keys', 'settings', 'databases', 'sites'];
      return Promise.all(tables.map(async (t) => Buffer.from(JSON.stringify((await (server.data.store as PgStore).pool.query(`SELECT * FROM sqlite_sync.${t}`)).rows))));
    }
    const files = ['server.db', 'server.db-wal'].map((f) => join(location.location, f)).filter(existsSync);
    assert.ok(files.length > 0);
    return files.map((file) => readFileSync(file));
  };

  it('creates databases from a schema, refusing bad names, duplicates and failing schemas without leaving files', async () => {
    const data = server.data;
    const record = await data.createDatabase('notes.sqlite', 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT);\nCREATE TABLE tags (id TEXT PRIMARY KEY NOT NULL, name TEXT);');
    assert.equal(record.name, 'notes.sqlite');
    assert.deepEqual((await data.databaseStatus('notes.sqlite')).tables.map((t) => [t.name, t.algo]), [['notes', 'cls'], ['tags', 'cls']]);
    const gos = await data.createDatabase('log', "CREATE TABLE entries (id TEXT PRIMARY KEY NOT NULL, line TEXT);\nSELECT cloudsync_init('entries', 'gos');");
    assert.equal(gos.name, 'log');
    assert.equal((await data.databaseStatus('log')).tables[0]?.algo, 'gos');
    await assert.rejects(async () => data.createDatabase('../escape', TODO_SCHEMA), /invalid database name/);
    await assert.rejects(async () => data.createDatabase('notes.sqlite', TODO_SCHEMA), /already exists/);
    await assert.rejects(async () => data.createDatabase('broken', 'CREATE TABLE broken (id INTEGER PRIMARY KEY, v)'), /the schema failed: .*integer primary key|INTEGER/i);
    await assert.rejects(async () => data.createDatabase('empty', 'SELECT 1;'), /creates no table/);
    assert.equal(await hasStorage('broken'), false);
    assert.equal(await hasStorage('notes.sqlite'), true);
    assert.deepEqual((await data.listDatabases()).map((d) => d.name), ['log', 'notes.sqlite']);
  });

  it('stores API keys only as hashes, lists them without secrets, and a revoked key stops working at once', async () => {
    const data = server.data;
    await data.createDatabase('todos.sqlite', TODO_SCHEMA);
    const created = await data.createApiKey('todos.sqlite', 'phone');
    const other = await data.createApiKey('todos.sqlite', 'laptop');
    const records = await recordBytes();
    assert.ok(records.some((bytes) => bytes.includes(Buffer.from('laptop'))), 'the records are where we look');
    for (const bytes of records) assert.ok(!bytes.includes(Buffer.from(created.key)), 'the key itself is not stored');
    const listed = await data.listApiKeys('todos.sqlite');
    assert.deepEqual(listed.map((k) => k.name), ['phone', 'laptop']);
    assert.ok(listed.every((k) => !('key' in k)));
    await assert.rejects(async () => data.createApiKey('missing'), /database 'missing' not found/);

    const device = openDevice(folder.path('d.db'), server.url, 'todos.sqlite', created.key);
    device.db.prepare("INSERT INTO todos (id) VALUES ('k1')").run();
    await device.sync.network.sync();
    await data.revokeApiKey(created.id);
    await assert.rejects(async () => data.revokeApiKey(created.id), /no active API key/);
    device.db.prepare("INSERT INTO todos (id) VALUES ('k2')").run();
    await assert.rejects(device.sync.network.sync(), (e: Error & { status?: number }) => e.status === 401);
    device.sync.network.setApiKey(other.key);
    await device.sync.network.sync();
    assert.equal((await data.databaseStatus('todos.sqlite')).tables[0]?.rows, 2);
    assert.equal((await data.databaseStatus('todos.sqlite')).activeKeys, 1);
  });

  it('a key opens only its own database', async () => {
    const notesKey = (await server.data.createApiKey('notes.sqlite')).key;
    const device = openDevice(folder.path('cross.db'), server.url, 'todos.sqlite', notesKey);
    await assert.rejects(device.sync.network.checkChanges(), (e: Error & { status?: number }) => e.status === 401 && /not valid for database 'todos.sqlite'/.test(e.message));
  });

  it('status counts the sites seen; dropping a database removes its file and keys, and its clients get 404 or 401', async () => {
    const data = server.data;
    const status = await data.databaseStatus('todos.sqlite');
    assert.equal(status.sites.length, 1);
    assert.equal(typeof status.sites[0]?.caughtUpTo, 'number', 'how far the site had caught up at its last check');
    assert.equal(status.sitesWithChanges, 1);
    assert.ok(status.sizeBytes > 0 && status.dbVersion > 0);
    const key = (await data.createApiKey('notes.sqlite')).key;
    await data.dropDatabase('todos.sqlite');
    assert.equal(await hasStorage('todos.sqlite'), false);
    assert.deepEqual(await data.listApiKeys('todos.sqlite'), []);
    await assert.rejects(async () => data.dropDatabase('todos.sqlite'), /not found/);
    const device = openDevice(folder.path('late.db'), server.url, 'todos.sqlite', key);
    await assert.rejects(device.sync.network.checkChanges(), (e: Error & { status?: number }) => e.status === 404);
  });
});

describe('open databases', () => {
  it('keeps at most maxOpenDatabases open, closing the least recently used, and reopens on demand', async () => {
    const folder = temporaryFolder();
    const server = await startServer(folder.path('data'), { maxOpenDatabases: 2 });
    try {
      const keys: string[] = [];
      for (const name of ['one', 'two', 'three']) {
        await server.data.createDatabase(name, TODO_SCHEMA);
        keys.push((await server.data.createApiKey(name)).key);
      }
      const devices = ['one', 'two', 'three'].map((name, i) => openDevice(folder.path(`${name}.db`), server.url, name, keys[i] as string));
      for (const [i, device] of devices.entries()) {
        device.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(`row-${i}`, `in database ${i}`);
        await device.sync.network.sync();
      }
      assert.equal(server.data.openDatabases, 2);
      // 'one' was closed to open 'three'; it reopens with its data
      const again = openDevice(folder.path('one-again.db'), server.url, 'one', keys[0] as string);
      await again.sync.network.sync();
      assert.deepEqual(again.db.prepare('SELECT id FROM todos').pluck().all(), ['row-0']);
      assert.equal(server.data.openDatabases, 2);
    } finally {
      await server.close();
      folder.remove();
    }
  });
});
