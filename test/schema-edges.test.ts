// Schemas and names that meet the engine's own objects: ALTER TABLE of other tables beside direct
// triggers, tables whose names look like meta tables or logs, trigger names of X and key_X, names
// equal only under Unicode case, TEMP tables hiding synced ones, and rows that user triggers write
// during a merge. Each runs with logged and direct writes.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { rowsOf, sendSql, temporaryFolder } from './support/databases.js';

const folder = temporaryFolder();
after(() => folder.remove());
let files = 0;

/** A synced connection, in memory or on a WAL file, with logged or direct writes. */
function open(storage: 'memory' | 'file', logWrites: boolean, ...schema: string[]): Database.Database {
  const db = new Database(storage === 'memory' ? ':memory:' : folder.path(`edges-${files++}.db`));
  if (storage === 'file') db.pragma('journal_mode = WAL');
  load(db, { logWrites });
  for (const sql of schema) db.exec(sql);
  return db;
}

const modes = [
  ['logged', true],
  ['direct', false],
] as const;

for (const [mode, logWrites] of modes) {
  describe(`names and schemas (${mode} writes)`, () => {
    test('ALTER TABLE of an unsynced table, and RENAME/DROP COLUMN of a synced one beside another, work', () => {
      const db = open('file', logWrites, 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT)', 'CREATE TABLE v (id TEXT PRIMARY KEY NOT NULL, q TEXT)');
      db.exec('CREATE TABLE u (id INTEGER PRIMARY KEY, x TEXT, z TEXT)');
      db.exec("SELECT cloudsync_init('t'); SELECT cloudsync_init('v')");
      db.exec('ALTER TABLE u RENAME COLUMN x TO y; ALTER TABLE u DROP COLUMN z; ALTER TABLE u RENAME TO u2');
      db.exec("SELECT cloudsync_begin_alter('t'); ALTER TABLE t ADD COLUMN c TEXT; ALTER TABLE t RENAME COLUMN a TO b; ALTER TABLE t DROP COLUMN c; SELECT cloudsync_commit_alter('t')");
      db.exec("INSERT INTO t VALUES ('k', 'x'); UPDATE v SET q = 'y'");
      assert.deepEqual(db.prepare("SELECT DISTINCT col_name FROM cloudsync_changes WHERE tbl = 't'").pluck().all(), ['b']);
      db.close();
    });

    test('ALTER TABLE of a synced table outside begin_alter/commit_alter, and any rename of one, is refused before it runs', () => {
      const db = open('memory', logWrites, 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT)', "SELECT cloudsync_init('t')");
      assert.throws(() => db.exec('ALTER TABLE t ADD COLUMN c TEXT'), /ALTER TABLE t: the table is synced; run the ALTER between SELECT cloudsync_begin_alter\('t'\)/);
      assert.throws(() => db.prepare('ALTER TABLE "T" RENAME COLUMN a TO b').run(), /the table is synced/);
      assert.throws(() => db.exec("SELECT cloudsync_begin_alter('t'); ALTER TABLE main.t RENAME TO t2"), /a synced table cannot be renamed/);
      db.exec("SELECT cloudsync_commit_alter('t')");
      assert.deepEqual(db.prepare("SELECT name FROM pragma_table_info('t')").pluck().all(), ['id', 'a']);
      db.exec('CREATE TEMP TABLE t (x); ALTER TABLE temp.t ADD COLUMN y');
      db.exec("SELECT cloudsync_begin_alter('t'); ALTER TABLE main.t ADD COLUMN c TEXT; SELECT cloudsync_commit_alter('t')");
      db.exec("INSERT INTO main.t VALUES ('k', 'x', 'y')");
      assert.deepEqual(db.prepare("SELECT col_name FROM cloudsync_changes ORDER BY 1").pluck().all(), ['a', 'c']);
    });

    test('a column renamed between begin_alter and commit_alter keeps its clocks; peers that rename too keep syncing', () => {
      const schema = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, n INTEGER)';
      const a = open('memory', logWrites, schema, "SELECT cloudsync_init('t')", "INSERT INTO t VALUES ('k', 'x', 1)", "UPDATE t SET a = 'y'");
      const b = open('memory', logWrites, schema, "SELECT cloudsync_init('t')");
      sendSql(a, b);
      const before = a.prepare("SELECT col_version, db_version FROM cloudsync_changes WHERE col_name = 'a'").raw(true).get();
      const rename = "SELECT cloudsync_begin_alter('t'); ALTER TABLE t RENAME COLUMN a TO tmp; ALTER TABLE t RENAME tmp TO label; SELECT cloudsync_commit_alter('t')";
      a.exec(rename);
      b.exec(rename);
      assert.deepEqual(a.prepare("SELECT col_version, db_version FROM cloudsync_changes WHERE col_name = 'label'").raw(true).get(), before);
      a.exec("UPDATE t SET label = 'z', n = 2");
      sendSql(a, b);
      assert.deepEqual(rowsOf(b, 't'), [['k', 'z', 2n]]);
      assert.deepEqual(b.prepare("SELECT col_version FROM cloudsync_changes WHERE col_name = 'label'").pluck().get(), 3);
    });

    test('a user table named like a meta table or a log is refused by init and left alone by cleanup', () => {
      const db = open('memory', logWrites, 'CREATE TABLE audit (id TEXT PRIMARY KEY NOT NULL, v TEXT)', 'CREATE TABLE report (id TEXT PRIMARY KEY NOT NULL)');
      db.exec("CREATE TABLE audit_cloudsync_log (note TEXT); INSERT INTO audit_cloudsync_log VALUES ('mine')");
      db.exec("CREATE TABLE report_cloudsync (note TEXT); INSERT INTO report_cloudsync VALUES ('mine too')");
      assert.throws(() => db.prepare("SELECT cloudsync_init('audit')").get(), /cloudsync_init: table audit_cloudsync_log already exists and was not made by cloudsync/);
      assert.throws(() => db.prepare("SELECT cloudsync_init('report')").get(), /table report_cloudsync already exists/);
      db.exec("SELECT cloudsync_cleanup('report')");
      assert.deepEqual(db.prepare('SELECT note FROM audit_cloudsync_log').pluck().all(), ['mine']);
      assert.deepEqual(db.prepare('SELECT note FROM report_cloudsync').pluck().all(), ['mine too']);
    });

    test('tables X and key_X keep their own triggers', () => {
      const schema = ['CREATE TABLE key_t (id TEXT PRIMARY KEY NOT NULL, v TEXT)', 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v TEXT)'];
      const a = open('memory', logWrites, ...schema, "SELECT cloudsync_init('key_t')", "SELECT cloudsync_init('t')");
      const b = open('memory', logWrites, ...schema, "SELECT cloudsync_init('key_t')", "SELECT cloudsync_init('t')");
      a.exec("INSERT INTO key_t VALUES ('a', 'v1'); INSERT INTO t VALUES ('a', 'v1')");
      sendSql(a, b);
      a.exec("UPDATE key_t SET v = 'edited'; UPDATE t SET id = 'moved'");
      sendSql(a, b);
      assert.deepEqual(rowsOf(b, 'key_t'), [['a', 'edited']]);
      assert.deepEqual(rowsOf(b, 't'), [['moved', 'v1']]);
    });

    test('tables whose names differ only in non-ASCII case are two tables, as in SQLite', () => {
      const schema = ['CREATE TABLE "Été" (id TEXT PRIMARY KEY NOT NULL, v TEXT)', 'CREATE TABLE "été" (id TEXT PRIMARY KEY NOT NULL, v TEXT)'];
      const a = open('memory', logWrites, ...schema, `SELECT cloudsync_init('Été')`, `SELECT cloudsync_init('été')`);
      const b = open('memory', logWrites, ...schema, "SELECT cloudsync_init('*')");
      a.exec(`INSERT INTO "Été" VALUES ('1', 'upper'); INSERT INTO "été" VALUES ('1', 'lower')`);
      assert.equal(a.prepare(`SELECT cloudsync_is_enabled('été')`).pluck().get(), 1);
      sendSql(a, b);
      assert.deepEqual(rowsOf(b, 'Été'), [['1', 'upper']]);
      assert.deepEqual(rowsOf(b, 'été'), [['1', 'lower']]);
    });

    test('a TEMP table of the same name does not hide the synced table', () => {
      const schema = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v TEXT)';
      const a = open('memory', logWrites, schema, "SELECT cloudsync_init('t')");
      const b = open('file', logWrites, schema, "SELECT cloudsync_init('t')");
      for (const db of [a, b]) db.exec("CREATE TEMP TABLE t (id TEXT, v TEXT); INSERT INTO temp.t VALUES ('scratch', 'x')");
      a.exec("INSERT INTO main.t VALUES ('k', 'synced')");
      assert.equal(sendSql(a, b), 1);
      assert.deepEqual(b.prepare('SELECT id, v FROM main.t').raw(true).all(), [['k', 'synced']]);
      assert.deepEqual(b.prepare('SELECT id FROM temp.t').pluck().all(), ['scratch']);
      b.close();
    });

    test('a row a user trigger writes during a merge is tracked once edited locally', () => {
      const schema = [
        'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, qty INTEGER)',
        'CREATE TABLE audit (id TEXT PRIMARY KEY NOT NULL, what TEXT)',
        "CREATE TRIGGER audit_items AFTER UPDATE ON items BEGIN INSERT OR IGNORE INTO audit VALUES ('last', 'qty ' || NEW.qty); END",
      ];
      const a = open('memory', logWrites, ...schema, "SELECT cloudsync_init('*')");
      const b = open('memory', logWrites, ...schema, "SELECT cloudsync_init('*')");
      a.exec("INSERT INTO items VALUES ('x', 1)");
      sendSql(a, b);
      a.exec("UPDATE items SET qty = 2 WHERE id = 'x'");
      // only the items: b's trigger writes its own audit row while merging, untracked
      const payload = a.prepare("SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes WHERE tbl = 'items'").pluck().get();
      b.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
      assert.deepEqual(rowsOf(b, 'audit'), [['last', 'qty 2']]);
      b.exec("UPDATE audit SET what = 'edited on b' WHERE id = 'last'");
      assert.deepEqual(b.prepare("SELECT col_value FROM cloudsync_changes WHERE tbl = 'audit' AND col_name = 'what'").pluck().all(), ['edited on b']);
      // a wrote its own 'last' row at the same version: the two converge (by value order here)
      sendSql(b, a);
      sendSql(a, b);
      assert.deepEqual(rowsOf(a, 'audit'), rowsOf(b, 'audit'));
      assert.deepEqual(rowsOf(a, 'items'), [['x', 2n]]);
    });
  });
}

