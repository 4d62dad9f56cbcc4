// What users get wrong or do in an unusual order: rolling back around cloudsync calls, settings the
// engine manages, writing functions inside writing statements, a second load(), ALTER TABLE DROP
// COLUMN, calls before the first init, and changes with impossible fields. Each must leave the
// database consistent and say what happened.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { encodePk } from '../src/codec/pk.js';
import { encodeSql, openSynced, rowsOf, sendSql, temporaryFolder } from './support/databases.js';

const T = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v TEXT, w TEXT)';
const folder = temporaryFolder();
after(() => folder.remove());

/** Two synced databases (memory or WAL files) with table t, and one row written on the first. */
function pair(storage: 'memory' | 'file', name: string) {
  const path = (n: string) => (storage === 'memory' ? ':memory:' : folder.path(`${name}-${n}.db`));
  const a = openSynced(path('a'), T, "SELECT cloudsync_init('t')");
  const b = openSynced(path('b'), T, "SELECT cloudsync_init('t')");
  a.db.exec("INSERT INTO t VALUES ('a1', 'x', 'y')");
  return { a, b, path };
}

const siteIds = (db: Database.Database) => db.prepare('SELECT rowid, hex(site_id) FROM cloudsync_site_id ORDER BY rowid').raw(true).all();

describe('rollbacks around cloudsync calls', () => {
  for (const storage of ['memory', 'file'] as const) {
    test(`a payload applied in a transaction that rolls back can be applied again, and the changes it brings stay readable (${storage})`, () => {
      const { a, b, path } = pair(storage, 'rollback');
      const payload = encodeSql(a.db);
      b.db.exec('BEGIN');
      b.db.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
      b.db.exec('ROLLBACK');
      assert.equal(siteIds(b.db).length, 1, 'the rollback removed the sender site id');
      assert.equal(b.db.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload), 2);
      assert.deepEqual(siteIds(b.db)[1], [1, Buffer.from(a.sync.siteId() as Uint8Array).toString('hex').toUpperCase()]);
      // every change names a site id that exists: the SQL encoder and a third database accept them
      const c = openSynced(path('c'), T, "SELECT cloudsync_init('t')");
      assert.equal(sendSql(b.db, c.db), 2);
      assert.deepEqual(rowsOf(c.db, 't'), [['a1', 'x', 'y']]);
      // and the same through a transaction function that throws
      const d = openSynced(path('d'), T, "SELECT cloudsync_init('t')");
      const failing = d.db.transaction(() => {
        d.db.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
        throw new Error('the app changed its mind');
      });
      assert.throws(() => failing(), /changed its mind/);
      assert.equal(d.db.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload), 2);
      assert.notEqual(d.sync.encodePayload(), null);
    });
  }

  test('rolling back to a savepoint inside the transaction: the next cloudsync call sees the undone site id', () => {
    const { a, b } = pair('memory', 'savepoint');
    const payload = encodeSql(a.db);
    b.db.exec('BEGIN; SAVEPOINT s');
    b.db.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
    b.db.exec('ROLLBACK TO s');
    b.db.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
    b.db.exec('COMMIT');
    assert.equal(siteIds(b.db).length, 2);
    assert.equal(b.db.prepare('SELECT count(*) FROM cloudsync_changes WHERE site_id IS NULL').pluck().get(), 0);
  });

  test('init, disable and cleanup rolled back leave the engine as the database is', () => {
    const { db } = openSynced(':memory:', T, 'CREATE TABLE u (id TEXT PRIMARY KEY NOT NULL, v TEXT)', "SELECT cloudsync_init('t')");
    db.exec("BEGIN; SELECT cloudsync_init('u'); ROLLBACK");
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('u')").pluck().get(), 0);
    db.exec("INSERT INTO u VALUES ('u1', 'x'); INSERT INTO t VALUES ('t1', 'x', NULL)");
    assert.deepEqual(db.prepare('SELECT DISTINCT tbl FROM cloudsync_changes').pluck().all(), ['t']);

    db.exec("BEGIN; SELECT cloudsync_disable('t'); ROLLBACK");
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('t')").pluck().get(), 1);
    db.exec("INSERT INTO t VALUES ('t2', 'x', NULL)");
    assert.equal(db.prepare("SELECT count(*) FROM cloudsync_changes WHERE cloudsync_pk_decode(pk, 1) = 't2'").pluck().get(), 2);

    db.exec("BEGIN; SELECT cloudsync_cleanup('t'); ROLLBACK");
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('t')").pluck().get(), 1);
    db.exec("UPDATE t SET v = 'changed' WHERE id = 't1'");
    assert.equal(db.prepare("SELECT col_value FROM cloudsync_changes WHERE col_name = 'v' ORDER BY db_version DESC LIMIT 1").pluck().get(), 'changed');
  });
});

