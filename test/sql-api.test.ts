// The cloudsync_* SQL API as a user calls it through better-sqlite3: results, errors, and the
// places where we deliberately differ from the reference (its section 9).

import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { encodePayload } from '../src/codec/payload.js';
import { encodePk } from '../src/codec/pk.js';
import { encodeSql, openSynced, rowsOf, sendSql, temporaryFolder } from './support/databases.js';

const TODO = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)";
const folder = temporaryFolder();
after(() => folder.remove());

describe('cloudsync_init', () => {
  test('returns NULL, is idempotent and tracks rows that existed before', () => {
    const { db } = openSynced(':memory:', TODO, "INSERT INTO todo (id, title) VALUES ('old', 'before init')");
    assert.equal(db.prepare("SELECT cloudsync_init('todo')").pluck().get(), null);
    assert.equal(db.prepare("SELECT cloudsync_init('todo')").pluck().get(), null);
    const changes = db.prepare("SELECT col_name, col_value FROM cloudsync_changes WHERE tbl = 'todo' ORDER BY col_name").raw(true).all();
    assert.deepEqual(changes, [['done', 0], ['title', 'before init']]);
  });

  test('refuses tables the reference refuses, with clear messages', () => {
    const { db } = openSynced(
      ':memory:',
      'CREATE TABLE rowid_only (a, b)',
      'CREATE TABLE int_key (id INTEGER PRIMARY KEY NOT NULL, v)',
      'CREATE TABLE nullable_key (id TEXT PRIMARY KEY, v)',
      'CREATE TABLE no_default (id TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL)',
    );
    const init = (sql: string) => () => db.prepare(sql).get();
    assert.throws(init("SELECT cloudsync_init('missing')"), /^CloudSyncError: cloudsync_init: table missing does not exist/);
    assert.throws(init("SELECT cloudsync_init('rowid_only')"), /cloudsync_init: .*no primary key/);
    assert.throws(init("SELECT cloudsync_init('int_key')"), /cloudsync_init: .*INTEGER primary key/);
    assert.throws(init("SELECT cloudsync_init('nullable_key')"), /cloudsync_init: .*must be declared NOT NULL/);
    assert.throws(init("SELECT cloudsync_init('no_default')"), /cloudsync_init: .*NOT NULL without a DEFAULT/);
    assert.throws(init("SELECT cloudsync_init('todo_x', 'nonsense')"), /cloudsync_init: unknown algorithm 'nonsense'/);
    assert.equal(db.prepare("SELECT cloudsync_init('int_key', 'cls', 1)").pluck().get(), null);
    // a refused init leaves nothing behind
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'no_default_cloudsync%'").pluck().get(), 0);
  });

  test("refuses 'aws' and explains why", () => {
    const { db } = openSynced(':memory:', TODO);
    assert.throws(() => db.prepare("SELECT cloudsync_init('todo', 'aws')").get(), /not supported: a delete carries no causal context/);
  });

  test("'*' makes every user table replicated, names with quotes and emoji included", () => {
    const { db } = openSynced(':memory:', TODO, 'CREATE TABLE "we ""ird"" 📋" (k TEXT PRIMARY KEY NOT NULL, v)');
    db.prepare("SELECT cloudsync_init('*')").get();
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('todo')").pluck().get(), 1n === 1n ? 1 : 0);
    assert.equal(db.prepare(`SELECT cloudsync_is_enabled('we "ird" 📋')`).pluck().get(), 1);
    db.exec(`INSERT INTO "we ""ird"" 📋" VALUES ('k1', 'v1')`);
    assert.equal(db.prepare(`SELECT count(*) FROM cloudsync_changes WHERE tbl = 'we "ird" 📋'`).pluck().get(), 1);
  });

  test('can be called inside db.exec with other statements', () => {
    const { db } = openSynced(':memory:');
    db.exec(`${TODO}; SELECT cloudsync_init('todo'); INSERT INTO todo (id) VALUES ('a');`);
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
  });

  test('cannot run from inside a trigger, and says why', () => {
    const { db } = openSynced(':memory:', TODO, 'CREATE TABLE log (x)', "CREATE TRIGGER t AFTER INSERT ON log BEGIN SELECT cloudsync_init('todo'); END");
    const other = db.prepare('INSERT INTO log VALUES (1)');
    assert.doesNotThrow(() => other.run()); // a top-level statement: deferred and run after it
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('todo')").pluck().get(), 1);
  });
});

