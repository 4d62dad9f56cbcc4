// Row-level security end to end, against a real server on loopback: users see and change only
// their rows, reassigned rows move between users' devices, refused writes are reported and put
// back, and crafted requests learn nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodePayload, decodePk, encodePk, NetworkError } from '../src/index.js';
import type { SyncServer } from '../src/server/index.js';
import { temporaryFolder } from './support/databases.js';
import { openDevice, provision, startServer } from './support/sync-server.js';
import { hostedRows, STORES } from './support/stores.js';

const SCHEMA = `CREATE TABLE tasks (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', owner TEXT, done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE notices (id TEXT PRIMARY KEY NOT NULL, body TEXT);
CREATE TABLE audit (id TEXT PRIMARY KEY NOT NULL, note TEXT, owner TEXT);
CREATE TABLE outbox (id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT);
SELECT cloudsync_init('outbox');
SELECT cloudsync_init('tasks');
SELECT cloudsync_init('notices');
SELECT cloudsync_init('audit');
`;
const DB = 'tasks.sqlite';

for (const store of STORES) describe(`row-level security, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let removeStore: () => Promise<void> = async () => undefined;
  let server: SyncServer;
  let adminKey: string;
  const tokens: Record<string, string> = {};
  let counter = 0;

  /** A device of a user (a token) or of the administrator (the API key). */
  const device = (who: string) => {
    const d = openDevice(folder.path(`${who}-${counter++}.db`), server.url, DB, adminKey, SCHEMA);
    if (who !== 'admin') d.sync.network.setToken(tokens[who] as string);
    return d;
  };
  const ids = (d: ReturnType<typeof device>, table = 'tasks') =>
    d.db
      .prepare(`SELECT id FROM ${table} ORDER BY id`)
      .pluck()
      .all();
  const serverRows = async (table = 'tasks') => (await hostedRows(server.data, DB, table)).map((row) => JSON.parse(row) as Record<string, unknown>);

  before(async () => {
    const { location, remove } = await store.create();
    removeStore = remove;
    adminKey = await provision(location, DB, SCHEMA);
    server = await startServer(location);
    await server.data.setPolicy(DB, 'tasks', { read: 'owner = auth_userid()', write: 'owner = auth_userid()' });
    await server.data.setPolicy(DB, 'audit', { read: "auth_claim('role') = 'auditor'", write: null });
    await server.data.setPolicy(DB, 'outbox', { read: null, write: 'owner = auth_userid()' });
    for (const user of ['alice', 'bob', 'carol', 'dave']) tokens[user] = await server.data.createToken(DB, user, { ttlSeconds: 3600, claims: user === 'carol' ? { role: 'auditor' } : {} });
  });
  after(async () => {
    await server?.close();
    await removeStore();
    folder.remove();
  });

  it("each user sees and edits only their own tasks; the admin key sees everything", async () => {
    const admin = device('admin');
    admin.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('a1', 'alice 1', 'alice'), ('a2', 'alice 2', 'alice'), ('b1', 'bob 1', 'bob')").run();
    admin.db.prepare("INSERT INTO notices (id, body) VALUES ('n1', 'for everyone')").run();
    admin.db.prepare("INSERT INTO audit (id, note, owner) VALUES ('x1', 'secret', 'alice')").run();
    await admin.sync.network.sync();

    const alice = device('alice');
    const bob = device('bob');
    await alice.sync.network.sync();
    await bob.sync.network.sync();
    assert.deepEqual(ids(alice), ['a1', 'a2']);
    assert.deepEqual(ids(bob), ['b1']);
    assert.deepEqual(ids(alice, 'notices'), ['n1'], 'a table without policies is shared');
    assert.deepEqual(ids(alice, 'audit'), [], 'no read rule for her: nothing');

    alice.db.prepare("UPDATE tasks SET done = 1 WHERE id = 'a1'").run();
    alice.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('a3', 'alice 3', 'alice')").run();
    alice.db.prepare("INSERT INTO notices (id, body) VALUES ('n2', 'from alice')").run();
    await alice.sync.network.sync();
    await bob.sync.network.sync();
    assert.deepEqual(ids(bob), ['b1']);
    assert.deepEqual(ids(bob, 'notices'), ['n1', 'n2']);
    await admin.sync.network.sync();
    assert.deepEqual(ids(admin), ['a1', 'a2', 'a3', 'b1']);
    assert.equal(admin.db.prepare("SELECT done FROM tasks WHERE id = 'a1'").pluck().get(), 1);

    // a table with a write policy and no read policy: users may post, nobody reads back
    alice.db.prepare("INSERT INTO outbox (id, body, owner) VALUES ('o1', 'hello', 'alice')").run();
    await alice.sync.network.sync();
    await bob.sync.network.sync();
    assert.deepEqual(ids(bob, 'outbox'), []);
    const aliceTablet = device('alice');
    await aliceTablet.sync.network.sync();
    assert.deepEqual(ids(aliceTablet, 'outbox'), [], "no download carries it, not even to its author's other devices");
    assert.equal((await serverRows('outbox'))?.length, 1);

    const carol = device('carol');
    await carol.sync.network.sync();
    assert.deepEqual(ids(carol, 'audit'), ['x1'], "a claim in the policy: carol is the auditor");
    assert.deepEqual(ids(carol), []);
  });

  it("reassigning a row from alice to bob removes it from alice's devices and brings it whole to bob's", async () => {
    const alicePhone = device('alice');
    const aliceLaptop = device('alice');
    const bob = device('bob');
    for (const d of [alicePhone, aliceLaptop, bob]) await d.sync.network.sync();
    alicePhone.db.prepare("UPDATE tasks SET title = 'alice 2, edited' WHERE id = 'a2'").run();
    await alicePhone.sync.network.sync();
    const admin = device('admin');
    await admin.sync.network.sync();
    admin.db.prepare("UPDATE tasks SET owner = 'bob' WHERE id = 'a2'").run();
    await admin.sync.network.sync();

    for (const d of [alicePhone, aliceLaptop, bob]) await d.sync.network.sync();
    assert.ok(!ids(alicePhone).includes('a2'));
    assert.ok(!ids(aliceLaptop).includes('a2'));
    assert.deepEqual(bob.db.prepare("SELECT id, title, owner, done FROM tasks WHERE id = 'a2'").get(), { id: 'a2', title: 'alice 2, edited', owner: 'bob', done: 0 });
    // nothing travelled back: the removal recorded no delete
    assert.ok((await serverRows())?.some((r) => (r as { id: string }).id === 'a2'));

    // and back again: it returns whole to alice
    admin.db.prepare("UPDATE tasks SET owner = 'alice', done = 1 WHERE id = 'a2'").run();
    await admin.sync.network.sync();
    for (const d of [aliceLaptop, bob]) await d.sync.network.sync();
    assert.deepEqual(aliceLaptop.db.prepare("SELECT id, title, owner, done FROM tasks WHERE id = 'a2'").get(), { id: 'a2', title: 'alice 2, edited', owner: 'alice', done: 1 });
    assert.ok(!ids(bob).includes('a2'));
  });

  it("a write into another user's row is refused and explained; the other changes of the upload land", async () => {
    const alice = device('alice');
    await alice.sync.network.sync();
    alice.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('a4', 'alice 4', 'alice')").run(); // fine
    alice.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('b1', 'not yours', 'alice')").run(); // bob's key
    alice.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('a5', 'for bob', 'bob')").run(); // gives a row away
    alice.db.prepare("INSERT INTO audit (id, note, owner) VALUES ('x2', 'no', 'alice')").run(); // no write rule
    alice.db.prepare("UPDATE tasks SET title = 'alice 1 again' WHERE id = 'a1'").run(); // fine

    const failure = await alice.sync.network.sync().catch((error: unknown) => error);
    assert.ok(failure instanceof NetworkError && failure.code === 'REFUSED', String(failure));
    assert.match(failure.message, /the server refused changes: tasks \["b1"\]: the write policy of tasks refuses this row before the change \(and 2 more; see cloudsync_refused\)/);
    const refused = alice.sync.network.refusedChanges();
    assert.deepEqual(
      refused.map((r) => [r.table, r.reason.replace(/ of \w+ /, ' ')]),
      [
        ['tasks', 'the write policy refuses this row before the change'],
        ['tasks', 'the write policy refuses this row after the change'],
        ['audit', 'table audit accepts no writes from users (it has policies but no write policy)'],
      ],
    );
    assert.equal(alice.db.prepare('SELECT count(*) FROM cloudsync_refused').pluck().get(), 3);
    // the refused rows are back in line with the server: gone here, as alice may not read them
    assert.deepEqual(ids(alice), ['a1', 'a2', 'a3', 'a4']);
    assert.deepEqual(ids(alice, 'audit'), []);
    assert.equal(alice.db.prepare("SELECT title FROM tasks WHERE id = 'a1'").pluck().get(), 'alice 1 again');
    const bobRow = (await serverRows())?.find((r) => (r as { id: string }).id === 'b1') as { title: string; owner: string };
    assert.deepEqual([bobRow.title, bobRow.owner], ['bob 1', 'bob']);
    assert.ok(!(await serverRows())?.some((r) => (r as { id: string }).id === 'a5'));
    assert.equal(alice.sync.network.hasUnsentChanges(), false, 'refused changes are not retried forever');
    await alice.sync.network.sync(); // and the next sync is clean
  });

  it('an update that a user may make but that takes the row out of their hands is refused and the row restored', async () => {
    const alice = device('alice');
    await alice.sync.network.sync();
    alice.db.prepare("UPDATE tasks SET owner = 'bob', title = 'yours now' WHERE id = 'a3'").run();
    await assert.rejects(alice.sync.network.sync(), (e: NetworkError) => e.code === 'REFUSED' && /after the change/.test(e.message));
    assert.deepEqual(alice.db.prepare("SELECT title, owner FROM tasks WHERE id = 'a3'").get(), { title: 'alice 3', owner: 'alice' }, "the server's row is back");
  });

  describe('crafted requests learn nothing', () => {
    const site = '0123456789abcdef0123456789abcdef';
    const check = (token: string, dbVersion: number, seq: number) =>
      fetch(`${server.url}/v1/cloudsync/${DB}/${site}/${dbVersion}/${seq}/check`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    const download = async (response: Response) => {
      const text = (await response.text()).trim();
      assert.equal(response.status, 200, text);
      return text === '' ? null : Buffer.from(await (await fetch(text)).arrayBuffer());
    };

    it('any watermark gives a user only their own rows', async () => {
      for (const [dbVersion, seq] of [
        [0, 0],
        [1, 0],
        [3, 999],
      ] as const) {
        const payload = await download(await check(tokens.bob as string, dbVersion, seq));
        if (payload === null) continue;
        for (const change of decode(payload)) {
          if (change.tbl !== 'tasks' || change.cl === 0) continue;
          const row = (await serverRows())?.find((r) => Buffer.from(encodeKey((r as { id: string }).id)).equals(Buffer.from(change.pk))) as { owner: string } | undefined;
          assert.equal(row?.owner, 'bob', `watermark ${dbVersion}/${seq} leaked a row of ${row?.owner}`);
        }
      }
    });

    it('a watermark past the newest version is refused with a hint, and reveals nothing', async () => {
      const response = await check(tokens.bob as string, 2 ** 40, 0);
      assert.equal(response.status, 409);
      assert.match(await response.text(), /^the check watermark 1099511627776 is past this database's newest version \d+ \(was the server restored from a backup\?\); run cloudsync_network_reset_sync_version\(\) to download everything again$/);
    });

    it('a user who never had a row hears nothing of it: no rows, no deletes, no removals', async () => {
      for (const [dbVersion, seq] of [
        [0, 0],
        [1, 0],
        [5, 0],
      ] as const) {
        const payload = await download(await check(tokens.dave as string, dbVersion, seq));
        // the only thing allowed besides the shared table: a marker moving the watermark, whose key (all NULL) names no row
        const leaked = payload === null ? [] : decode(payload).filter((c) => c.tbl !== 'notices' && !(c.cl === 0 && decodePk(c.pk).every((v) => v === null)));
        assert.deepEqual(leaked.map((c) => [c.tbl, c.colName, c.cl]), [], `watermark ${dbVersion}/${seq}`);
      }
    });

    it("an upload URL works only for the user and site that asked for it; a replay applies nothing twice", async () => {
      const alice = device('alice');
      await alice.sync.network.sync();
      alice.db.prepare("INSERT INTO tasks (id, title, owner) VALUES ('a9', 'alice 9', 'alice')").run();
      const payload = alice.sync.encodePayload({ site: 'local' }) as Uint8Array;
      const aliceSite = Buffer.from(alice.sync.siteId() as Uint8Array).toString('hex');
      const auth = (user: string) => ({ Authorization: `Bearer ${tokens[user]}` });
      const url = (await (await fetch(`${server.url}/v1/cloudsync/${DB}/${aliceSite}/upload`, { headers: auth('alice') })).text()).trim();
      assert.equal((await fetch(url, { method: 'PUT', body: payload })).status, 200);
      const notify = (user: string) =>
        fetch(`${server.url}/v1/cloudsync/${DB}/${aliceSite}/upload`, { method: 'POST', headers: { ...auth(user), 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });
      assert.equal((await notify('bob')).status, 404, "bob cannot apply alice's upload");
      assert.equal((await notify('alice')).status, 200);
      const version = (await server.data.databaseStatus(DB)).dbVersion;
      assert.equal((await notify('alice')).status, 200);
      assert.equal((await server.data.databaseStatus(DB)).dbVersion, version, 'the replay applied nothing');
      assert.equal((await fetch(url, { method: 'PUT', body: payload })).status, 404, 'the URL is spent');
    });

    it("a payload forged with another site's id or another user's rows is judged by the token, not by its contents", async () => {
      const bob = device('bob');
      await bob.sync.network.sync();
      const admin = device('admin');
      await admin.sync.network.sync();
      // bob sends a change of alice's row a1 under the admin's site id
      admin.db.prepare("UPDATE tasks SET title = 'forged' WHERE id = 'a1'").run();
      const forged = admin.sync.encodePayload({ site: 'local' }) as Uint8Array;
      const site = Buffer.from(bob.sync.siteId() as Uint8Array).toString('hex');
      const auth = { Authorization: `Bearer ${tokens.bob}` };
      const url = (await (await fetch(`${server.url}/v1/cloudsync/${DB}/${site}/upload`, { headers: auth })).text()).trim();
      await fetch(url, { method: 'PUT', body: forged });
      const answer = await fetch(`${server.url}/v1/cloudsync/${DB}/${site}/upload`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });
      assert.equal(answer.status, 200);
      const body = JSON.parse(await answer.text()) as { refused: { table: string; reason: string }[]; restore: string | null };
      assert.equal(body.refused.length, 1);
      assert.equal(body.restore, null, "alice's row is not sent to bob as a restore");
      assert.notEqual(((await serverRows())?.find((r) => (r as { id: string }).id === 'a1') as { title: string }).title, 'forged');
    });
  });
});

function decode(payload: Uint8Array) {
  return decodePayload(payload).changes;
}

function encodeKey(id: string): Uint8Array {
  return encodePk([id]);
}
