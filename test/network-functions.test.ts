// The blocking cloudsync_network_* SQL functions against a server in another process, plus
// timeouts against a server that never answers.

import assert from 'node:assert/strict';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { readWatermark } from '../src/client/watermarks.js';
import { temporaryFolder } from './support/databases.js';
import { openDevice, provision, rowsOf, type ServerProcess, startServerProcess } from './support/sync-server.js';

describe('cloudsync_network_* SQL functions', () => {
  const folder = temporaryFolder();
  let server: ServerProcess;
  let key: string;
  const value = (device: ReturnType<typeof openDevice>, sql: string) => device.db.prepare(sql).pluck().get();

  before(async () => {
    key = await provision(folder.path('data'), 'todos.sqlite');
    server = await startServerProcess(folder.path('data'));
  });
  after(async () => {
    await server.stop();
    folder.remove();
  });

  it('send, check and sync return counts; has_unsent_changes follows the send watermark', () => {
    const a = openDevice(folder.path('a.db'), server.url, 'todos.sqlite', key);
    const b = openDevice(folder.path('b.db'), server.url, 'todos.sqlite', key);
    assert.equal(value(a, 'SELECT cloudsync_network_has_unsent_changes()'), 0);
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('f1', 'one'), ('f2', 'two')").run();
    assert.equal(value(a, 'SELECT cloudsync_network_has_unsent_changes()'), 1);
    assert.equal(value(a, 'SELECT cloudsync_network_send_changes()'), 6); // 2 rows × (title, done, owner)
    assert.equal(value(a, 'SELECT cloudsync_network_has_unsent_changes()'), 0);
    assert.equal(value(a, 'SELECT cloudsync_network_send_changes()'), 0);
    assert.equal(value(b, 'SELECT cloudsync_network_check_changes()'), 6);
    assert.equal(value(b, 'SELECT cloudsync_network_check_changes()'), 0);
    b.db.prepare("UPDATE todos SET done = 1 WHERE id = 'f1'").run();
    assert.equal(value(b, 'SELECT cloudsync_network_sync(10, 3)'), 0); // nothing new from others
    assert.equal(value(a, 'SELECT cloudsync_network_sync()'), 1);
    assert.deepEqual(rowsOf(a), rowsOf(b));
  });

  it('reset_sync_version re-sends and re-downloads everything, changing nothing', () => {
    const a = openDevice(folder.path('a.db'), server.url, 'todos.sqlite', key, ''); // reopened: the schema exists
    const before = rowsOf(a);
    value(a, 'SELECT cloudsync_network_reset_sync_version()');
    assert.deepEqual(readWatermark(a.sync.engine, 'check'), { dbVersion: 0, seq: 0 });
    assert.equal(value(a, 'SELECT cloudsync_network_has_unsent_changes()'), 1);
    assert.equal(value(a, 'SELECT cloudsync_network_send_changes()'), 5); // f1.done is b's change now
    assert.equal(value(a, 'SELECT cloudsync_network_check_changes()'), 1); // b's update; a's own are not counted
    assert.deepEqual(rowsOf(a), before);
  });

  it('logout empties the synced tables under a new site id, and the next sync brings everything back', () => {
    const a = openDevice(folder.path('a.db'), server.url, 'todos.sqlite', key, '');
    const site = value(a, 'SELECT hex(cloudsync_siteid())');
    const before = rowsOf(a);
    value(a, 'SELECT cloudsync_network_logout()');
    assert.deepEqual(rowsOf(a), []);
    assert.notEqual(value(a, 'SELECT hex(cloudsync_siteid())'), site);
    assert.equal(value(a, 'SELECT cloudsync_is_enabled(\'todos\')'), 1);
    assert.throws(() => value(a, 'SELECT cloudsync_network_sync()'), /401 missing credential/);
    value(a, `SELECT cloudsync_network_set_apikey('${key}')`);
    assert.equal(value(a, 'SELECT cloudsync_network_sync()'), 6); // all of it is another site's now
    assert.deepEqual(rowsOf(a), before);
  });

  it('refuses to send from inside an open transaction, which could still roll back', () => {
    const d = openDevice(folder.path('tx.db'), server.url, 'todos.sqlite', key);
    d.db.exec('BEGIN');
    d.db.prepare("INSERT INTO todos (id, title) VALUES ('tx1', 'maybe')").run();
    assert.throws(() => value(d, 'SELECT cloudsync_network_sync()'), /cloudsync_network_sync: cannot send inside an open transaction .*commit first/);
    assert.throws(() => value(d, 'SELECT cloudsync_network_send_changes()'), /cannot send inside an open transaction/);
    d.db.exec('ROLLBACK');
    assert.equal(value(d, 'SELECT cloudsync_network_has_unsent_changes()'), 0);
    d.db.prepare("INSERT INTO todos (id, title) VALUES ('tx2', 'surely')").run();
    assert.equal(value(d, 'SELECT cloudsync_network_send_changes()'), 3);
  });

  it('refuses calls before cloudsync_network_init and after cloudsync_network_cleanup', () => {
    const c = openDevice(folder.path('c.db'), server.url, 'todos.sqlite', key);
    value(c, 'SELECT cloudsync_network_cleanup()');
    assert.throws(() => value(c, 'SELECT cloudsync_network_sync()'), /^CloudSyncError|cloudsync_network_sync: call cloudsync_network_init first/);
    assert.throws(() => value(c, "SELECT cloudsync_network_init('ftp://x/y')"), /cloudsync_network_init: unsupported scheme/);
  });
});

describe('request timeouts', () => {
  const folder = temporaryFolder();
  let hanging: Server;
  let port = 0;
  const sockets: Socket[] = [];

  before(async () => {
    // Accepts connections and never answers.
    hanging = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    port = (hanging.address() as { port: number }).port;
  });
  after(() => {
    for (const socket of sockets) socket.destroy();
    hanging.close();
    folder.remove();
  });

  it('a blocking call gives up after the timeout with a clear error and keeps its changes queued', () => {
    const device = openDevice(folder.path('t.db'), `http://127.0.0.1:${port}`, 'todos.sqlite', 'k', undefined, { network: { timeoutMs: 300 } });
    device.db.prepare("INSERT INTO todos (id) VALUES ('t1')").run();
    const started = Date.now();
    assert.throws(() => device.db.prepare('SELECT cloudsync_network_sync()').get(), /cloudsync_network_sync: GET .*\/upload timed out after 300 ms/);
    assert.ok(Date.now() - started < 3000);
    assert.equal(device.sync.network.hasUnsentChanges(), true);
  });

  it('the async API times out the same way', async () => {
    const device = openDevice(folder.path('u.db'), `http://127.0.0.1:${port}`, 'todos.sqlite', 'k', undefined, { network: { timeoutMs: 300 } });
    await assert.rejects(device.sync.network.checkChanges(), (e: Error & { code?: string }) => e.code === 'TIMEOUT' && /timed out after 300 ms/.test(e.message));
  });
});