describe('enable, disable, cleanup, terminate', () => {
  test('disable stops tracking, and the state survives reopening', () => {
    const file = folder.path('enabled.db');
    const first = openSynced(file, TODO);
    first.db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_disable('todo')");
    first.db.exec("INSERT INTO todo (id) VALUES ('hidden')");
    assert.equal(first.db.prepare("SELECT cloudsync_is_enabled('todo')").pluck().get(), 0);
    first.db.close();
    const second = openSynced(file);
    assert.equal(second.db.prepare("SELECT cloudsync_is_enabled('todo')").pluck().get(), 0);
    second.db.exec("SELECT cloudsync_enable('todo'); INSERT INTO todo (id) VALUES ('shown')");
    const keys = second.db.prepare("SELECT DISTINCT cloudsync_pk_decode(pk, 1) FROM cloudsync_changes").pluck().all();
    assert.deepEqual(keys, ['shown']);
    second.db.close();
  });

  test('a row written while disabled: an update after enable tracks the changed column; re-running init picks up the rest', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_disable('todo'); INSERT INTO todo (id, title) VALUES ('quiet', 'q'), ('later', 'l')");
    db.exec("SELECT cloudsync_enable('todo'); UPDATE todo SET done = 1 WHERE id = 'quiet'");
    const tracked = () => db.prepare("SELECT cloudsync_pk_decode(pk, 1) || '.' || col_name FROM cloudsync_changes ORDER BY 1").pluck().all();
    assert.deepEqual(tracked(), ['quiet.done']);
    db.exec("SELECT cloudsync_init('todo')");
    assert.deepEqual(tracked(), ['later.done', 'later.title', 'quiet.done', 'quiet.title']);
  });

  for (const logWrites of [true, false]) {
    test(`a row whose key changed while disabled: an update after enable tracks the changed column (${logWrites ? 'logged' : 'direct'} writes)`, () => {
      const db = new Database(':memory:');
      load(db, { logWrites });
      db.exec(TODO);
      db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_disable('todo')");
      db.exec("INSERT INTO todo (id, title) VALUES ('old', 'q'); UPDATE todo SET id = 'new' WHERE id = 'old'");
      db.exec("SELECT cloudsync_enable('todo'); UPDATE todo SET done = 1 WHERE id = 'new'");
      assert.deepEqual(db.prepare("SELECT cloudsync_pk_decode(pk, 1) || '.' || col_name || '.' || col_version FROM cloudsync_changes").pluck().all(), ['new.done.1']);
    });
  }

  test('cleanup stops tracking one table; cleanup(*) forgets the site id', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo')");
    const site = db.prepare('SELECT cloudsync_siteid()').pluck().get() as Buffer;
    assert.equal(site.length, 16);
    db.exec("SELECT cloudsync_cleanup('todo')");
    db.exec("INSERT INTO todo (id) VALUES ('free')"); // no triggers any more
    assert.equal(db.prepare("SELECT cloudsync_is_enabled('todo')").pluck().get(), 0);
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 0);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'todo_cloudsync%'").pluck().get(), 0);
    db.exec("SELECT cloudsync_cleanup('*'); SELECT cloudsync_init('todo')");
    const next = db.prepare('SELECT cloudsync_siteid()').pluck().get() as Buffer;
    assert.notDeepEqual(next, site);
  });

  test('after terminate, writes keep working (the reference refuses them)', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_terminate()");
    db.exec("INSERT INTO todo (id) VALUES ('after')");
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), 2);
  });
});

