// Other connections committing at the worst moments, made deterministic by running their work at
// a chosen point of this connection's: between the reads of two tables, while this connection
// waits for the write lock, after a stale connection's ALTER. Nothing may be skipped by a
// watermark, folded by an old layout, or stamped with a db_version already used.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import type { Connection } from '../src/engine/connection.js';
import { rowsOf, temporaryFolder } from './support/databases.js';

const folder = temporaryFolder();
after(() => folder.remove());
let files = 0;

interface Synced {
  db: Database.Database;
  sync: CloudSync;
}

/** Opens three connections to one new WAL file, each with sqlite-sync loaded; the first runs `schema`. */
function connections(...schema: string[]): [Synced, Synced, Synced] {
  const count = 3;
  const file = folder.path(`concurrency-${files++}.db`);
  return Array.from({ length: count }, (_, i) => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    const sync = load(db);
    if (i === 0) for (const sql of schema) db.exec(sql);
    return { db, sync };
  }) as [Synced, Synced, Synced];
}

/** Runs `work` once, right before `connection` next executes `sql`. */
function beforeExec(connection: Connection, sql: string, work: () => void): void {
  const target = connection as { exec: (text: string) => void };
  const exec = target.exec;
  target.exec = (text: string) => {
    if (text === sql) {
      target.exec = exec;
      work();
    }
    exec(text);
  };
}

const ITEMS = 'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, v TEXT)';

test('changes of several tables are read on one snapshot with the fold: a commit cannot fall between them', () => {
  const [a, b] = connections('CREATE TABLE x (id TEXT PRIMARY KEY NOT NULL, v TEXT)', 'CREATE TABLE y (id TEXT PRIMARY KEY NOT NULL, v TEXT)', "SELECT cloudsync_init('*')");
  const replica = new Database(':memory:');
  const r = load(replica);
  replica.exec("CREATE TABLE x (id TEXT PRIMARY KEY NOT NULL, v TEXT); CREATE TABLE y (id TEXT PRIMARY KEY NOT NULL, v TEXT); SELECT cloudsync_init('*')");
  let watermark = { dbVersion: 0, seq: 0 };
  const send = () => {
    for (const p of a.sync.encodePayloads({ sinceDbVersion: watermark.dbVersion, sinceSeq: watermark.seq })) {
      r.applyPayload(p.payload);
      watermark = p.last;
    }
  };
  b.db.exec("INSERT INTO x VALUES ('x0', 'a'); INSERT INTO y VALUES ('y0', 'a')");
  send();
  // While a reads table x, b tries to commit to both tables and to fold them: a holds the database.
  const x = a.sync.engine.table('x');
  assert.ok(x);
  const statement = x.statement.bind(x);
  let tried = false;
  x.statement = (key, build) => {
    const s = statement(key, build);
    if (key !== 'changes.since') return s;
    return {
      ...s,
      iterate: function* (params) {
        yield* s.iterate(params);
        if (tried) return;
        tried = true;
        b.db.pragma('busy_timeout = 0');
        assert.throws(() => b.db.transaction(() => b.db.exec("INSERT INTO x VALUES ('x1', 'b'); INSERT INTO y VALUES ('y1', 'b')"))(), { code: 'SQLITE_BUSY' });
      },
    };
  };
  send();
  x.statement = statement;
  assert.ok(tried);
  b.db.transaction(() => b.db.exec("INSERT INTO x VALUES ('x1', 'b'); INSERT INTO y VALUES ('y1', 'b')"))();
  b.sync.changes();
  send();
  assert.deepEqual(rowsOf(replica, 'x'), rowsOf(a.db, 'x'));
  assert.deepEqual(rowsOf(replica, 'y'), rowsOf(a.db, 'y'));
  assert.equal(rowsOf(replica, 'x').length, 2);
});

test('an ALTER through a connection that has not looked since others wrote takes a new db_version', () => {
  for (const how of ['api', 'sql in a transaction'] as const) {
    const [a, b, c] = connections(ITEMS, "SELECT cloudsync_init('items')");
    b.db.prepare('SELECT cloudsync_db_version()').get(); // b looked once, before a's writes
    a.db.exec("INSERT INTO items VALUES ('a', '1'); INSERT INTO items VALUES ('b', '1')");
    a.sync.changes();
    if (how === 'api') {
      b.sync.beginAlter('items');
      b.db.exec('ALTER TABLE items ADD COLUMN z TEXT');
      b.sync.commitAlter('items');
    } else {
      b.db.transaction(() => b.db.exec("SELECT cloudsync_begin_alter('items'); ALTER TABLE items ADD COLUMN z TEXT; SELECT cloudsync_commit_alter('items')"))();
    }
    b.db.prepare("UPDATE items SET v = 'new' WHERE id = 'a'").run();
    const changes = c.sync.changes();
    const positions = changes.map((ch) => `${ch.dbVersion}/${ch.seq}`);
    assert.equal(new Set(positions).size, positions.length, `${how}: a (db_version, seq) pair is used twice: ${positions.join(' ')}`);
    const newest = Math.max(...changes.filter((ch) => ch.colName === 'v').map((ch) => ch.dbVersion));
    assert.ok(newest > 3, `${how}: the update after the ALTER reuses an old db_version (${newest})`);
  }
});

