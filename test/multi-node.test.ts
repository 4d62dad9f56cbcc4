// Several `serve` processes on one PostgreSQL, behind a round-robin proxy that sends every request
// to the next node: clients converge with each other and with the store, concurrent uploads
// through different nodes leave no duplicate or skipped position, a node killed with SIGKILL
// loses nothing, and a PostgreSQL restart is a 503 that passes by itself.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, type StartedPostgres } from '../scripts/postgres.mjs';
import type { NetworkError } from '../src/index.js';
import { openServerData, type ServerData } from '../src/server/index.js';
import type { SyncedDb } from './support/databases.js';
import { temporaryFolder } from './support/databases.js';
import { freshPgDatabase, skipWithoutPostgres, type TestPgDatabase } from './support/postgres.js';
import { roundRobin, type RoundRobin } from './support/round-robin.js';
import { hostedRows } from './support/stores.js';
import { openDevice, provision, rowsOf, seededRandom, type ServerProcess, startServerProcess } from './support/sync-server.js';

if (skipWithoutPostgres) console.log(skipWithoutPostgres);

/** Syncs, trying again while the proxy or a node answers with an error (a node being killed). */
async function syncThrough(device: SyncedDb, attempts = 60): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await device.sync.network.sync();
      return;
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function startNode(folder: ReturnType<typeof temporaryFolder>, url: string, name: string): Promise<ServerProcess> {
  return startServerProcess(folder.path(`unused-${name}`), 0, ['--store', url, '--log-level', 'warn']);
}