describe('identity and clocks', () => {
  test('cloudsync_version, siteid, db_version per transaction', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo')");
    assert.match(String(db.prepare('SELECT cloudsync_version()').pluck().get()), /^\d+\.\d+\.\d+$/);
    const v0 = Number(db.prepare('SELECT cloudsync_db_version()').pluck().get());
    db.exec("INSERT INTO todo (id) VALUES ('a')");
    const insert = db.prepare('INSERT INTO todo (id) VALUES (?)');
    db.transaction(() => {
      insert.run('b');
      insert.run('c');
    })();
    db.exec("BEGIN; INSERT INTO todo (id) VALUES ('d'); UPDATE todo SET done = 1 WHERE id = 'a'; COMMIT");
    const versions = db.prepare('SELECT DISTINCT db_version FROM cloudsync_changes ORDER BY 1').pluck().all().map(Number);
    assert.deepEqual(versions, [v0 + 1, v0 + 2, v0 + 3]);
    assert.equal(Number(db.prepare('SELECT cloudsync_db_version()').pluck().get()), v0 + 3);
  });

  test('cloudsync_uuid gives a fresh UUIDv7 for every row of INSERT … SELECT (reference 9.1)', () => {
    const { db } = openSynced(':memory:', TODO, 'CREATE TABLE src (n)', 'INSERT INTO src VALUES (1), (2), (3), (4)');
    db.exec("SELECT cloudsync_init('todo'); INSERT INTO todo (id) SELECT cloudsync_uuid() FROM src");
    const ids = db.prepare('SELECT id FROM todo').pluck().all() as string[];
    assert.equal(new Set(ids).size, 4);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('a primary-key change gives every moved cell its own seq (reference 9.2)', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo'); INSERT INTO todo (id, title) VALUES ('r1', 'x'); UPDATE todo SET id = 'r2' WHERE id = 'r1'");
    const pairs = db.prepare('SELECT db_version, seq FROM cloudsync_changes').raw(true).all().map((r) => String(r));
    assert.equal(new Set(pairs).size, pairs.length);
  });

  for (const logWrites of [true, false]) {
    test(`what counts as a change, ${logWrites ? 'logged' : 'direct'} writes: a new case under NOCASE, 1.0 for 1 without affinity; the same value is none`, () => {
      const schema = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, name TEXT COLLATE NOCASE, v, r REAL)';
      const open = () => {
        const db = new Database(':memory:');
        load(db, { logWrites });
        db.exec(schema);
        db.prepare("SELECT cloudsync_init('t')").get();
        return db;
      };
      const [a, b] = [open(), open()];
      a.exec("INSERT INTO t VALUES ('k', 'abc', 1, 1.5)");
      sendSql(a, b);
      const versionOf = (column: string) => a.prepare('SELECT col_version FROM cloudsync_changes WHERE col_name = ?').pluck().get(column);
      a.exec("UPDATE t SET name = 'ABC'");
      assert.equal(versionOf('name'), 2, 'a case-only change of a NOCASE column is a change');
      a.exec('UPDATE t SET v = 1.0');
      assert.equal(versionOf('v'), 2, 'in a column without affinity 1.0 is not 1');
      const before = a.prepare('SELECT cloudsync_db_version()').pluck().get();
      a.exec("UPDATE t SET r = 1.5, name = 'ABC', v = 1.0");
      assert.equal(a.prepare('SELECT cloudsync_db_version()').pluck().get(), before, 'writing the same values changes nothing');
      assert.equal(versionOf('r'), 1);
      sendSql(a, b);
      assert.deepEqual(rowsOf(b, 't'), rowsOf(a, 't'));
      assert.equal(b.prepare('SELECT typeof(v) FROM t').pluck().get(), 'real');
    });
  }

  test('cloudsync_pk_encode and cloudsync_pk_decode round-trip typed values', () => {
    const { db } = openSynced(':memory:');
    assert.equal((db.prepare("SELECT hex(cloudsync_pk_encode('a', 2))").pluck().get() as string).toLowerCase(), '020b01610902');
    const row = db.prepare("SELECT cloudsync_pk_decode(cloudsync_pk_encode(1.5, x'00ff', NULL), 1), typeof(cloudsync_pk_decode(cloudsync_pk_encode(1.5, x'00ff', NULL), 2))").raw(true).get();
    assert.deepEqual(row, [1.5, 'blob']);
  });
});

