// Live sync against a real server on loopback: changes pushed to connected devices without them
// calling sync, token users told only of what their read policy shows, refusals and expiry, and
// reconnection after a server restart, a killed socket and a cut connection.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { LiveState } from '../src/index.js';
import { createServer, type SyncServer } from '../src/server/index.js';
import { type SyncedDb, temporaryFolder } from './support/databases.js';
import { freePort, openDevice, provision, rowsOf, startServer } from './support/sync-server.js';
import { STORES } from './support/stores.js';

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/** Waits for a device's live state. */
function liveState(device: SyncedDb, state: LiveState, ms = 5000): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`live state ${state} not reached`)), ms);
    const listener = (s: LiveState, error?: Error) => {
      if (s !== state) return;
      clearTimeout(timer);
      device.sync.network.off('live', listener);
      resolve(error);
    };
    device.sync.network.on('live', listener);
  });
}

const titleOf = (device: SyncedDb, id: string) => device.db.prepare('SELECT title FROM todos WHERE id = ?').pluck().get(id) as string | undefined;

/** The live endpoint of a database for a site. */
const liveUrl = (server: SyncServer, database: string, site: string) => `${server.url.replace('http', 'ws')}/v1/cloudsync/${database}/${site}/live`;

/** A raw live connection, for what a client hears. */
function rawLive(url: string, authorization: string): Promise<{ socket: WebSocket; heard: (string | Buffer)[]; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const heard: (string | Buffer)[] = [];
    const closed = new Promise<{ code: number; reason: string }>((done) => socket.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    socket.on('open', () => socket.send(JSON.stringify({ type: 'hello', authorization })));
    socket.on('message', (data, isBinary) => {
      const message = isBinary ? (data as Buffer) : data.toString();
      if (message === '{"type":"ready"}') resolve({ socket, heard, closed });
      else if (message !== '{"type":"tick"}') heard.push(message);
    });
    socket.on('error', reject);
    void closed.then(({ code, reason }) => reject(new Error(`closed ${code} ${reason}`)));
  });
}

