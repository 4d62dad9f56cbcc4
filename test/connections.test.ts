// Several connections to one database file: each sees the others' writes, schema changes and
// enable/disable, whether its statements were prepared before or run inside a transaction.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { openSynced, rowsOf, sendSql, temporaryFolder } from './support/databases.js';

const TODO = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)";
const folder = temporaryFolder();
after(() => folder.remove());

describe('connections', () => {
  test('two connections to one WAL file both track their writes with increasing versions', () => {
    const file = folder.path('two-connections.db');
    const first = openSynced(file, TODO);
    first.db.exec("SELECT cloudsync_init('todo')");
    const second = new Database(file);
    load(second);
    first.db.exec("INSERT INTO todo (id) VALUES ('from-first')");
    second.exec("INSERT INTO todo (id) VALUES ('from-second')");
    first.db.exec("INSERT INTO todo (id) VALUES ('first-again')");
    const versions = first.db.prepare("SELECT cloudsync_pk_decode(pk, 1), db_version FROM cloudsync_changes WHERE col_name = 'title' ORDER BY db_version").raw(true).all();
    assert.deepEqual(versions.map((r) => (r as unknown[])[0]), ['from-first', 'from-second', 'first-again']);
    assert.equal(new Set(versions.map((r) => String((r as unknown[])[1]))).size, 3);
    second.close();
    first.db.close();
  });

  test("a table initialised or disabled by another connection is seen by this one", () => {
    const file = folder.path('registry.db');
    const first = openSynced(file, TODO, 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    first.db.exec("SELECT cloudsync_init('todo')");
    const second = openSynced(file);
    second.db.exec("SELECT cloudsync_init('notes'); SELECT cloudsync_disable('todo')");
    first.db.exec("INSERT INTO notes VALUES ('n1', 'hello'); INSERT INTO todo (id) VALUES ('untracked')");
    assert.equal(first.db.prepare("SELECT cloudsync_is_enabled('notes')").pluck().get(), 1);
    assert.deepEqual(first.db.prepare('SELECT DISTINCT tbl FROM cloudsync_changes').pluck().all(), ['notes']);
    second.db.close();
    first.db.close();
  });

  for (const logWrites of [true, false]) {
    test(`statements prepared before another connection's init, disable, enable and ALTER track by the new state (${logWrites ? 'logged' : 'direct'} writes)`, () => {
      const file = folder.path(`prepared-${logWrites}.db`);
      const first = new Database(file);
      first.pragma('journal_mode = WAL');
      load(first, { logWrites });
      first.exec(`${TODO}; CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)`);
      first.prepare("SELECT cloudsync_init('todo')").get();
      const insertTodo = first.prepare('INSERT INTO todo (id, title) VALUES (?, ?)');
      const insertNote = first.prepare('INSERT INTO notes (id, body) VALUES (?, ?)');
      const setDone = first.prepare('UPDATE todo SET done = ? WHERE id = ?');
      insertTodo.run('before', 'tracked');
      const second = new Database(file);
      load(second, { logWrites });
      const tracked = () => first.prepare("SELECT DISTINCT tbl || ':' || cloudsync_pk_decode(pk, 1) FROM cloudsync_changes ORDER BY 1").pluck().all();

      second.exec("SELECT cloudsync_init('notes'); SELECT cloudsync_disable('todo')");
      insertNote.run('n1', 'hello');
      insertTodo.run('while-disabled', 'untracked');
      assert.deepEqual(tracked(), ['notes:n1', 'todo:before']);

      second.exec("SELECT cloudsync_enable('todo')");
      // inside an explicit transaction the retried statement runs in the same transaction
      first.transaction(() => {
        setDone.run(1, 'before');
        insertTodo.run('after-enable', 'tracked');
      })();
      assert.deepEqual(tracked(), ['notes:n1', 'todo:after-enable', 'todo:before']);
      assert.equal(first.prepare("SELECT col_version FROM cloudsync_changes WHERE col_name = 'done' AND cloudsync_pk_decode(pk, 1) = 'before'").pluck().get(), 2);

      second.exec("SELECT cloudsync_begin_alter('notes'); ALTER TABLE notes ADD COLUMN tag TEXT; SELECT cloudsync_commit_alter('notes')");
      first.prepare("UPDATE notes SET tag = 'x' WHERE id = 'n1'").run();
      assert.equal(first.prepare("SELECT col_version FROM cloudsync_changes WHERE col_name = 'tag' AND cloudsync_pk_decode(pk, 1) = 'n1'").pluck().get(), 2);

      // what the first connection wrote reaches a replica as written
      const replica = new Database(':memory:');
      load(replica);
      replica.exec(`${TODO}; CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT, tag TEXT)`);
      replica.exec("SELECT cloudsync_init('todo'); SELECT cloudsync_init('notes')");
      sendSql(first, replica);
      assert.deepEqual(rowsOf(replica, 'notes'), rowsOf(first, 'notes'));
      assert.deepEqual(replica.prepare('SELECT id, done FROM todo ORDER BY id').raw(true).all(), [['after-enable', 0], ['before', 1]]);
      second.close();
      first.close();
    });
  }

  /** Two connections to a new WAL file, `todo` synced. */
  const twoConnections = (name: string, logWrites = true) => {
    const file = folder.path(name);
    const open = () => {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      load(db, { logWrites });
      return db;
    };
    const first = open();
    first.exec(TODO);
    first.exec("SELECT cloudsync_init('todo')");
    return { first, second: open() };
  };

  test("cloudsync_* reads after another connection's writes see them: is_enabled, db_version", () => {
    const { first, second } = twoConnections('reads-after-other.db');
    const isEnabled = first.prepare("SELECT cloudsync_is_enabled('todo')").pluck();
    const dbVersion = first.prepare('SELECT cloudsync_db_version()').pluck();
    assert.equal(isEnabled.get(), 1);
    second.prepare("INSERT INTO todo (id) VALUES ('from-second')").run();
    assert.equal(dbVersion.get(), second.prepare('SELECT cloudsync_db_version()').pluck().get());
    second.prepare("SELECT cloudsync_disable('todo')").get();
    assert.equal(isEnabled.get(), 0);
    second.close();
    first.close();
  });

  for (const logWrites of [true, false]) {
    test(`db.exec inside a transaction after another connection's disable (${logWrites ? 'logged writes: no STALE, the triggers carry the state' : 'direct writes: one statement runs again by itself, a longer text fails with STALE and works when run again'})`, () => {
      const { first, second } = twoConnections(`exec-stale-${logWrites}.db`, logWrites);
      first.exec('BEGIN');
      second.exec("SELECT cloudsync_disable('todo')");
      first.exec("INSERT INTO todo (id) VALUES ('while-disabled')");
      first.exec('COMMIT');
      first.exec('BEGIN');
      second.exec("SELECT cloudsync_enable('todo')");
      const two = "INSERT INTO todo (id) VALUES ('y'); INSERT INTO todo (id) VALUES ('z')";
      if (!logWrites) assert.throws(() => first.exec(two), (error: Error & { code?: string }) => error.code === 'STALE' && /run the statement again/.test(error.message));
      first.exec(two);
      first.exec('COMMIT');
      // this connection's own DDL changes the schema version too, without another connection's commit: adopted
      first.exec("CREATE TABLE other (x); INSERT INTO todo (id) VALUES ('after-ddl'); INSERT INTO todo (id) VALUES ('after-ddl-2')");
      first.transaction(() => first.exec("CREATE INDEX other_x ON other (x); INSERT INTO todo (id) VALUES ('in-tx')"))();
      // own DDL after another connection's disable, in one transaction: the disable is still seen
      const insert = first.prepare('INSERT INTO todo (id) VALUES (?)');
      first.exec('BEGIN');
      second.exec("SELECT cloudsync_disable('todo')");
      first.exec('CREATE TABLE another (x)');
      insert.run('ddl-then-disabled');
      first.exec('COMMIT');
      assert.deepEqual(first.prepare("SELECT DISTINCT cloudsync_pk_decode(pk, 1) FROM cloudsync_changes ORDER BY 1").pluck().all(), ['after-ddl', 'after-ddl-2', 'in-tx', 'y', 'z']);
      assert.deepEqual(first.prepare('SELECT id FROM todo ORDER BY id').pluck().all(), ['after-ddl', 'after-ddl-2', 'ddl-then-disabled', 'in-tx', 'while-disabled', 'y', 'z']);
      second.close();
      first.close();
    });
  }
});