describe('settings', () => {
  test('a column setting does not overwrite the table algorithm (reference 9.14)', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_set_column('todo', 'title', 'flag', 'x'); SELECT cloudsync_set('k', 'v'); SELECT cloudsync_set_table('todo', 'note', 'y')");
    assert.equal(db.prepare("SELECT value FROM cloudsync_table_settings WHERE tbl_name = 'todo' AND key = 'algo'").pluck().get(), 'cls');
    assert.equal(db.prepare("SELECT value FROM cloudsync_table_settings WHERE col_name = 'title' AND key = 'flag'").pluck().get(), 'x');
    assert.equal(db.prepare("SELECT value FROM cloudsync_settings WHERE key = 'k'").pluck().get(), 'v');
    db.exec("SELECT cloudsync_set('k', NULL)");
    assert.equal(db.prepare("SELECT count(*) FROM cloudsync_settings WHERE key = 'k'").pluck().get(), 0);
  });
});

describe('cloudsync_changes', () => {
  test('filters by any column, table included (reference 9.4)', () => {
    const { db } = openSynced(':memory:', TODO, 'CREATE TABLE tags (k TEXT PRIMARY KEY NOT NULL, v)');
    db.exec("SELECT cloudsync_init('*'); INSERT INTO todo (id) VALUES ('a'); INSERT INTO tags VALUES ('t', 1)");
    assert.equal(db.prepare("SELECT count(*) FROM cloudsync_changes WHERE tbl = 'tags'").pluck().get(), 1);
    assert.equal(db.prepare("SELECT count(*) FROM cloudsync_changes WHERE tbl = 'todo' AND col_name = 'done'").pluck().get(), 1);
    assert.equal(db.prepare('SELECT count(*) FROM cloudsync_changes WHERE site_id = cloudsync_siteid() AND db_version > 0').pluck().get(), 3);
  });

  test('refuses UPDATE and DELETE; an INSERT merges a remote change', () => {
    const a = openSynced(':memory:', TODO);
    const b = openSynced(':memory:', TODO);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('todo')");
    a.db.exec("INSERT INTO todo (id, title) VALUES ('r1', 'via vtab')");
    assert.throws(() => a.db.exec('UPDATE cloudsync_changes SET seq = 1'), /Only INSERT and SELECT statements are allowed/);
    assert.throws(() => a.db.exec('DELETE FROM cloudsync_changes'), /Only INSERT and SELECT statements are allowed/);
    const rows = a.db.prepare('SELECT * FROM cloudsync_changes').raw(true).all();
    const insert = b.db.prepare('INSERT INTO cloudsync_changes (tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    b.db.transaction(() => {
      for (const row of rows) insert.run(...(row as unknown[]));
    })();
    assert.deepEqual(rowsOf(b.db, 'todo'), rowsOf(a.db, 'todo'));
  });
});