for (const store of STORES) describe(`live sync, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let location = '';
  let removeStore: () => Promise<void> = async () => undefined;
  let server: SyncServer;
  let key: string;
  const devices: SyncedDb[] = [];
  const device = (name: string, database = 'live', credential = key) => {
    const d = openDevice(folder.path(`${name}.db`), server.url, database, credential);
    devices.push(d);
    return d;
  };

  before(async () => {
    ({ location, remove: removeStore } = await store.create());
    key = await provision(location, 'live');
    server = await startServer(location);
  });
  after(async () => {
    for (const d of devices) {
      d.sync.network.stopLive();
      d.db.close();
    }
    await server?.close();
    await removeStore();
    folder.remove();
  });

  it("a write on A is in B's table without B calling sync, pushed on the socket", async () => {
    const a = device('a');
    const b = device('b');
    a.sync.network.live();
    b.sync.network.live();
    await Promise.all([liveState(a, 'connected'), liveState(b, 'connected')]);
    await until('both caught up', () => !a.sync.network.hasUnsentChanges());
    const pushes = server.live?.counters.pushes ?? 0;
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('t1', 'from a')").run();
    await until('b has t1', () => titleOf(b, 't1') === 'from a');
    b.db.prepare("UPDATE todos SET title = 'edited on b' WHERE id = 't1'").run();
    await until('a has the edit', () => titleOf(a, 't1') === 'edited on b');
    assert.ok((server.live?.counters.pushes ?? 0) > pushes, 'the changes travelled on the sockets');
    assert.deepEqual(rowsOf(a), rowsOf(b));
  });

  it('a device that connects late catches up, then hears the rest live', async () => {
    const a = devices[0] as SyncedDb;
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('t2', 'before c')").run();
    await until('a sent t2', () => !a.sync.network.hasUnsentChanges());
    const c = device('c');
    c.sync.network.live();
    await until('c has t2', () => titleOf(c, 't2') === 'before c');
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('t3', 'after c')").run();
    await until('c has t3', () => titleOf(c, 't3') === 'after c');
    assert.deepEqual(rowsOf(c), rowsOf(a));
  });

  it('refuses a wrong key with 4401 and does not retry until the credential changes', async () => {
    const d = device('wrong-key', 'live', 'sqs_not_a_key');
    const refused = liveState(d, 'offline');
    d.sync.network.live({ minBackoffMs: 10 });
    const error = await refused;
    assert.match(String(error?.message), /invalid or revoked API key/);
    const connected = liveState(d, 'connected');
    d.sync.network.setApiKey(key);
    await connected;
    await until('d caught up', () => titleOf(d, 't3') === 'after c');
  });

  it('closes a connection to an unknown database with 4404', async () => {
    const closed = await new Promise<number>((resolve) => {
      const socket = new WebSocket(liveUrl(server, 'nope', '0'.repeat(32)));
      socket.on('open', () => socket.send(JSON.stringify({ type: 'hello', authorization: `Bearer ${key}` })));
      socket.on('close', (code) => resolve(code));
    });
    assert.equal(closed, 4404);
  });

  it('a client whose first message is not a hello is closed with 4400', async () => {
    const socket = new WebSocket(liveUrl(server, 'live', '0'.repeat(32)));
    const code = await new Promise<number>((resolve) => {
      socket.on('open', () => socket.send('not json'));
      socket.on('close', (c) => resolve(c));
    });
    assert.equal(code, 4400);
  });
});

for (const store of STORES) describe(`live sync for token users under read policies, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let location = '';
  let removeStore: () => Promise<void> = async () => undefined;
  let server: SyncServer;
  let key: string;

  before(async () => {
    ({ location, remove: removeStore } = await store.create());
    key = await provision(location, 'secured');
    server = await startServer(location);
    await server.data.setPolicy('secured', 'todos', { read: 'owner = auth_userid()', write: 'owner = auth_userid()' });
  });
  after(async () => {
    await server?.close();
    await removeStore();
    folder.remove();
  });

  it("bob hears nothing of alice's rows, and a notice (no payload) for his own", async () => {
    const url = liveUrl(server, 'secured', 'b'.repeat(32));
    const token = await server.data.createToken('secured', 'bob', { ttlSeconds: 3600 });
    const bob = await rawLive(url, `Bearer ${token}`);
    const admin = openDevice(folder.path('admin.db'), server.url, 'secured', key);
    const bobDevice = openDevice(folder.path('bob.db'), server.url, 'secured', token);
    bobDevice.sync.network.setToken(token);
    try {
      admin.db.prepare("INSERT INTO todos (id, title, owner) VALUES ('x1', 'alice only', 'alice')").run();
      await admin.sync.network.sync();
      await sleep(300);
      assert.deepEqual(bob.heard, [], 'nothing about a row bob may not read');
      admin.db.prepare("INSERT INTO todos (id, title, owner) VALUES ('x2', 'for bob', 'bob')").run();
      await admin.sync.network.sync();
      await until('bob was told', () => bob.heard.length > 0);
      assert.deepEqual(bob.heard, ['{"type":"changed"}'], 'a bare notice, no payload');
      // bob pulls it; then moving his row out of his view is news to him (he must remove it) ...
      await bobDevice.sync.network.sync();
      assert.equal(titleOf(bobDevice, 'x2'), 'for bob');
      admin.db.prepare("UPDATE todos SET owner = 'alice' WHERE id = 'x2'").run();
      await admin.sync.network.sync();
      await until('bob was told of the removal', () => bob.heard.length > 1);
      // ... but alice's rows changing again is not
      admin.db.prepare("UPDATE todos SET title = 'still alice' WHERE id = 'x1'").run();
      await admin.sync.network.sync();
      await sleep(300);
      assert.equal(bob.heard.length, 2);
      await bobDevice.sync.network.sync();
      assert.equal(titleOf(bobDevice, 'x2'), undefined);
    } finally {
      bob.socket.close();
      admin.db.close();
      bobDevice.db.close();
    }
  });

  it("a token user's device converges on what the policy shows", async () => {
    const token = await server.data.createToken('secured', 'carol', { ttlSeconds: 3600 });
    const carol = openDevice(folder.path('carol.db'), server.url, 'secured', token);
    carol.sync.network.setToken(token);
    const admin = openDevice(folder.path('admin2.db'), server.url, 'secured', key);
    try {
      carol.sync.network.live();
      await liveState(carol, 'connected');
      admin.db.prepare("INSERT INTO todos (id, title, owner) VALUES ('c1', 'for carol', 'carol'), ('c2', 'not for carol', 'dave')").run();
      await admin.sync.network.sync();
      await until('carol has c1', () => titleOf(carol, 'c1') === 'for carol');
      assert.equal(titleOf(carol, 'c2'), undefined);
      carol.db.prepare("UPDATE todos SET title = 'carol edits' WHERE id = 'c1'").run();
      await until('carol sent her edit', () => !carol.sync.network.hasUnsentChanges());
      await admin.sync.network.sync();
      assert.equal(titleOf(admin, 'c1'), 'carol edits');
    } finally {
      carol.sync.network.stopLive();
      carol.db.close();
      admin.db.close();
    }
  });

  it('a token that expires closes the connection with "token expired"', async () => {
    const url = liveUrl(server, 'secured', 'e'.repeat(32));
    const short = await server.data.createToken('secured', 'erin', { ttlSeconds: 1 });
    const erin = await rawLive(url, `Bearer ${short}`);
    const { code, reason } = await erin.closed;
    assert.equal(code, 4401);
    assert.equal(reason, 'token expired');
  });
});

