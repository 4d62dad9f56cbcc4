// The network layer against a real server on loopback (in this process, through the async API):
// the brief's example, a shared to-do list, offline work, split downloads and every documented error.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { readWatermark } from '../src/client/watermarks.js';
import { NetworkError } from '../src/index.js';
import type { SyncServer } from '../src/server/index.js';
import { temporaryFolder } from './support/databases.js';
import { openDevice, provision, rowsOf, startServer, TODO_SCHEMA } from './support/sync-server.js';
import { hostedRows, STORES } from './support/stores.js';

const BRIEF_SCHEMA = 'CREATE TABLE IF NOT EXISTS my_data (id TEXT PRIMARY KEY NOT NULL, value TEXT);';
const BRIEF_DEVICE = `${BRIEF_SCHEMA}\nSELECT cloudsync_init('my_data');`;

for (const store of STORES) describe(`sync through the server (async API), ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let server: SyncServer;
  let key: string;
  let briefKey: string;
  let loggedKey: string;
  let removeStore: () => Promise<void>;

  before(async () => {
    const { location, remove } = await store.create();
    removeStore = remove;
    key = await provision(location, 'todos.sqlite');
    loggedKey = await provision(location, 'logged.sqlite');
    briefKey = await provision(location, 'brief.sqlite', BRIEF_SCHEMA);
    server = await startServer(location, { maxUploadBytes: 256 * 1024, maxPayloadBytes: 16 * 1024 });
  });
  after(async () => {
    await server?.close();
    await removeStore?.();
    folder.remove();
  });

  it("runs the brief's usage example: device A inserts and syncs, device B pulls it", async () => {
    const a = openDevice(folder.path('brief-a.db'), server.url, 'brief.sqlite', briefKey, BRIEF_DEVICE);
    a.db.prepare("INSERT INTO my_data (id, value) VALUES (cloudsync_uuid(), 'Hello from device A!')").run();
    assert.equal(a.sync.network.hasUnsentChanges(), true);
    const first = await a.sync.network.sync();
    assert.equal(first.sent.changes, 1); // one column of one new row
    assert.equal(a.sync.network.hasUnsentChanges(), false);
    const b = openDevice(folder.path('brief-b.db'), server.url, 'brief.sqlite', briefKey, BRIEF_DEVICE);
    const pulled = await b.sync.network.sync();
    assert.equal(pulled.received.changes, 1);
    assert.deepEqual(rowsOf(b, 'my_data'), rowsOf(a, 'my_data'));
    assert.match(rowsOf(b, 'my_data')[0] ?? '', /Hello from device A!/);
  });

  it('a device with logged writes syncs with one that writes at once; a sync folds its log', async () => {
    const a = openDevice(folder.path('logged-a.db'), server.url, 'logged.sqlite', loggedKey, undefined, { logWrites: true });
    const b = openDevice(folder.path('logged-b.db'), server.url, 'logged.sqlite', loggedKey);
    const logSize = () => a.db.prepare('SELECT count(*) FROM todos_cloudsync_log').pluck().get();
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('l1', 'logged one'), ('l2', 'logged two'), ('l3', 'gone soon')").run();
    a.db.prepare("UPDATE todos SET done = 1 WHERE id = 'l1'").run();
    a.db.prepare("DELETE FROM todos WHERE id = 'l3'").run();
    assert.equal(logSize(), 5);
    assert.equal(a.sync.network.hasUnsentChanges(), true);
    await a.sync.network.sync();
    assert.equal(logSize(), 0);
    await b.sync.network.sync();
    b.db.prepare("UPDATE todos SET title = 'changed on b' WHERE id = 'l2'").run();
    await b.sync.network.sync();
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('l4', 'after')").run();
    await a.sync.network.sync();
    await b.sync.network.sync();
    assert.deepEqual(rowsOf(a), rowsOf(b));
    assert.deepEqual(rowsOf(a), [
      JSON.stringify({ id: 'l1', title: 'logged one', done: 1, owner: null }),
      JSON.stringify({ id: 'l2', title: 'changed on b', done: 0, owner: null }),
      JSON.stringify({ id: 'l4', title: 'after', done: 0, owner: null }),
    ]);
  });

  it('shares a to-do list between two devices, conflicts included', async () => {
    const a = openDevice(folder.path('todo-a.db'), server.url, 'todos.sqlite', key);
    const b = openDevice(folder.path('todo-b.db'), server.url, 'todos.sqlite', key);
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('milk', 'Buy milk'), ('mail', 'Answer mail')").run();
    await a.sync.network.sync();
    await b.sync.network.sync();
    assert.deepEqual(rowsOf(b), rowsOf(a));
    b.db.prepare("UPDATE todos SET done = 1 WHERE id = 'milk'").run();
    a.db.prepare("UPDATE todos SET title = 'Buy oat milk' WHERE id = 'milk'").run();
    b.db.prepare("DELETE FROM todos WHERE id = 'mail'").run();
    await b.sync.network.sync();
    await a.sync.network.sync();
    await b.sync.network.sync();
    assert.deepEqual(rowsOf(a), rowsOf(b));
    assert.deepEqual(rowsOf(a), [JSON.stringify({ id: 'milk', title: 'Buy oat milk', done: 1, owner: null })]);
  });

  it('keeps working offline and converges when both devices reconnect', async () => {
    const dead = 'http://127.0.0.1:9'; // nothing listens on the discard port
    const a = openDevice(folder.path('off-a.db'), dead, 'todos.sqlite', key);
    const b = openDevice(folder.path('off-b.db'), dead, 'todos.sqlite', key);
    const statuses: string[] = [];
    a.sync.network.on('status', (status) => statuses.push(status));
    for (let i = 0; i < 20; i++) {
      a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(`off-a-${i}`, `a ${i}`);
      b.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(`off-b-${i}`, `b ${i}`);
      if (i % 5 === 0) {
        const failure = await a.sync.network.sync().catch((error: unknown) => error);
        assert.ok(failure instanceof NetworkError && failure.code === 'OFFLINE', String(failure));
      }
    }
    assert.ok(statuses.includes('offline'));
    a.db.prepare("UPDATE todos SET done = 1 WHERE id = 'off-a-3'").run();
    b.db.prepare("DELETE FROM todos WHERE id = 'off-b-4'").run();
    assert.equal(a.sync.network.hasUnsentChanges(), true);
    for (const device of [a, b]) device.sync.network.init(`${server.url}/todos.sqlite?apikey=${key}`);
    await a.sync.network.sync();
    await b.sync.network.sync();
    await a.sync.network.sync();
    const rows = rowsOf(a).filter((r) => r.includes('off-'));
    assert.equal(rows.length, 39);
    assert.deepEqual(rowsOf(a), rowsOf(b));
    assert.ok(statuses.includes('up-to-date'));
  });

  it('splits a long history into bounded payloads and a new device catches up in one sync', async () => {
    const a = openDevice(folder.path('long-a.db'), server.url, 'todos.sqlite', key);
    const insert = a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
    a.db.transaction(() => {
      for (let i = 0; i < 1500; i++) insert.run(`long-${String(i).padStart(5, '0')}`, `a fairly long title number ${i} to fill bytes`);
    })();
    const sent = await a.sync.network.sendChanges();
    assert.equal(sent.changes, 4500);
    const b = openDevice(folder.path('long-b.db'), server.url, 'todos.sqlite', key);
    const progress: number[] = [];
    b.sync.network.on('progress', (p) => p.phase === 'receiving' && p.changes > 0 && progress.push(p.changes));
    const pulled = await b.sync.network.sync();
    assert.ok(pulled.received.payloads > 5, `${pulled.received.payloads} payloads of at most 16 KiB`);
    assert.ok(pulled.received.changes >= 4500);
    // after each payload, and as bytes arrive: never decreasing, one step per payload
    assert.ok(new Set(progress).size >= 5 && progress.every((n, i) => i === 0 || n >= (progress[i - 1] ?? 0)), String(progress));
    const longRows = (d: typeof a) => rowsOf(d).filter((r) => r.includes('long-'));
    assert.deepEqual(longRows(b), longRows(a));
    assert.equal(longRows(b).length, 1500);
    assert.equal((await b.sync.network.checkChanges()).payloads, 0);
  });

  it("splits uploads at the client's payload limit, moving the send watermark after each", async () => {
    const device = openDevice(folder.path('split-up.db'), server.url, 'todos.sqlite', key, TODO_SCHEMA, { network: { maxPayloadBytes: 8 * 1024 } });
    const insert = device.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
    device.db.transaction(() => {
      for (let i = 0; i < 600; i++) insert.run(`up-${i}`, `upload split ${i}`);
    })();
    const sent = await device.sync.network.sendChanges();
    assert.ok(sent.payloads > 3, `${sent.payloads} payloads`);
    assert.equal(sent.changes, 1800);
    assert.equal(device.sync.network.hasUnsentChanges(), false);
  });

  it('refuses a wrong key, an unknown database and a missing key with 401/404, and reads nothing', async () => {
    const wrong = openDevice(folder.path('wrong.db'), server.url, 'todos.sqlite', 'sqs_not-a-key');
    wrong.db.prepare("INSERT INTO todos (id) VALUES ('x')").run();
    await assert.rejects(wrong.sync.network.sync(), (e: NetworkError) => e.code === 'HTTP' && e.status === 401 && /invalid or revoked API key/.test(e.message));
    assert.equal(wrong.sync.network.hasUnsentChanges(), true);
    const unknown = openDevice(folder.path('unknown.db'), server.url, 'nope.sqlite', key);
    await assert.rejects(unknown.sync.network.checkChanges(), (e: NetworkError) => e.status === 404 && /not found/.test(e.message));
    const anonymous = openDevice(folder.path('anon.db'), server.url, 'todos.sqlite', key);
    anonymous.sync.network.setApiKey('');
    await assert.rejects(anonymous.sync.network.checkChanges(), (e: NetworkError) => e.status === 401);
    assert.deepEqual(rowsOf(anonymous), []);
  });

  it('refuses the blocking SQL functions against a server of the same thread at once, with the way out', () => {
    const device = openDevice(folder.path('same-thread.db'), server.url.replace('127.0.0.1', 'localhost'), 'todos.sqlite', key);
    device.db.prepare("INSERT INTO todos (id) VALUES ('st')").run();
    const started = Date.now();
    assert.throws(() => device.db.prepare('SELECT cloudsync_network_sync()').get(), /cloudsync_network_sync: the server at http:\/\/localhost:\d+ runs in this thread, .*use the async API/);
    assert.ok(Date.now() - started < 1000);
    assert.equal(device.sync.network.hasUnsentChanges(), true);
  });

  it('syncs by itself with startAutoSync, reporting its status, and stops when asked', async () => {
    const device = openDevice(folder.path('auto.db'), 'http://127.0.0.1:9', 'todos.sqlite', key);
    const statuses: string[] = [];
    device.sync.network.on('status', (status) => statuses.push(status));
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('auto-1', 'by itself')").run();
    device.sync.network.startAutoSync({ intervalMs: 20, maxBackoffMs: 40 });
    const waitFor = async (done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(done());
    };
    await waitFor(() => statuses.filter((s) => s === 'offline').length >= 2); // keeps trying while offline
    device.sync.network.init(`${server.url}/todos.sqlite?apikey=${key}`); // the network comes back
    await waitFor(() => statuses.includes('up-to-date'));
    device.sync.network.stopAutoSync();
    assert.equal(device.sync.network.hasUnsentChanges(), false);
    assert.ok((await hostedRows(server.data, 'todos.sqlite', 'todos')).some((row) => JSON.parse(row).id === 'auto-1'));
    const count = statuses.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(statuses.length <= count + 3, 'no more syncs after stopAutoSync (but the one in flight)');
  });

  it('GET /health says the store answers; GET /metrics counts requests, uploads, downloads and changes in the Prometheus format', async () => {
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    const scrape = async () => {
      const response = await fetch(`${server.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
      const text = await response.text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { text, value };
    };
    const before = await scrape();
    const a = openDevice(folder.path('metrics-a.db'), server.url, 'todos.sqlite', key);
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('m1', 'counted'), ('m2', 'counted too')").run();
    await a.sync.network.sync();
    const b = openDevice(folder.path('metrics-b.db'), server.url, 'todos.sqlite', key);
    await b.sync.network.sync();
    const refused = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/${'0'.repeat(32)}/0/0/check`, { method: 'POST', headers: { Authorization: 'Bearer wrong' } });
    assert.equal(refused.status, 401);
    const after = await scrape();
    assert.equal(after.value('sqlite_sync_uploads_total') - before.value('sqlite_sync_uploads_total'), 1);
    assert.equal(after.value('sqlite_sync_changes_applied_total') - before.value('sqlite_sync_changes_applied_total'), 6);
    assert.ok(after.value('sqlite_sync_downloads_total') - before.value('sqlite_sync_downloads_total') >= 1);
    assert.ok(after.value('sqlite_sync_auth_refusals_total') - before.value('sqlite_sync_auth_refusals_total') >= 1);
    assert.match(after.text, /^sqlite_sync_http_requests_total\{route="POST \/v1\/cloudsync\/:database\/:site\/upload",method="POST",status="200"\} \d+$/m);
    assert.match(after.text, /^sqlite_sync_http_request_duration_seconds_bucket\{le="0\.1",route="[^"]+"\} \d+$/m);
    assert.ok(after.value('sqlite_sync_http_connections') >= 1);
    assert.match(after.text, /^sqlite_sync_live_connections \d+$/m);
  });

  describe('bad uploads leave the server untouched', () => {
    const site = '0123456789abcdef0123456789abcdef';
    const auth = () => ({ Authorization: `Bearer ${key}` });
    const snapshot = async () => {
      const status = await server.data.databaseStatus('todos.sqlite');
      return { dbVersion: status.dbVersion, rows: status.tables.map((t) => t.rows) };
    };
    const uploadUrl = async () => {
      const response = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/${site}/upload`, { headers: auth() });
      assert.equal(response.status, 200);
      return (await response.text()).trim();
    };
    const notify = (url: string) =>
      fetch(`${server.url}/v1/cloudsync/todos.sqlite/${site}/upload`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });

    it('a corrupted payload is a 400 naming the problem', async () => {
      const before = await snapshot();
      const device = openDevice(folder.path('corrupt.db'), server.url, 'todos.sqlite', key);
      device.db.prepare("INSERT INTO todos (id, title) VALUES ('corrupt', 'x')").run();
      const payload = Buffer.from(device.sync.encodePayload() as Uint8Array);
      payload[payload.length - 3] = (payload[payload.length - 3] ?? 0) ^ 0xff;
      const url = await uploadUrl();
      assert.equal((await fetch(url, { method: 'PUT', body: payload })).status, 200);
      const response = await notify(url);
      assert.equal(response.status, 400);
      assert.match(await response.text(), /checksum|corrupt|payload/i);
      assert.deepEqual(await snapshot(), before);
      const truncated = await uploadUrl();
      await fetch(truncated, { method: 'PUT', body: payload.subarray(0, 40) });
      const cut = await notify(truncated);
      assert.equal(cut.status, 400);
      assert.deepEqual(await snapshot(), before);
    });

    it('an upload cut off mid-body stores nothing, and its URL cannot be applied', async () => {
      const url = new URL(await uploadUrl());
      await new Promise<void>((resolve) => {
        const put = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'Content-Length': 5000 } });
        put.on('error', () => resolve());
        put.write(Buffer.alloc(1000, 7), () => {
          put.destroy();
          setTimeout(resolve, 100);
        });
      });
      const response = await notify(url.href);
      assert.equal(response.status, 409);
      assert.match(await response.text(), /nothing was uploaded/);
    });

    it('an upload over the size limit is a 413', async () => {
      const before = await snapshot();
      const url = await uploadUrl();
      const response = await fetch(url, { method: 'PUT', body: Buffer.alloc(300 * 1024, 1) });
      assert.equal(response.status, 413);
      assert.match(await response.text(), /larger than the server's limit of 262144 bytes/);
      assert.deepEqual(await snapshot(), before);
    });

    it('upload URLs are one-time and bound to their database, site and key', async () => {
      const device = openDevice(folder.path('once.db'), server.url, 'todos.sqlite', key);
      device.db.prepare("INSERT INTO todos (id, title) VALUES ('once', 'x')").run();
      const payload = device.sync.encodePayload() as Uint8Array;
      const url = await uploadUrl();
      assert.equal((await fetch(url, { method: 'PUT', body: payload })).status, 200);
      assert.equal((await fetch(url, { method: 'PUT', body: payload })).status, 404);
      const otherSite = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/${'f'.repeat(32)}/upload`, {
        method: 'POST',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      assert.equal(otherSite.status, 404);
      assert.equal((await notify(url)).status, 200);
      const version = (await snapshot()).dbVersion;
      assert.equal((await notify(url)).status, 200, 'a repeated notification is answered, not applied again');
      assert.equal((await snapshot()).dbVersion, version);
    });

    it('a refused apply answers an error and the client keeps its changes queued', async () => {
      const extra = TODO_SCHEMA.replace('owner TEXT', 'owner TEXT, priority INTEGER');
      const device = openDevice(folder.path('extra-column.db'), server.url, 'todos.sqlite', key, extra);
      device.db.prepare("INSERT INTO todos (id, title, priority) VALUES ('prio', 'x', 1)").run();
      const before = await snapshot();
      await assert.rejects(device.sync.network.sendChanges(), (e: NetworkError) => e.status === 422 && /priority/.test(e.message));
      assert.equal(device.sync.network.hasUnsentChanges(), true);
      assert.deepEqual(await snapshot(), before);
      assert.deepEqual(readWatermark(device.sync.engine, 'send'), { dbVersion: 0, seq: 0 });
    });

    it('rejects malformed protocol requests with 400', async () => {
      const badSite = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/not-a-site/0/0/check`, { method: 'POST', headers: auth() });
      assert.equal(badSite.status, 400);
      const badVersion = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/${site}/-1/0/check`, { method: 'POST', headers: auth() });
      assert.equal(badVersion.status, 400);
      const badBody = await fetch(`${server.url}/v1/cloudsync/todos.sqlite/${site}/upload`, { method: 'POST', headers: auth(), body: 'nope' });
      assert.equal(badBody.status, 400);
      assert.equal((await fetch(`${server.url}/v1/transfer/${'0'.repeat(32)}`)).status, 404);
    });
  });
});