describe('ALTER TABLE between begin_alter and commit_alter', () => {
  for (const logWrites of [true, false]) {
    test(`DROP COLUMN and RENAME COLUMN work on a synced table (${logWrites ? 'logged' : 'direct'} writes)`, () => {
      const db = new Database(folder.path(`alter-${logWrites}.db`));
      db.pragma('journal_mode = WAL');
      load(db, { logWrites });
      db.exec(`${T}; SELECT cloudsync_init('t'); INSERT INTO t VALUES ('a', '1', '2')`);
      db.exec("SELECT cloudsync_begin_alter('t')");
      db.exec('ALTER TABLE t DROP COLUMN w');
      db.exec('ALTER TABLE t RENAME COLUMN v TO v2');
      db.exec("SELECT cloudsync_commit_alter('t')");
      db.exec("UPDATE t SET v2 = '3' WHERE id = 'a'");
      assert.deepEqual(db.prepare('SELECT DISTINCT col_name FROM cloudsync_changes ORDER BY 1').pluck().all(), ['v2']);
      const replica = openSynced(':memory:', 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v2 TEXT)', "SELECT cloudsync_init('t')");
      sendSql(db, replica.db);
      assert.deepEqual(rowsOf(replica.db, 't'), [['a', '3']]);
      db.close();
    });
  }
});

describe('settings and calls before the first init', () => {
  test('cloudsync_set_table refuses the keys the engine manages, and the table keeps syncing', () => {
    const { db } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    for (const key of ['algo', 'columns', 'writes', 'enabled', 'WRITES']) {
      assert.throws(() => db.prepare(`SELECT cloudsync_set_table('t', '${key}', 'x')`).get(), /cloudsync_set_table: '\w+' is managed by cloudsync_/);
    }
    db.exec("SELECT cloudsync_set_table('t', 'note', 'mine'); SELECT cloudsync_set_column('t', 'v', 'writes', 'a column key of the user')");
    db.exec("SELECT cloudsync_set_table('t', 'constructor', 'a key named like an Object property')");
    db.exec("INSERT INTO t VALUES ('c', '1', NULL)");
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
  });

  test('cloudsync_set before the first init, and after cleanup(*), leaves the next calls working', () => {
    const { db } = openSynced(':memory:', T);
    assert.deepEqual(db.prepare('SELECT * FROM cloudsync_changes').all(), []);
    db.exec("SELECT cloudsync_set('note', 'x')");
    db.exec("SELECT cloudsync_init('t'); INSERT INTO t VALUES ('a', '1', '2')");
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
    db.exec("SELECT cloudsync_cleanup('*')");
    assert.deepEqual(db.prepare('SELECT * FROM cloudsync_changes').all(), []);
    db.exec("SELECT cloudsync_set_table('t', 'note', 'x')");
    db.exec("SELECT cloudsync_init('t')");
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
  });

  test('cloudsync_is_enabled(NULL) is 0; init reads force as SQLite reads an integer', () => {
    const { db } = openSynced(':memory:', 'CREATE TABLE k (id INTEGER PRIMARY KEY NOT NULL, v)');
    assert.equal(db.prepare('SELECT cloudsync_is_enabled(NULL)').pluck().get(), 0);
    assert.throws(() => db.prepare("SELECT cloudsync_init('k', 'cls', 'yes')").get(), /INTEGER primary key/);
    assert.throws(() => db.prepare("SELECT cloudsync_init('k', 'cls', 0)").get(), /INTEGER primary key/);
    db.prepare("SELECT cloudsync_init('k', 'cls', '1')").get();
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('k')").pluck().get(), 1);
  });
});

describe('writing functions inside statements that write', () => {
  test('an UPDATE stores NULL, never a placeholder; a trigger that applies payloads works', () => {
    const { a, b } = pair('memory', 'placeholder');
    const payload = encodeSql(a.db);
    b.db.exec('CREATE TABLE inbox (id INTEGER PRIMARY KEY, payload BLOB, applied)');
    b.db.prepare('INSERT INTO inbox (payload) VALUES (?)').run(payload);
    b.db.exec('UPDATE inbox SET applied = cloudsync_payload_decode(payload)');
    assert.equal(b.db.prepare('SELECT applied FROM inbox').pluck().get(), null);
    assert.deepEqual(rowsOf(b.db, 't'), [['a1', 'x', 'y']]);

    const c = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    c.db.exec('CREATE TABLE inbox (payload BLOB); CREATE TRIGGER apply_inbox AFTER INSERT ON inbox BEGIN SELECT cloudsync_payload_decode(NEW.payload); END');
    c.db.prepare('INSERT INTO inbox VALUES (?)').run(payload);
    assert.deepEqual(rowsOf(c.db, 't'), [['a1', 'x', 'y']]);
  });
});