test("another connection's ALTER committed while this one waits for the lock: the fold reads the log by the new layout", () => {
  const [a, b, c] = connections(ITEMS, "SELECT cloudsync_init('items')");
  a.db.prepare("INSERT INTO items VALUES ('a', '1')").run();
  a.sync.changes();
  a.db.prepare("INSERT INTO items VALUES ('a2', '1')").run(); // left in the log
  b.db.prepare('SELECT cloudsync_db_version()').get();
  beforeExec(a.sync.engine.db, 'BEGIN IMMEDIATE', () => {
    b.db.transaction(() => {
      b.db.exec("SELECT cloudsync_begin_alter('items'); ALTER TABLE items ADD COLUMN z TEXT; SELECT cloudsync_commit_alter('items')");
      b.db.exec("INSERT INTO items VALUES ('b', '2', 'zb'); UPDATE items SET z = 'za' WHERE id = 'a'");
    })();
  });
  a.sync.changes();
  const replica = new Database(':memory:');
  const r = load(replica);
  replica.exec("CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, v TEXT, z TEXT); SELECT cloudsync_init('items')");
  r.applyPayload(c.sync.encodePayload() as Uint8Array);
  assert.deepEqual(rowsOf(replica, 'items'), rowsOf(c.db, 'items'));
  assert.deepEqual(rowsOf(replica, 'items'), [
    ['a', '1', 'za'],
    ['a2', '1', null],
    ['b', '2', 'zb'],
  ]);
});

test('a fold past the soft limit that cannot run after a statement does not fail the statement', () => {
  const db = new Database(folder.path(`soft-limit-${files++}.db`));
  db.pragma('journal_mode = WAL');
  const sync = load(db, { logSoftLimit: 3 });
  db.exec(`${ITEMS}; SELECT cloudsync_init('items')`);
  const log = sync.engine.log;
  const fold = log.foldAll.bind(log);
  log.foldAll = () => {
    throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  };
  const insert = db.prepare('INSERT INTO items VALUES (?, ?)');
  for (let i = 0; i < 6; i++) assert.doesNotThrow(() => insert.run(`k${i}`, 'v'));
  assert.equal(db.prepare('SELECT count(*) FROM items').pluck().get(), 6);
  log.foldAll = fold;
  assert.equal(sync.changes().length, 6);
});

test('each statement of a db.exec text outside a transaction gets its own db_version; inside one they share it', () => {
  const [a] = connections(ITEMS, "SELECT cloudsync_init('items')");
  a.db.exec("INSERT INTO items VALUES ('1', 'x'); INSERT INTO items VALUES ('2', 'x')");
  a.db.exec("BEGIN; INSERT INTO items VALUES ('3', 'x'); INSERT INTO items VALUES ('4', 'x'); COMMIT");
  const versions = a.db.prepare("SELECT cloudsync_pk_decode(pk, 1), db_version FROM cloudsync_changes WHERE col_name = 'v' ORDER BY 1").raw(true).all();
  assert.deepEqual(versions, [
    ['1', 1],
    ['2', 2],
    ['3', 3],
    ['4', 3],
  ]);
});

test('an ALTER by a connection without sqlite-sync is reported when changes are read or merged, and begin/commit_alter adopt it', () => {
  const [a] = connections(ITEMS, "SELECT cloudsync_init('items')", "INSERT INTO items VALUES ('k', '1')");
  const plain = new Database(a.db.name);
  plain.exec('ALTER TABLE items ADD COLUMN z TEXT');
  plain.close();
  a.db.exec("UPDATE items SET z = 'set by a' WHERE id = 'k'");
  assert.throws(() => a.sync.changes(), /table items was altered without cloudsync \(columns z\); run SELECT cloudsync_begin_alter\('items'\)/);
  assert.throws(() => a.db.prepare('SELECT count(*) FROM cloudsync_changes').get(), /altered without cloudsync/);
  a.db.exec("SELECT cloudsync_begin_alter('items'); SELECT cloudsync_commit_alter('items')");
  const replica = new Database(':memory:');
  const r = load(replica);
  replica.exec("CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, v TEXT, z TEXT); SELECT cloudsync_init('items')");
  r.applyPayload(a.sync.encodePayload() as Uint8Array);
  assert.deepEqual(rowsOf(replica, 'items'), [['k', '1', 'set by a']]);
});
