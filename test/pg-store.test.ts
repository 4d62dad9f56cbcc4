// What only the PostgreSQL store has: typed columns (a value that does not fit refuses its whole
// upload; an untyped column is refused at create), reserved names, and uploads meeting rows that
// were written straight into PostgreSQL behind the server's back.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { NetworkError } from '../src/index.js';
import type { Position } from '../src/server/storage/storage.js';
import { BULK_ROWS } from '../src/server/storage/postgres/pg-upload.js';
import { createServer, type SyncServer } from '../src/server/index.js';
import { roundRobin } from './support/round-robin.js';
import { temporaryFolder } from './support/databases.js';
import { freshPgDatabase, skipWithoutPostgres, type TestPgDatabase } from './support/postgres.js';
import { hostedRows } from './support/stores.js';
import { openDevice, provision, rowsOf, startServer, TODO_SCHEMA } from './support/sync-server.js';

if (skipWithoutPostgres) console.log(skipWithoutPostgres);

describe('the PostgreSQL store', { skip: skipWithoutPostgres }, () => {
  const folder = temporaryFolder();
  let database: TestPgDatabase;
  let server: SyncServer;
  let key: string;

  before(async () => {
    database = await freshPgDatabase();
    key = await provision(database.url, 'typed');
    server = await startServer(database.url);
  });
  after(async () => {
    await server?.close();
    await database?.drop();
    folder.remove();
  });

  it('keeps each column in a typed PostgreSQL column an operator can query', async () => {
    const device = openDevice(folder.path('typed.db'), server.url, 'typed', key);
    device.db.prepare("INSERT INTO todos (id, title, done) VALUES ('t1', 'typed', 1)").run();
    await device.sync.network.sync();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT title, done, pg_typeof(done)::text AS type FROM typed.todos WHERE id = 't1'");
      assert.deepEqual(rows, [{ title: 'typed', done: '1', type: 'bigint' }]);
    } finally {
      await client.end();
    }
  });

  it('refuses a whole upload holding a value its column cannot hold, naming table and column', async () => {
    const device = openDevice(folder.path('misfit.db'), server.url, 'typed', key);
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('fine', 'ok')").run();
    device.db.prepare("INSERT INTO todos (id, title, done) VALUES ('bad', 'x', 'not a number')").run(); // SQLite keeps it
    const before = await hostedRows(server.data, 'typed', 'todos');
    await assert.rejects(device.sync.network.sendChanges(), (e: NetworkError) => e.status === 422 && /column done of table todos cannot hold the text "not a number" on the PostgreSQL store/.test(e.message));
    assert.deepEqual(await hostedRows(server.data, 'typed', 'todos'), before, 'nothing of the upload was applied');
    assert.equal(device.sync.network.hasUnsentChanges(), true);
  });

  it('an upload meeting a row written behind the server’s back still applies', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query("INSERT INTO typed.todos (id, title) VALUES ('direct', 'written in PostgreSQL')");
    } finally {
      await client.end();
    }
    const device = openDevice(folder.path('direct.db'), server.url, 'typed', key);
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('direct', 'from a device'), ('other', 'next to it')").run();
    await device.sync.network.sync();
    const rows = (await hostedRows(server.data, 'typed', 'todos')).map((r) => JSON.parse(r) as { id: string; title: string });
    assert.equal(rows.find((r) => r.id === 'direct')?.title, 'from a device');
    assert.ok(rows.some((r) => r.id === 'other'));
  });

  it('a download split inside one transaction resumes on another node (no follow-ups there) without skipping the rest of it', async () => {
    // three nodes: with two, a check and its GET alternate so every check would land on the same node
    const nodes = await Promise.all([0, 1, 2].map(() => createServer({ store: database.url, port: 0, logger: false, maxPayloadBytes: 16 * 1024 })));
    const proxy = await roundRobin(nodes.map((n) => n.url));
    try {
      const a = openDevice(folder.path('big-a.db'), proxy.url, 'typed', key);
      const insert = a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
      a.db.transaction(() => {
        for (let i = 0; i < 1200; i++) insert.run(`big-${String(i).padStart(5, '0')}`, `one transaction, row ${i}, with some bytes`);
      })();
      await a.sync.network.sendChanges();
      const b = openDevice(folder.path('big-b.db'), proxy.url, 'typed', key);
      const pulled = await b.sync.network.sync();
      assert.ok(pulled.received.payloads > 3, `${pulled.received.payloads} payloads`);
      const big = (d: typeof a) => rowsOf(d).filter((r) => r.includes('big-'));
      assert.equal(big(b).length, 1200);
      assert.deepEqual(big(b), big(a));
    } finally {
      await proxy.close();
      for (const node of nodes) await node.close();
    }
  });

  it('an upload of inserts meeting rows already stored merges them by the rules (a second device’s insert, a payload sent again)', async () => {
    const a = openDevice(folder.path('dup-a.db'), server.url, 'typed', key);
    const b = openDevice(folder.path('dup-b.db'), server.url, 'typed', key);
    b.db.prepare("INSERT INTO todos (id, title) VALUES ('dup', 'b wins the tie')").run();
    await b.sync.network.sync();
    a.db.prepare("INSERT INTO todos (id, title) VALUES ('dup', 'a loses it'), ('dup-new', 'beside it')").run();
    // enough first writes for the bulk path, which assumes its rows are new until COPY says otherwise
    const insert = a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
    a.db.transaction(() => {
      for (let i = 0; i < BULK_ROWS; i++) insert.run(`filler-${i}`, 'filler');
    })();
    const payloads = a.sync.encodePayloads({ site: 'local' });
    await a.sync.network.sync();
    const stored = async () => (await hostedRows(server.data, 'typed', 'todos')).map((r) => JSON.parse(r) as { id: string; title: string }).filter((r) => r.id.startsWith('dup'));
    assert.ok(payloads.reduce((n, p) => n + p.count, 0) >= BULK_ROWS);
    assert.deepEqual((await stored()).map((r) => r.title).sort(), ['b wins the tie', 'beside it'], 'same col_version: the greater value wins, whoever uploads last');
    const peer = await server.data.peer('typed');
    const version = await peer?.storedVersion();
    for (const { payload } of payloads) await peer?.apply(payload, null);
    assert.equal(await peer?.storedVersion(), version, 'sent again: no new db_version');
    await b.sync.network.sync();
    assert.equal(b.db.prepare("SELECT title FROM todos WHERE id = 'dup-new'").pluck().get(), 'beside it');
    a.db.close();
    b.db.close();
  });

  describe('a check at the newest position', () => {
    let newsKey: string;
    before(async () => {
      newsKey = await provision(database.url, 'news');
    });
    /** Counts the reads of the state row of database `name` on a node. */
    const countStateReads = async (node: SyncServer, name: string) => {
      const peer = (await node.data.peer(name)) as unknown as { query: (text: string, ...rest: unknown[]) => Promise<unknown> };
      const query = peer.query.bind(peer);
      const counter = { reads: 0 };
      peer.query = (text, ...rest) => {
        if (text.includes('cloudsync_state')) counter.reads++;
        return query(text, ...rest);
      };
      return counter;
    };
    const until = async (what: string, done: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await done())) {
        assert.ok(Date.now() < deadline, what);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    it('is answered from what the node heard, without PostgreSQL, and hears its own uploads', async () => {
      const d = openDevice(folder.path('news-d.db'), server.url, 'news', newsKey);
      const e = openDevice(folder.path('news-e.db'), server.url, 'news', newsKey);
      d.db.prepare("INSERT INTO todos (id, title) VALUES ('n1', 'first')").run();
      await d.sync.network.sync();
      await d.sync.network.checkChanges(); // at the newest position now, known to the node
      const counter = await countStateReads(server, 'news');
      for (let i = 0; i < 5; i++) await d.sync.network.checkChanges();
      assert.equal(counter.reads, 0, 'no read of the state row');
      e.db.prepare("INSERT INTO todos (id, title) VALUES ('n2', 'from e')").run();
      await e.sync.network.sendChanges();
      await d.sync.network.checkChanges();
      assert.equal(d.db.prepare("SELECT title FROM todos WHERE id = 'n2'").pluck().get(), 'from e');
      d.db.close();
      e.db.close();
    });

    it('another node’s upload reaches it, also when the node stopped hearing meanwhile', async () => {
      const nodes = await Promise.all([0, 1].map(() => createServer({ store: database.url, port: 0, logger: false })));
      const [a, b] = nodes as [SyncServer, SyncServer];
      const d = openDevice(folder.path('news-d2.db'), b.url, 'news', newsKey);
      const e = openDevice(folder.path('news-e2.db'), a.url, 'news', newsKey);
      const has = (id: string) => async () => {
        await d.sync.network.checkChanges();
        return d.db.prepare('SELECT 1 FROM todos WHERE id = ?').get(id) !== undefined;
      };
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await d.sync.network.sync();
        await d.sync.network.checkChanges();
        e.db.prepare("INSERT INTO todos (id, title) VALUES ('m1', 'through node a')").run();
        await e.sync.network.sendChanges();
        await until('a NOTIFY told node b', has('m1'));
        // every node loses its LISTEN connection; an upload meanwhile goes unheard
        await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()");
        e.db.prepare("INSERT INTO todos (id, title) VALUES ('m2', 'while nobody listened')").run();
        await e.sync.network.sendChanges();
        await until('node b asks PostgreSQL again after losing its LISTEN connection', has('m2'));
      } finally {
        await client.end();
        d.db.close();
        e.db.close();
        for (const node of nodes) await node.close();
      }
    });
  });

  it('a live device that connects while an upload applies (its catch-up read before the commit) is pushed it', async () => {
    const lateKey = await provision(database.url, 'late-live');
    const listener = openDevice(folder.path('late-live.db'), server.url, 'late-live', lateKey);
    const writer = openDevice(folder.path('late-writer.db'), server.url, 'late-live', lateKey);
    const lock = new pg.Client({ connectionString: database.url });
    await lock.connect();
    try {
      // the upload waits for the state lock, while nobody listens to its database yet
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM "late-live".cloudsync_state FOR UPDATE');
      writer.db.prepare("INSERT INTO todos (id, title) VALUES ('held', 'applied after the device connected')").run();
      const sending = writer.sync.network.sendChanges();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const connected = new Promise<void>((resolve) => listener.sync.network.on('live', (state) => state === 'connected' && resolve()));
      listener.sync.network.live();
      await connected;
      await new Promise((resolve) => setTimeout(resolve, 300)); // its catch-up pull found nothing new
      assert.equal(listener.db.prepare("SELECT 1 FROM todos WHERE id = 'held'").get(), undefined);
      await lock.query('COMMIT');
      await sending;
      const deadline = Date.now() + 5000;
      while (listener.db.prepare("SELECT 1 FROM todos WHERE id = 'held'").get() === undefined) {
        assert.ok(Date.now() < deadline, 'pushed once the upload committed');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await lock.end();
      listener.sync.network.stopLive();
      listener.db.close();
      writer.db.close();
    }
  });

  describe('a device behind by its own changes only', () => {
    let runsKey: string;
    /** The positions the database's downloads read from. */
    let reads: Position[];
    before(async () => {
      runsKey = await provision(database.url, 'runs');
      const peer = (await server.data.peer('runs')) as unknown as { read: (since: Position, ...rest: unknown[]) => Promise<unknown> };
      const read = peer.read.bind(peer);
      peer.read = (since, ...rest) => {
        reads.push(since);
        return read(since, ...rest);
      };
    });
    const device = (name: string) => openDevice(folder.path(`runs-${name}.db`), server.url, 'runs', runsKey);
    const state = async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        return (await client.query<{ db_version: string; last_seq: string }>('SELECT db_version, last_seq FROM runs.cloudsync_state')).rows[0] as { db_version: string; last_seq: string };
      } finally {
        await client.end();
      }
    };
    const titles = (d: ReturnType<typeof device>) => (d.db.prepare('SELECT title FROM todos ORDER BY title').pluck().all() as string[]).join(',');

    it('is answered from its newest change, not from everything it uploaded', async () => {
      const a = device('a');
      for (let i = 0; i < 30; i++) a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(`a${i}`, `a${i}`);
      reads = [];
      await a.sync.network.sync();
      const newest = await state();
      assert.deepEqual(reads, [{ dbVersion: Number(newest.db_version), seq: Number(newest.last_seq) - 1 }], 'one read, of the newest change only');
      reads = [];
      assert.equal((await a.sync.network.checkChanges()).changes, 0);
      assert.deepEqual(reads, [], 'then at the newest position: nothing read');
      a.db.close();
    });

    it('still gets what another device uploaded before its own upload', async () => {
      const a = device('a2');
      const b = device('b2');
      a.db.prepare("INSERT INTO todos (id, title) VALUES ('x1', 'a first')").run();
      await a.sync.network.sync();
      b.db.prepare("INSERT INTO todos (id, title) VALUES ('x2', 'b between')").run();
      await b.sync.network.sendChanges();
      a.db.prepare("INSERT INTO todos (id, title) VALUES ('x3', 'a again')").run();
      await a.sync.network.sync();
      assert.match(titles(a), /b between/);
      a.db.close();
      b.db.close();
    });

    it('is not answered that way when its upload carried another site’s changes, or when an older node uploaded last', async () => {
      const t = device('t3');
      const a = device('a3');
      await a.sync.network.sync(); // A is at the newest position
      const caughtUp = await state();
      // A writes, takes T's change, and all it has reaches the server in one payload (not what a
      // device's send does, which holds its own changes only): two sites, so no run
      a.db.prepare("INSERT INTO todos (id, title) VALUES ('y2', 'from a')").run();
      t.db.prepare("INSERT INTO todos (id, title) VALUES ('y1', 'from t')").run();
      for (const { payload } of t.sync.encodePayloads({ site: 'local' })) a.sync.applyPayload(payload);
      const peer = await server.data.peer('runs');
      for (const { payload } of a.sync.encodePayloads({})) await peer?.apply(payload, null);
      reads = [];
      await a.sync.network.sync();
      assert.deepEqual(reads[0], { dbVersion: Number(caughtUp.db_version), seq: Number(caughtUp.last_seq) }, 'read from its own watermark');

      // an older node neither keeps nor ends the run: its uploads leave the run columns as they were
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        a.db.prepare("INSERT INTO todos (id, title) VALUES ('y3', 'a alone')").run();
        await a.sync.network.sync(); // a run of A's
        const { rows } = await client.query('SELECT run_site, run_db_version, run_seq, run_checked FROM runs.cloudsync_state');
        const kept = rows[0] as Record<string, string>;
        assert.ok(Number(kept.run_site) > 0, 'a run of A is kept');
        const b = device('b3');
        b.db.prepare("INSERT INTO todos (id, title) VALUES ('y4', 'b on an older node')").run();
        await b.sync.network.sendChanges();
        a.db.prepare("INSERT INTO todos (id, title) VALUES ('y5', 'a on an older node')").run();
        await a.sync.network.sendChanges();
        await client.query('UPDATE runs.cloudsync_state SET run_site = $1, run_db_version = $2, run_seq = $3, run_checked = $4', [kept.run_site, kept.run_db_version, kept.run_seq, kept.run_checked]);
        await a.sync.network.checkChanges();
        assert.match(titles(a), /b on an older node/);
        b.db.close();
      } finally {
        await client.end();
      }
      a.db.close();
      t.db.close();
    });
  });

  it('refuses untyped columns, reserved names and names PostgreSQL would cut, at create', async () => {
    await assert.rejects(server.data.createDatabase('untyped', 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, anything);'), { status: 400, message: /column anything of table t has no declared type/ });
    await assert.rejects(server.data.createDatabase('public', TODO_SCHEMA), { status: 400, message: /reserved/ });
    await assert.rejects(server.data.createDatabase('x'.repeat(64), TODO_SCHEMA), { status: 400, message: /longer than the 63 bytes/ });
    assert.equal(await server.data.hasDatabase('untyped'), false);
  });
});