describe('cloudsync_payload_save and cloudsync_payload_load', () => {
  test('save writes this database\'s own changes to a file and returns its size; load applies a file and returns its changes', () => {
    const a = openSynced(':memory:', TODO);
    const b = openSynced(folder.path('save-b.db'), TODO);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('todo')");
    const file = folder.path('a.payload');
    assert.equal(a.db.prepare('SELECT cloudsync_payload_save(?)').pluck().get(file), 0, 'nothing to save yet');
    assert.equal(existsSync(file), false);
    a.db.exec("INSERT INTO todo (id, title) VALUES ('a1', 'from a'), ('a2', 'also a')");
    const size = a.db.prepare('SELECT cloudsync_payload_save(?)').pluck().get(file);
    assert.equal(size, statSync(file).size);
    assert.equal(b.db.prepare('SELECT cloudsync_payload_load(?)').pluck().get(file), 4);
    assert.deepEqual(rowsOf(b.db, 'todo'), rowsOf(a.db, 'todo'));
    // b's own file leaves out what it merged from a
    b.db.exec("INSERT INTO todo (id, title) VALUES ('b1', 'from b')");
    const fromB = folder.path('b.payload');
    b.db.prepare('SELECT cloudsync_payload_save(?)').get(fromB);
    const c = openSynced(':memory:', TODO);
    c.db.exec("SELECT cloudsync_init('todo')");
    assert.equal(c.db.prepare('SELECT cloudsync_payload_load(?)').pluck().get(fromB), 2);
    assert.deepEqual(rowsOf(c.db, 'todo'), [['b1', 'from b', 0n]]);
  });

  test('a missing or corrupt file is refused by name and changes nothing', () => {
    const a = openSynced(':memory:', TODO);
    a.db.exec("SELECT cloudsync_init('todo'); INSERT INTO todo (id) VALUES ('r1')");
    const load = a.db.prepare('SELECT cloudsync_payload_load(?)').pluck();
    assert.throws(() => load.get(folder.path('missing.payload')), /^CloudSyncError: cloudsync_payload_load: cannot read .*missing\.payload/);
    const corrupt = folder.path('corrupt.payload');
    writeFileSync(corrupt, Buffer.from('CLSY not really a payload'));
    assert.throws(() => load.get(corrupt), /^CloudSyncError: cloudsync_payload_load: /);
    assert.throws(() => a.db.prepare('SELECT cloudsync_payload_save(?)').get(folder.path('no/such/dir/x')), /^CloudSyncError: cloudsync_payload_save: cannot write /);
    assert.deepEqual(rowsOf(a.db, 'todo'), [['r1', '', 0n]]);
  });
});

