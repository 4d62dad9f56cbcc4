// Moving a database from the embedded store to PostgreSQL with `sqlite-sync db copy`: devices
// keep their watermarks and go on syncing against the new store without a full download; keys,
// tokens and policies come along; a policy PostgreSQL cannot compile stops the copy, leaving the
// target as it was.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer, openServerData, type SyncServer } from '../src/server/index.js';
import { temporaryFolder } from './support/databases.js';
import { freshPgDatabase, skipWithoutPostgres, type TestPgDatabase } from './support/postgres.js';
import { hostedRows } from './support/stores.js';
import { openDevice, provision, rowsOf, runCli } from './support/sync-server.js';

if (skipWithoutPostgres) console.log(skipWithoutPostgres);

describe('db copy from the embedded store to PostgreSQL', { skip: skipWithoutPostgres }, () => {
  const folder = temporaryFolder();
  const dataDir = folder.path('data');
  let target: TestPgDatabase;

  before(async () => {
    target = await freshPgDatabase();
  });
  after(async () => {
    await target?.drop();
    folder.remove();
  });

  it('devices go on syncing against the copy without downloading again; keys, tokens and policies come along', async () => {
    const key = await provision(dataDir, 'moving');
    let server: SyncServer = await createServer({ dataDir, port: 0, logger: false });
    await server.data.setPolicy('moving', 'todos', { read: 'owner = auth_userid()', write: 'owner = auth_userid()' });
    const token = await server.data.createToken('moving', 'alice', { ttlSeconds: 3600 });
    const admin = openDevice(folder.path('admin.db'), server.url, 'moving', key);
    const alice = openDevice(folder.path('alice.db'), server.url, 'moving', key);
    alice.sync.network.setToken(token);
    admin.db.prepare("INSERT INTO todos (id, title, owner) VALUES ('a1', 'alice one', 'alice'), ('a2', 'alice two', 'alice'), ('b1', 'bob one', 'bob'), ('gone', 'x', 'alice')").run();
    admin.db.prepare("UPDATE todos SET done = 1 WHERE id = 'a1'").run();
    await admin.sync.network.sync();
    admin.db.prepare("DELETE FROM todos WHERE id = 'gone'").run();
    await admin.sync.network.sync();
    await alice.sync.network.sync();
    alice.db.prepare("UPDATE todos SET title = 'edited by alice' WHERE id = 'a2'").run();
    await alice.sync.network.sync();
    await admin.sync.network.sync();
    const before = await server.data.databaseStatus('moving');
    const rowsBefore = await hostedRows(server.data, 'moving', 'todos');
    await server.close();

    const copied = runCli(['db', 'copy', 'moving', '--data', dataDir, '--to', target.url]);
    assert.equal(copied.status, 0, copied.stderr);
    assert.match(copied.stdout, /copied database 'moving': 3 rows, 4 meta rows, \d+ sites, db_version \d+, 1 API keys, 1 policies/);

    server = await createServer({ store: target.url, port: 0, logger: false });
    try {
      assert.deepEqual(await hostedRows(server.data, 'moving', 'todos'), rowsBefore);
      const after = await server.data.databaseStatus('moving');
      assert.equal(after.dbVersion, before.dbVersion);
      assert.equal(after.siteId, before.siteId, 'the server keeps its site id');
      // the app is pointed at the new server (a new connection string: the credential again)
      for (const device of [admin, alice]) {
        device.sync.network.init(`${server.url}/moving`);
        device.sync.network.setApiKey(key);
      }
      alice.sync.network.setToken(token);
      const again = await admin.sync.network.sync();
      assert.deepEqual([again.sent.changes, again.received.changes], [0, 0], 'the admin device downloads nothing again');
      const aliceAgain = await alice.sync.network.sync();
      assert.deepEqual([aliceAgain.sent.changes, aliceAgain.received.changes], [0, 0], 'the token still works and alice downloads nothing again');
      admin.db.prepare("INSERT INTO todos (id, title, owner) VALUES ('a3', 'after the move', 'alice'), ('b2', 'bob after', 'bob')").run();
      await admin.sync.network.sync();
      await alice.sync.network.sync();
      assert.deepEqual(
        rowsOf(alice).map((r) => JSON.parse(r).id),
        ['a1', 'a2', 'a3'],
        'alice gets the new row of hers, and still none of bob',
      );
      assert.deepEqual(rowsOf(admin), await hostedRows(server.data, 'moving', 'todos'));
    } finally {
      await server.close();
    }
  });

  it('a policy that PostgreSQL cannot compile stops the copy and leaves nothing in the target', async () => {
    await provision(dataDir, 'sqlite-only');
    const data = await openServerData(dataDir);
    await data.setPolicy('sqlite-only', 'todos', { read: "owner GLOB 'a*'", write: null });
    await data.close();
    const copied = runCli(['db', 'copy', 'sqlite-only', '--data', dataDir, '--to', target.url]);
    assert.equal(copied.status, 1);
    assert.match(copied.stderr, /the read policy of todos does not compile on PostgreSQL: .*rewrite it for PostgreSQL/);
    const store = await openServerData(target.url);
    try {
      assert.equal(await store.hasDatabase('sqlite-only'), false);
    } finally {
      await store.close();
    }
  });
});