describe('several server nodes on one PostgreSQL', { skip: skipWithoutPostgres }, () => {
  const folder = temporaryFolder();
  let database: TestPgDatabase;
  let nodes: ServerProcess[] = [];
  let proxy: RoundRobin;
  let data: ServerData;
  const keys = new Map<string, string>();

  before(async () => {
    database = await freshPgDatabase();
    for (const name of ['shared', 'positions', 'killed', 'live']) keys.set(name, await provision(database.url, name));
    nodes = await Promise.all(['a', 'b', 'c'].map((name) => startNode(folder, database.url, name)));
    proxy = await roundRobin(nodes.map((n) => n.url));
    data = await openServerData(database.url);
  });
  after(async () => {
    await proxy?.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await data?.close();
    await database?.drop();
    folder.remove();
  });

  it('20 clients writing the same rows through random nodes converge with each other and with the store', async () => {
    const random = seededRandom();
    const devices = Array.from({ length: 20 }, (_, i) => openDevice(folder.path(`shared-${i}.db`), proxy.url, 'shared', keys.get('shared') as string));
    const ids = Array.from({ length: 30 }, (_, i) => `row-${i}`);
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        devices.map(async (device, d) => {
          for (let k = 0; k < 5; k++) {
            const id = random.pick(ids);
            const op = random.int(0, 3);
            if (op === 0) device.db.prepare('DELETE FROM todos WHERE id = ?').run(id);
            else if (op === 1) device.db.prepare('UPDATE todos SET done = 1 - done WHERE id = ?').run(id);
            else device.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title').run(id, `title by d${d} r${round} k${k}`);
          }
          await syncThrough(device);
        }),
      );
    }
    for (let pass = 0; pass < 2; pass++) for (const device of devices) await syncThrough(device);
    const want = rowsOf(devices[0] as SyncedDb);
    assert.ok(want.length > 0, `seed ${random.seed}`);
    devices.forEach((device, i) => assert.deepEqual(rowsOf(device), want, `device ${i} (seed ${random.seed})`));
    assert.deepEqual(await hostedRows(data, 'shared', 'todos'), want, `the store holds what the devices hold (seed ${random.seed})`);
    assert.ok(proxy.counts.every((n) => n > 20), `every node served requests: ${proxy.counts.join(', ')}`);
  });

  it('concurrent uploads through different nodes leave no duplicate or skipped (db_version, seq) position', async () => {
    const writers = Array.from({ length: 10 }, (_, i) => openDevice(folder.path(`writer-${i}.db`), proxy.url, 'positions', keys.get('positions') as string));
    const observer = openDevice(folder.path('observer.db'), proxy.url, 'positions', keys.get('positions') as string);
    // several transactions per writer, so that one upload carries several source db_versions
    writers.forEach((writer, w) => {
      for (let t = 0; t < 5; t++) {
        const insert = writer.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
        writer.db.transaction(() => {
          for (let r = 0; r < 10; r++) insert.run(`w${w}-t${t}-r${r}`, `from writer ${w}`);
        })();
      }
    });
    let uploading = true;
    // the observer checks from its watermark all along: a watermark that passed a position
    // before it was visible would leave rows out for good
    const observing = (async () => {
      while (uploading) {
        await syncThrough(observer);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await syncThrough(observer);
    })();
    await Promise.all(writers.map((writer) => syncThrough(writer)));
    uploading = false;
    await observing;
    const stored = await hostedRows(data, 'positions', 'todos');
    assert.equal(stored.length, 500);
    assert.deepEqual(rowsOf(observer), stored, 'the observer, checking during the uploads, missed nothing');
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ clocks: string }>('SELECT clocks FROM positions.todos_cloudsync');
      const positions = new Set<string>();
      let cells = 0;
      for (const { clocks } of rows) {
        const parts = JSON.parse(clocks.slice(clocks.indexOf('['))) as ([number, number, number, number] | null)[];
        for (const part of parts) {
          if (part === null) continue;
          cells++;
          positions.add(`${part[1]}/${part[2]}`);
        }
      }
      assert.equal(cells, 500 * 3, 'every cell has a clock');
      assert.equal(positions.size, cells, 'no two cells share a position');
    } finally {
      await client.end();
    }
  });

  it("live: a write through one node is in the table of a device connected to another, without a sync call", async () => {
    const key = keys.get('live') as string;
    const a = openDevice(folder.path('live-a.db'), (nodes[1] as ServerProcess).url, 'live', key);
    const b = openDevice(folder.path('live-b.db'), (nodes[2] as ServerProcess).url, 'live', key);
    a.sync.network.live();
    b.sync.network.live();
    try {
      const until = async (what: string, check: () => boolean) => {
        for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(check(), what);
      };
      const title = (device: SyncedDb, id: string) => (device.db.prepare('SELECT title FROM todos WHERE id = ?').get(id) as { title: string } | undefined)?.title;
      await new Promise((resolve) => setTimeout(resolve, 300)); // both connected and caught up
      a.db.prepare("INSERT INTO todos (id, title) VALUES ('across', 'from node b')").run();
      await until('b has the row written through another node', () => title(b, 'across') === 'from node b');
      b.db.prepare("UPDATE todos SET title = 'back through node c' WHERE id = 'across'").run();
      await until('a has the edit', () => title(a, 'across') === 'back through node c');
    } finally {
      a.sync.network.stopLive();
      b.sync.network.stopLive();
    }
  });

  it('a key revoked, or a database dropped, elsewhere is refused by every node at once (nodes keep what each request looks up)', async () => {
    const created = await data.createApiKey('shared', 'short-lived');
    const check = (node: ServerProcess) => fetch(`${node.url}/v1/cloudsync/shared/${'ab'.repeat(16)}/0/0/check`, { method: 'POST', headers: { Authorization: `Bearer ${created.key}` } }).then((r) => r.status);
    const live = nodes.slice(1) as ServerProcess[];
    for (const node of live) for (let i = 0; i < 3; i++) assert.equal(await check(node), 200, 'the new key works at once, then is held');
    await data.revokeApiKey(created.id);
    const refusedWithin = async (ms: number) => {
      const until = Date.now() + ms;
      for (;;) {
        const statuses = await Promise.all(live.map(check));
        if (statuses.every((s) => s === 401)) return true;
        if (Date.now() > until) return false;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    assert.ok(await refusedWithin(2000), 'every node refuses the revoked key within moments');
    await provision(database.url, 'dropped-elsewhere').then(async (key) => {
      const status = (node: ServerProcess) => fetch(`${node.url}/v1/cloudsync/dropped-elsewhere/${'ab'.repeat(16)}/0/0/check`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status);
      for (const node of live) assert.equal(await status(node), 200);
      await data.dropDatabase('dropped-elsewhere');
      const until = Date.now() + 2000;
      let statuses: number[] = [];
      while (Date.now() < until) {
        statuses = await Promise.all(live.map(status));
        if (statuses.every((s) => s === 401 || s === 404)) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(statuses.every((s) => s === 401 || s === 404), `a dropped database is refused: ${statuses.join(', ')}`);
    });
  });

  it('a node killed (SIGKILL) amid uploads and downloads loses nothing; clients carry on through the others; nothing is applied twice', async () => {
    const devices = Array.from({ length: 6 }, (_, i) => openDevice(folder.path(`killed-${i}.db`), proxy.url, 'killed', keys.get('killed') as string));
    const written = new Set<string>();
    let killed = false;
    const work = devices.map(async (device, d) => {
      for (let round = 0; round < 12; round++) {
        const insert = device.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
        device.db.transaction(() => {
          for (let r = 0; r < 20; r++) {
            const id = `d${d}-r${round}-${r}`;
            insert.run(id, `round ${round}`);
            written.add(id);
          }
        })();
        await syncThrough(device);
      }
    });
    const killer = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await (nodes[0] as ServerProcess).stop('SIGKILL');
      killed = true;
    })();
    await Promise.all([...work, killer]);
    assert.ok(killed);
    for (const device of devices) await syncThrough(device);
    for (const device of devices) await syncThrough(device);
    const stored = await hostedRows(data, 'killed', 'todos');
    assert.equal(stored.length, written.size, 'every row written reached the store');
    devices.forEach((device, i) => assert.deepEqual(rowsOf(device), stored, `device ${i}`));
    // re-sending and re-checking changes nothing: no upload was applied twice as new versions
    const before = (await data.databaseStatus('killed')).dbVersion;
    for (const device of devices) {
      device.sync.network.resetSyncVersion();
      await syncThrough(device);
    }
    assert.equal((await data.databaseStatus('killed')).dbVersion, before);
  });
});