describe('cloudsync_payload_decode', () => {
  test('one NOCASE key in several cases, and the table named in another case, are one row: every cell merges and keeps its clock (payload and change list)', () => {
    const schema = 'CREATE TABLE tags (name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, a TEXT, b TEXT)';
    const site = new Uint8Array(16).fill(7);
    const change = (key: string, column: string, value: string, seq: number, tbl = 'tags', colVersion = 1) => ({ tbl, pk: encodePk([key]), colName: column, colValue: value, colVersion, dbVersion: 1, siteId: site, cl: 1, seq });
    // the table named in another case is the same table too
    const changes = [change('abc', 'a', 'w', 0), change('ABC', 'b', 'y', 1), change('aBc', 'a', 'x', 2, 'TAGS', 2)];
    for (const via of ['payload', 'changes'] as const) {
      const { db, sync } = openSynced(':memory:', schema);
      sync.init('tags');
      if (via === 'payload') assert.equal(sync.applyPayload(encodePayload(changes, { schemaHash: 0n })), 3);
      else assert.equal(sync.applyChanges(changes), 3);
      assert.deepEqual(rowsOf(db, 'tags'), [['abc', 'x', 'y']]);
      const cells = db.prepare("SELECT col_name, col_value, col_version FROM cloudsync_changes WHERE col_name <> '__[RIP]__' ORDER BY col_name").raw(true).all();
      assert.deepEqual(cells, [['a', 'x', 2], ['b', 'y', 1]], `${via}: both cells keep their clocks`);
    }
  });

  test('a malformed payload is refused and changes nothing', () => {
    const a = openSynced(':memory:', TODO);
    a.db.exec("SELECT cloudsync_init('todo'); INSERT INTO todo (id) VALUES ('r1')");
    const payload = encodeSql(a.db) as Buffer;
    const b = openSynced(':memory:', TODO);
    b.db.exec("SELECT cloudsync_init('todo')");
    const decode = b.db.prepare('SELECT cloudsync_payload_decode(?)').pluck();
    assert.throws(() => decode.get(payload.subarray(0, payload.length - 3)), /^CloudSyncError: cloudsync_payload_decode: /);
    assert.throws(() => decode.get(Buffer.from('not a payload')), /cloudsync_payload_decode: /);
    assert.throws(() => decode.get('text'), /cloudsync_payload_decode: the payload must be a BLOB/);
    assert.equal(b.db.prepare('SELECT count(*) FROM todo').pluck().get(), 0);
    assert.equal(b.db.prepare('SELECT cloudsync_payload_apply(?)').pluck().get(payload), 2);
  });

  test('an unknown table is refused by name and nothing is applied', () => {
    const a = openSynced(':memory:', TODO, 'CREATE TABLE extra (k TEXT PRIMARY KEY NOT NULL, v)');
    a.db.exec("SELECT cloudsync_init('*'); INSERT INTO todo (id) VALUES ('r1'); INSERT INTO extra VALUES ('k', 1)");
    const b = openSynced(':memory:', TODO);
    b.db.exec("SELECT cloudsync_init('todo')");
    assert.throws(() => sendSql(a.db, b.db), /cloudsync_payload_decode: unknown table extra/);
    assert.equal(b.db.prepare('SELECT count(*) FROM todo').pluck().get(), 0);
  });

  test('a change that violates a constraint rolls back the whole payload and names the row (reference 9.9)', () => {
    const schema = 'CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, email TEXT UNIQUE)';
    const a = openSynced(':memory:', schema);
    const b = openSynced(':memory:', schema);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('users')");
    a.db.exec("INSERT INTO users VALUES ('u1', 'one@x'), ('u2', 'taken@x')");
    b.db.exec("INSERT INTO users VALUES ('u9', 'taken@x')");
    const before = rowsOf(b.db, 'users');
    const changesBefore = b.db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get();
    assert.throws(() => sendSql(a.db, b.db), /cloudsync_payload_decode: cannot apply change to table users, primary key \["u2"\].*UNIQUE/);
    assert.deepEqual(rowsOf(b.db, 'users'), before);
    assert.equal(b.db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get(), changesBefore);
  });

  test('in a large payload the failing row is still the one named, and nothing is applied', () => {
    const schema = 'CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, email TEXT UNIQUE)';
    const a = openSynced(':memory:', schema);
    const b = openSynced(':memory:', schema);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('users')");
    const insert = a.db.prepare('INSERT INTO users VALUES (?, ?)');
    a.db.transaction(() => {
      for (let i = 0; i < 180; i++) insert.run(`u${String(i).padStart(3, '0')}`, `user${i}@x`);
    })();
    b.db.exec("INSERT INTO users VALUES ('zz', 'user137@x')");
    assert.throws(() => sendSql(a.db, b.db), /cannot apply change to table users, primary key \["u137"\]: UNIQUE constraint failed/);
    assert.deepEqual(rowsOf(b.db, 'users'), [['zz', 'user137@x']]);
  });
});