describe('load() twice', () => {
  test('applyPayload of something that is not bytes says so', () => {
    const { sync } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    assert.throws(() => sync.applyPayload(null as unknown as Uint8Array), /applyPayload: the payload must be a Uint8Array \(a BLOB\), got null/);
  });

  test('the second call throws and the first keeps working', () => {
    const { db } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    assert.throws(() => load(db), /load\(\) was already called on this connection/);
    db.exec("INSERT INTO t VALUES ('a', '1', '2')");
    db.exec("SELECT cloudsync_init('t')");
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
  });
});

describe('changes with impossible fields', () => {
  const key = Buffer.from(encodePk(['k']));
  const row = (siteId: Buffer, colVersion: number | bigint, cl: number | bigint) => ['t', key, 'v', 'x', colVersion, 1, siteId, cl, 1];
  const insert = 'INSERT INTO cloudsync_changes (tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

  test('INSERT INTO cloudsync_changes and applyChanges refuse them, naming table and key; nothing is stored', () => {
    const { db, sync } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    const site = Buffer.alloc(16, 7);
    assert.throws(() => db.prepare(insert).run(...row(Buffer.alloc(3), 1, 1)), /cloudsync_changes: change to table t, primary key \["k"\]: site_id must be a 16-byte BLOB/);
    assert.throws(() => db.prepare(insert).run(...row(site, -1, 1)), /col_version must be an integer from 0 to 2\^53/);
    assert.throws(() => db.prepare(insert).run(...row(site, 1, 1.5)), /cl must be an integer/);
    assert.throws(() => db.prepare(insert).run(...row(site, 1, 2n ** 60n)), /cl must be an integer/);
    const change = { tbl: 't', pk: key, colName: 'v', colValue: 'x', colVersion: 1, dbVersion: 1, siteId: site, cl: 1, seq: -3 };
    assert.throws(() => sync.applyChanges([change]), /applyChanges: change to table t, primary key \["k"\]: seq must be an integer/);
    assert.deepEqual(rowsOf(db, 't'), []);
    assert.equal(siteIds(db).length, 1);
    assert.equal(encodeSql(db), null);
  });

  test('an unknown table or column is reported with the key of the change', () => {
    const { db } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    const site = Buffer.alloc(16, 7);
    assert.throws(() => db.prepare(insert).run('nope', key, 'v', 'x', 1, 1, site, 1, 1), /unknown table nope \(change to primary key \["k"\]\)/);
    assert.throws(() => db.prepare(insert).run('t', key, 'nope', 'x', 1, 1, site, 1, 1), /unknown column nope in table t \(change to primary key \["k"\]\)/);
  });
});

describe('reading changes another way', () => {
  test('a view over cloudsync_changes (and a view over that view) sees the latest writes', () => {
    const { db } = openSynced(':memory:', T, "SELECT cloudsync_init('t')");
    db.exec('CREATE TEMP VIEW outbox AS SELECT tbl, pk, col_name FROM cloudsync_changes');
    db.exec("INSERT INTO t VALUES ('a', '1', '2')");
    assert.equal(db.prepare('SELECT count(*) FROM outbox').pluck().get(), 2);
    db.exec('CREATE TEMP VIEW outbox_names AS SELECT DISTINCT col_name FROM outbox');
    db.exec("INSERT INTO t VALUES ('b', '1', NULL)");
    assert.equal(db.prepare('SELECT count(*) FROM outbox').pluck().get(), 4);
    db.exec("UPDATE t SET w = 'set' WHERE id = 'b'");
    assert.deepEqual(db.prepare('SELECT col_name FROM outbox_names ORDER BY 1').pluck().all(), ['v', 'w']);
    db.exec('CREATE TABLE archive (tbl, pk, col_name); INSERT INTO archive SELECT * FROM outbox');
    assert.equal(db.prepare('SELECT count(*) FROM archive').pluck().get(), 4);
  });

  test('a read-only connection reads changes once they are folded, and says why it cannot before', () => {
    const file = folder.path('readonly.db');
    const writer = openSynced(file, T, "SELECT cloudsync_init('t')", "INSERT INTO t VALUES ('a', '1', '2')");
    const reader = new Database(file, { readonly: true });
    const sync = load(reader);
    assert.throws(() => reader.prepare('SELECT count(*) FROM cloudsync_changes').get(), /table t has local writes that are not folded .* this connection is read-only/);
    assert.throws(() => sync.changes(), /read-only/);
    assert.equal(writer.db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
    assert.equal(reader.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
    assert.equal(sync.changes().length, 2);
    reader.close();
    writer.db.close();
  });
});