describe('PostgreSQL restarted under a running node', { skip: skipWithoutPostgres }, () => {
  const folder = temporaryFolder();
  let cluster: StartedPostgres;
  let node: ServerProcess | null = null;

  before(async () => {
    cluster = await startPostgres();
  });
  after(async () => {
    await node?.stop('SIGKILL');
    if (cluster.skip === undefined) cluster.stop();
    folder.remove();
  });

  it('answers 503 while PostgreSQL is down, then recovers by itself', async (t) => {
    if (cluster.skip !== undefined) return t.skip(cluster.skip);
    const url = cluster.url;
    const key = await provision(url, 'restart');
    node = await startNode(folder, url, 'restart');
    const device = openDevice(folder.path('restart.db'), node.url, 'restart', key);
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('before', 'x')").run();
    await device.sync.network.sync();
    assert.equal((await fetch(`${node.url}/health`)).status, 200);

    cluster.halt();
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('during', 'y')").run();
    await assert.rejects(device.sync.network.sync(), (e: NetworkError) => e.status === 503 && /PostgreSQL/.test(e.message));
    assert.equal((await fetch(`${node.url}/health`)).status, 503);
    assert.equal(device.sync.network.hasUnsentChanges(), true, 'the change stays queued');

    cluster.start();
    await syncThrough(device, 200);
    assert.equal((await fetch(`${node.url}/health`)).status, 200);
    const data = await openServerData(url);
    try {
      assert.deepEqual((await hostedRows(data, 'restart', 'todos')).map((r) => JSON.parse(r).id), ['before', 'during']);
    } finally {
      await data.close();
    }
  });
});