describe('schema changes', () => {
  test('a new column syncs for keys whose encoding holds zero bytes (reference 9.3)', () => {
    const schema = 'CREATE TABLE nums (id INTEGER PRIMARY KEY NOT NULL, v TEXT)';
    const a = openSynced(':memory:', schema);
    const b = openSynced(':memory:', schema);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('nums', 'cls', 1)");
    a.db.exec("INSERT INTO nums VALUES (0, 'zero'), (256, 'x'), (1, 'one')");
    sendSql(a.db, b.db);
    for (const { db } of [a, b]) {
      db.exec("SELECT cloudsync_begin_alter('nums'); ALTER TABLE nums ADD COLUMN extra TEXT DEFAULT 'd'; SELECT cloudsync_commit_alter('nums')");
    }
    a.db.exec("UPDATE nums SET extra = 'new' WHERE id IN (0, 256)");
    sendSql(a.db, b.db);
    assert.deepEqual(rowsOf(b.db, 'nums'), rowsOf(a.db, 'nums'));
    assert.deepEqual(b.db.prepare('SELECT extra FROM nums ORDER BY id').pluck().all(), ['new', 'd', 'new']);
  });

  test('rows written between begin_alter and commit_alter are tracked afterwards', () => {
    const { db } = openSynced(':memory:', TODO);
    db.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_begin_alter('todo')");
    db.exec("ALTER TABLE todo ADD COLUMN note TEXT; INSERT INTO todo (id, title) VALUES ('during', 'x')");
    db.exec("SELECT cloudsync_commit_alter('todo'); UPDATE todo SET note = 'later' WHERE id = 'during'");
    const cells = db.prepare("SELECT col_name || '=' || col_version FROM cloudsync_changes WHERE cloudsync_pk_decode(pk, 1) = 'during' ORDER BY 1").pluck().all();
    assert.deepEqual(cells, ['done=1', 'note=2', 'title=1']);
  });

  test('begin_alter on a table that is not synced is an error', () => {
    const { db } = openSynced(':memory:', TODO);
    assert.throws(() => db.exec("SELECT cloudsync_begin_alter('todo')"), /cloudsync_begin_alter: table todo is not synced/);
  });
});

describe('grow-only and delete-wins tables', () => {
  test('a key-only grow-only table merges (reference 9.6)', () => {
    const schema = 'CREATE TABLE seen (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b))';
    const a = openSynced(':memory:', schema);
    const b = openSynced(':memory:', schema);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('seen', 'gos')");
    a.db.exec("INSERT INTO seen VALUES ('x', '1'), ('y', '2')");
    assert.throws(() => a.db.exec("DELETE FROM seen WHERE a = 'x'"), /DELETE operation is not allowed on table seen/);
    sendSql(a.db, b.db);
    assert.deepEqual(rowsOf(b.db, 'seen'), [['x', '1'], ['y', '2']]);
  });

  test('dws: a delete beats a concurrent update and a concurrent re-insert; re-inserting a deleted key is refused', () => {
    const a = openSynced(':memory:', TODO);
    const b = openSynced(':memory:', TODO);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('todo', 'dws')");
    a.db.exec("INSERT INTO todo (id, title) VALUES ('r1', 'start'), ('r2', 'other')");
    sendSql(a.db, b.db);
    a.db.exec("DELETE FROM todo WHERE id = 'r1'");
    b.db.exec("UPDATE todo SET title = 'edited many times' WHERE id = 'r1'");
    b.db.exec("UPDATE todo SET title = 'edited again' WHERE id = 'r1'");
    assert.throws(() => a.db.exec("INSERT INTO todo (id) VALUES ('r1')"), /delete-wins algorithm \(dws\): a deleted primary key cannot be inserted again/);
    sendSql(a.db, b.db);
    sendSql(b.db, a.db);
    assert.deepEqual(rowsOf(a.db, 'todo'), [['r2', 'other', 0n]]);
    assert.deepEqual(rowsOf(b.db, 'todo'), rowsOf(a.db, 'todo'));
  });

  test('cls: the same history lets a re-insert win (for contrast with dws)', () => {
    const a = openSynced(':memory:', TODO);
    const b = openSynced(':memory:', TODO);
    for (const { db } of [a, b]) db.exec("SELECT cloudsync_init('todo')");
    a.db.exec("INSERT INTO todo (id, title) VALUES ('r1', 'start')");
    sendSql(a.db, b.db);
    b.db.exec("DELETE FROM todo WHERE id = 'r1'; INSERT INTO todo (id, title) VALUES ('r1', 'back')");
    a.db.exec("DELETE FROM todo WHERE id = 'r1'");
    sendSql(a.db, b.db);
    sendSql(b.db, a.db);
    assert.deepEqual(rowsOf(a.db, 'todo'), [['r1', 'back', 0n]]);
    assert.deepEqual(rowsOf(b.db, 'todo'), rowsOf(a.db, 'todo'));
  });
});