test('a user trigger that writes a logged table with OR REPLACE during a merge works; with log triggers made before the merge mark, the merge fails whole and says what to change', () => {
  const schema = [
    'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, qty INTEGER)',
    "CREATE TABLE stats (id TEXT PRIMARY KEY NOT NULL, n INTEGER); INSERT INTO stats VALUES ('n', 0)",
    "CREATE TRIGGER count_items AFTER INSERT ON items BEGIN INSERT OR REPLACE INTO stats VALUES ('n', NEW.qty); END",
  ];
  const a = open('memory', true, ...schema, "SELECT cloudsync_init('*')");
  const b = open('memory', true, ...schema, "SELECT cloudsync_init('*')");
  const c = open('memory', true, ...schema, "SELECT cloudsync_init('*')");
  a.exec("INSERT INTO items VALUES ('x', 1)");
  // today's log triggers leave a merge's writes alone before their body runs
  sendSql(a, b);
  assert.deepEqual(rowsOf(b, 'items'), [['x', 1n]]);
  assert.deepEqual(rowsOf(b, 'stats'), [['n', 1n]]);
  assert.deepEqual(b.prepare("SELECT pk1 FROM stats_cloudsync_log").all(), [], "the trigger's write during the merge is not logged");
  // triggers made before the mark reach their body, where the user's OR REPLACE overrides the engine's OR IGNORE
  for (const { name, sql } of c.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'cloudsync_after_%'").all() as { name: string; sql: string }[]) {
    const old = sql.replace(' WHEN NOT EXISTS (SELECT 1 FROM cloudsync_merging) AND ', ' WHEN ').replace(' WHEN NOT EXISTS (SELECT 1 FROM cloudsync_merging)', '');
    assert.notEqual(old, sql);
    c.exec(`DROP TRIGGER "${name}"; ${old}`);
  }
  assert.throws(() => sendSql(a, c), /write it with a plain INSERT, or INSERT … ON CONFLICT DO UPDATE/);
  assert.deepEqual(rowsOf(c, 'items'), []);
  c.exec("DROP TRIGGER count_items; CREATE TRIGGER count_items AFTER INSERT ON items BEGIN INSERT INTO stats VALUES ('n', NEW.qty) ON CONFLICT DO UPDATE SET n = excluded.n; END");
  sendSql(a, c);
  assert.deepEqual(rowsOf(c, 'items'), [['x', 1n]]);
  assert.deepEqual(rowsOf(c, 'stats'), [['n', 1n]]);
});