for (const store of STORES) describe(`live sync through failures, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let location = '';
  let removeStore: () => Promise<void> = async () => undefined;
  let key: string;
  let port: number;

  before(async () => {
    ({ location, remove: removeStore } = await store.create());
    key = await provision(location, 'tough');
    port = await freePort();
  });
  after(async () => {
    await removeStore();
    folder.remove();
  });

  it('server restarted, sockets killed, connections cut: devices reconnect and converge, nothing lost or twice', async () => {
    let server = await createServer({ store: location, port, logger: false });
    const a = openDevice(folder.path('ta.db'), server.url, 'tough', key);
    const b = openDevice(folder.path('tb.db'), server.url, 'tough', key);
    const fast = { minBackoffMs: 20, maxBackoffMs: 200, pollIntervalMs: 500 };
    try {
      a.sync.network.live(fast);
      b.sync.network.live(fast);
      await Promise.all([liveState(a, 'connected'), liveState(b, 'connected')]);
      let n = 0;
      const write = (d: SyncedDb) => d.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(`r${++n}`, `row ${n}`);
      for (let i = 0; i < 5; i++) write(i % 2 ? a : b);
      await until('b has r5', () => titleOf(a, 'r5') !== undefined && titleOf(b, 'r4') !== undefined);

      // the server restarts on the same port while both keep writing
      await server.close();
      for (let i = 0; i < 4; i++) write(i % 2 ? a : b);
      server = await createServer({ store: location, port, logger: false });
      await until('both reconnected', () => (server.live?.connections ?? 0) === 2);
      write(a);
      await until('everything everywhere after the restart', () => rowsOf(a).length === n && rowsOf(b).length === n, 10_000);

      // the server cuts every socket (as a crashed proxy would), then the TCP connections die under a write
      for (const set of (server.live as unknown as { clients: Map<string, Set<{ socket: WebSocket }>> }).clients.values()) for (const c of set) c.socket.terminate();
      write(b);
      await until('after the killed sockets', () => rowsOf(a).length === n && rowsOf(b).length === n, 10_000);
      for (const set of (server.live as unknown as { clients: Map<string, Set<{ socket: WebSocket & { _socket: { destroy(): void } } }>> }).clients.values()) for (const c of set) c.socket._socket.destroy();
      write(a);
      write(b);
      await until('after the cut connections', () => rowsOf(a).length === n && rowsOf(b).length === n, 10_000);
      await until('both live again', () => (server.live?.connections ?? 0) === 2);

      assert.deepEqual(rowsOf(a), rowsOf(b));
      // nothing applied twice: each row has one insert's versions, everywhere
      const versions = (d: SyncedDb) => d.db.prepare("SELECT group_concat(col_version) FROM cloudsync_changes WHERE tbl = 'todos'").pluck().get();
      assert.equal(versions(a), versions(b));
      const server2 = openDevice(folder.path('check.db'), server.url, 'tough', key);
      await server2.sync.network.sync();
      assert.deepEqual(rowsOf(server2), rowsOf(a));
      server2.db.close();
    } finally {
      a.sync.network.stopLive();
      b.sync.network.stopLive();
      a.db.close();
      b.db.close();
      await server.close();
    }
  });

  it('without a WebSocket (or a server without live sync), polling keeps devices in sync', async () => {
    const server = await createServer({ store: location, port: 0, logger: false, live: false });
    const a = openDevice(folder.path('pa.db'), server.url, 'tough', key);
    const b = openDevice(folder.path('pb.db'), server.url, 'tough', key, undefined, { network: { webSocket: undefined } });
    try {
      const polling = Promise.all([liveState(a, 'polling'), liveState(b, 'polling')]);
      a.sync.network.live({ pollIntervalMs: 100, minBackoffMs: 50 });
      b.sync.network.live({ pollIntervalMs: 100 });
      await polling;
      a.db.prepare("INSERT INTO todos (id, title) VALUES ('p1', 'polled')").run();
      await until('b has p1', () => titleOf(b, 'p1') === 'polled');
    } finally {
      a.sync.network.stopLive();
      b.sync.network.stopLive();
      a.db.close();
      b.db.close();
      await server.close();
    }
  });
});
