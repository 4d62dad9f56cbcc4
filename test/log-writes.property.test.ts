// Property: logging local writes and folding them later gives exactly the clocks that writing the
// meta rows at once gives. The same random writes (inserts, replaces, updates of one or several
// columns, deletes, key changes, key-only rows, writes while disabled, several writes in one
// transaction) run on a database with log-structured writes and on one with direct writes; reads
// of the changes in between fold the log part way. At the end every change must match, seq numbers
// compared by their order within their db_version (the log reserves seqs, which leaves gaps).
//
// Replay a failure with SEED=<seed> (and PATH_FC=<path> from fast-check's report) in the environment.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { load } from '../src/index.js';
import { rowsOf } from './support/databases.js';

const KEYS = ['k1', 'k2', 'k3'];
const VALUES: unknown[] = [null, 0, 1, 2.5, 'a', 'zz', Buffer.from([1])];
const SCHEMA = [
  "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done NOT NULL DEFAULT 0, note)",
  'CREATE TABLE tags (item TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (item, tag))',
];

type Op =
  | { kind: 'insert'; key: string; title: number; note: number; replace: boolean }
  | { kind: 'update'; key: string; title: number | null; note: number | null }
  | { kind: 'delete'; key: string }
  | { kind: 'move'; key: string; to: string; note: number | null }
  | { kind: 'tag'; key: string; tag: string; remove: boolean }
  | { kind: 'enabled'; on: boolean }
  | { kind: 'read' }
  | { kind: 'transaction'; ops: Op[] };

const key = fc.constantFrom(...KEYS);
const value = fc.integer({ min: 0, max: VALUES.length - 1 });
const write: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), key, title: value, note: value, replace: fc.boolean() }),
  fc.record({ kind: fc.constant('update' as const), key, title: fc.option(value, { nil: null }), note: fc.option(value, { nil: null }) }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('move' as const), key, to: key, note: fc.option(value, { nil: null }) }),
  fc.record({ kind: fc.constant('tag' as const), key, tag: fc.constantFrom('red', 'blue'), remove: fc.boolean() }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: write },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('enabled' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('transaction' as const), ops: fc.array(write, { minLength: 1, maxLength: 5 }) }) },
);

function open(logWrites: boolean) {
  const db = new Database(':memory:');
  const sync = load(db, { logWrites });
  for (const sql of SCHEMA) db.exec(sql);
  sync.init('*');
  return { db, sync };
}

function run(db: Database.Database, o: Op): void {
  const text = (i: number) => String(VALUES[i]);
  switch (o.kind) {
    case 'insert':
      db.prepare(`INSERT OR ${o.replace ? 'REPLACE' : 'IGNORE'} INTO todo (id, title, note) VALUES (?, ?, ?)`).run(o.key, text(o.title), VALUES[o.note]);
      break;
    case 'update': {
      const sets = [...(o.title === null ? [] : ['title = ?']), ...(o.note === null ? [] : ['note = ?']), 'done = done + 1'];
      const params = [...(o.title === null ? [] : [text(o.title)]), ...(o.note === null ? [] : [VALUES[o.note]])];
      db.prepare(`UPDATE todo SET ${sets.join(', ')} WHERE id = ?`).run(...params, o.key);
      break;
    }
    case 'delete':
      db.prepare('DELETE FROM todo WHERE id = ?').run(o.key);
      break;
    case 'move':
      db.prepare(`UPDATE OR IGNORE todo SET id = ?${o.note === null ? '' : ', note = ?'} WHERE id = ?`).run(o.to, ...(o.note === null ? [] : [VALUES[o.note]]), o.key);
      break;
    case 'tag':
      if (o.remove) db.prepare('DELETE FROM tags WHERE item = ? AND tag = ?').run(o.key, o.tag);
      else db.prepare('INSERT OR IGNORE INTO tags VALUES (?, ?)').run(o.key, o.tag);
      break;
    case 'enabled':
      db.prepare(`SELECT cloudsync_${o.on ? 'enable' : 'disable'}('todo')`).get();
      break;
    case 'read':
      db.prepare('SELECT count(*) FROM cloudsync_changes').get(); // folds the log, if any
      break;
    case 'transaction':
      db.transaction(() => {
        for (const inner of o.ops) run(db, inner);
      })();
      break;
  }
}

/** Every change, its seq replaced by its rank among the changes of its db_version. */
function changesOf(db: Database.Database): unknown[] {
  const rows = db.prepare('SELECT tbl, pk, col_name, col_value, col_version, db_version, cl, seq FROM cloudsync_changes ORDER BY db_version, seq').raw(true).all() as unknown[][];
  let version: unknown = null;
  let rank = 0;
  return rows.map((row) => {
    if (row[5] !== version) {
      version = row[5];
      rank = 0;
    }
    return [...row.slice(0, 7), rank++];
  });
}

test('folding logged writes gives the clocks of direct writes', (t) => {
  const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Date.now() % 2 ** 31;
  const path = process.env.PATH_FC;
  t.diagnostic(`seed ${seed} (replay with SEED=${seed})`);
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
      const logged = open(true);
      const direct = open(false);
      for (const o of ops) {
        run(logged.db, o);
        run(direct.db, o);
      }
      assert.deepEqual(changesOf(logged.db), changesOf(direct.db));
      for (const table of ['todo', 'tags']) assert.deepEqual(rowsOf(logged.db, table), rowsOf(direct.db, table));
      assert.equal(logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get(), 0, 'reading the changes empties the log');
      assert.equal(logged.db.prepare('SELECT cloudsync_db_version()').pluck().get(), direct.db.prepare('SELECT cloudsync_db_version()').pluck().get());
      logged.db.close();
      direct.db.close();
    }),
    { seed, numRuns: Number(process.env.RUNS ?? 200), ...(path ? { path } : {}) },
  );
});

test('a database with logged writes syncs with one that writes at once, and its log stays bounded without syncing', () => {
  const db = new Database(':memory:');
  const logged = load(db, { logWrites: true, logSoftLimit: 100 });
  for (const sql of SCHEMA) db.exec(sql);
  logged.init('*');
  const direct = open(false);
  const logSize = () => db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get() as number;
  const insert = db.prepare('INSERT INTO todo (id, title) VALUES (?, ?)');
  for (let i = 0; i < 90; i++) insert.run(`r${i}`, `title ${i}`);
  assert.equal(logSize(), 90, 'below the soft limit the writes stay in the log');
  for (let i = 90; i < 101; i++) insert.run(`r${i}`, `title ${i}`);
  assert.ok(logSize() <= 51, `past the soft limit the older half is folded (log holds ${logSize()})`);
  db.prepare("UPDATE todo SET done = 1 WHERE id = 'r3'").run();
  direct.db.prepare("INSERT INTO todo (id, title) VALUES ('d1', 'from direct')").run();
  direct.sync.applyPayload(logged.encodePayload() as Uint8Array);
  logged.applyPayload(direct.sync.encodePayload() as Uint8Array);
  assert.equal(logSize(), 0);
  assert.deepEqual(rowsOf(db, 'todo'), rowsOf(direct.db, 'todo'));
  assert.equal((rowsOf(direct.db, 'todo') as unknown[][]).length, 102);
  db.close();
  direct.db.close();
});

test('logged writes across ALTER TABLE (past 30 columns, a second mask) and on a grow-only table', () => {
  const columns = Array.from({ length: 30 }, (_, i) => `c${i} INTEGER`).join(', ');
  const dbs = [true, false].map((logWrites) => {
    const db = new Database(':memory:');
    const sync = load(db, { logWrites });
    db.exec(`CREATE TABLE wide (id TEXT PRIMARY KEY NOT NULL, ${columns}); CREATE TABLE events (id TEXT PRIMARY KEY NOT NULL, what TEXT)`);
    sync.init('wide');
    sync.init('events', { algo: 'gos' });
    db.exec("INSERT INTO wide (id, c0) VALUES ('w1', 1); UPDATE wide SET c29 = 2 WHERE id = 'w1'; INSERT INTO events VALUES ('e1', 'x')");
    assert.throws(() => db.exec("UPDATE events SET what = 'y'"), /UPDATE operation is not allowed/);
    sync.beginAlter('wide');
    db.exec('ALTER TABLE wide ADD COLUMN c30 INTEGER');
    sync.commitAlter('wide');
    db.exec("UPDATE wide SET c30 = 3, c1 = 4 WHERE id = 'w1'; INSERT INTO wide (id, c30) VALUES ('w2', 5); DELETE FROM wide WHERE id = 'w1'; INSERT INTO events VALUES ('e2', 'z')");
    return db;
  });
  const [logged, direct] = dbs as [Database.Database, Database.Database];
  assert.deepEqual(changesOf(logged), changesOf(direct));
  assert.deepEqual(rowsOf(logged, 'wide'), rowsOf(direct, 'wide'));
  assert.deepEqual(rowsOf(logged, 'events'), rowsOf(direct, 'events'));
  assert.equal(logged.prepare("SELECT count(*) FROM pragma_table_info('wide_cloudsync_log') WHERE name LIKE 'mask%'").pluck().get(), 2);
});

test('a merge appends nothing to the log; writes with conflict clauses and writes while disabled fold to what the direct triggers track', () => {
  const [logged, direct] = [open(true), open(false)];
  const logSize = () => logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get() as number;
  for (const { db } of [logged, direct]) {
    db.exec("INSERT INTO todo (id, title) VALUES ('a', 'x'), ('b', 'y')");
    db.exec("INSERT OR REPLACE INTO todo (id, title) VALUES ('a', 'x2')");
    db.exec("INSERT INTO todo (id, title) VALUES ('b', 'y') ON CONFLICT (id) DO UPDATE SET title = 'y2'");
    db.exec("UPDATE OR ROLLBACK todo SET done = 1 WHERE id = 'b'");
    db.exec("UPDATE OR ABORT todo SET id = 'c' WHERE id = 'a'");
    db.exec("INSERT OR IGNORE INTO todo (id, title) VALUES ('b', 'ignored')");
  }
  assert.ok(logSize() > 0);
  assert.deepEqual(changesOf(logged.db), changesOf(direct.db));
  assert.equal(logSize(), 0, 'reading the changes folded the log');

  // While disabled: inserts and key moves log clock -1 (an untracked meta row for a key without one), the rest nothing
  for (const { db, sync } of [logged, direct]) {
    sync.disable('todo');
    db.exec("INSERT INTO todo (id, title) VALUES ('d', 'quiet'); UPDATE todo SET title = 'q' WHERE id = 'b'; UPDATE OR REPLACE todo SET id = 'e' WHERE id = 'c'; DELETE FROM todo WHERE id = 'd'");
    sync.enable('todo');
    db.exec("UPDATE todo SET note = 'after' WHERE id = 'e'");
  }
  assert.equal(logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log WHERE clock = -1').pluck().get(), 2);
  assert.deepEqual(changesOf(logged.db), changesOf(direct.db));

  // A merge's writes take no clock and leave no log row, whatever the payload holds
  const source = open(false);
  source.db.exec("INSERT INTO todo (id, title) VALUES ('m1', 'merged'), ('e', 'over'); DELETE FROM todo WHERE id = 'b'; INSERT INTO tags VALUES ('m1', 'red')");
  const payload = source.sync.encodePayload() as Uint8Array;
  const merged = logged.sync.applyPayload(payload);
  assert.equal(direct.sync.applyPayload(payload), merged);
  assert.equal(logSize(), 0);
  assert.equal(logged.db.prepare('SELECT count(*) FROM tags_cloudsync_log').pluck().get(), 0);
  assert.deepEqual(rowsOf(logged.db, 'todo'), rowsOf(direct.db, 'todo'));
  assert.deepEqual(changesOf(logged.db), changesOf(direct.db));
  for (const { db } of [logged, direct, source]) db.close();
});

test('a log made before its clock CHECK, with the triggers of that version, keeps logging; enable folds it and makes it again', () => {
  const [logged, direct] = [open(true), open(false)];
  const versions = '(SELECT schema_version FROM pragma_schema_version), (SELECT data_version FROM pragma_data_version)';
  const track = `coalesce(cloudsync_write_ready('todo'), cloudsync_write_first(-1, ${versions}), cloudsync_write_first((SELECT v FROM cloudsync_max_version), ${versions}))`;
  // the log and triggers as the previous version made them
  logged.db.exec(`DROP TRIGGER cloudsync_after_insert_todo; DROP TRIGGER cloudsync_after_update_todo; DROP TRIGGER cloudsync_after_delete_todo;
    DROP TABLE todo_cloudsync_log;
    CREATE TABLE todo_cloudsync_log (pk1 TEXT COLLATE "BINARY" NOT NULL, op INTEGER NOT NULL, clock INTEGER NOT NULL, mask0 INTEGER NOT NULL DEFAULT 0, opk1 TEXT COLLATE "BINARY");
    CREATE TRIGGER cloudsync_after_insert_todo AFTER INSERT ON todo WHEN ${track} >= 1 BEGIN
      INSERT INTO todo_cloudsync_log (pk1, op, clock) VALUES (NEW.id, 1, cloudsync_log_seqs(4)); END;
    CREATE TRIGGER cloudsync_after_update_todo AFTER UPDATE ON todo WHEN NEW.id IS OLD.id AND (NEW.title IS NOT OLD.title OR NEW.note IS NOT OLD.note) AND ${track} = 1 BEGIN
      INSERT INTO todo_cloudsync_log (pk1, op, clock, mask0, opk1) VALUES (NEW.id, 2, cloudsync_log_seqs(3), (NEW.title IS NOT OLD.title) | ((NEW.note IS NOT OLD.note) << 2), NULL); END;`);
  const logSql = () => logged.db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'todo_cloudsync_log'").pluck().get() as string;
  assert.doesNotMatch(logSql(), /CHECK/);
  for (const { db } of [logged, direct]) db.exec("INSERT INTO todo (id, title) VALUES ('a', 'x'), ('b', 'y'); UPDATE todo SET title = 'x2' WHERE id = 'a'");
  assert.equal(logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get(), 3);
  for (const { sync } of [logged, direct]) {
    sync.disable('todo');
    sync.enable('todo');
  }
  assert.match(logSql(), /CHECK \(clock <> -2\)/);
  assert.equal(logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get(), 0, 'folded before it was made again');
  for (const { db } of [logged, direct]) db.exec("UPDATE todo SET note = 'n' WHERE id = 'b'; DELETE FROM todo WHERE id = 'a'; INSERT INTO todo (id) VALUES ('c')");
  assert.deepEqual(changesOf(logged.db), changesOf(direct.db));
  const source = open(false);
  source.db.exec("INSERT INTO todo (id, title) VALUES ('m', 'merged')");
  logged.sync.applyPayload(source.sync.encodePayload() as Uint8Array);
  assert.equal(logged.db.prepare('SELECT count(*) FROM todo_cloudsync_log').pluck().get(), 0, 'a merge logs nothing');
  assert.deepEqual(logged.db.prepare("SELECT title FROM todo WHERE id = 'm'").pluck().all(), ['merged']);
  for (const { db } of [logged, direct, source]) db.close();
});

test('a statement that fails half way inside a transaction leaves neither rows nor log entries behind (statement atomicity without a journal for the log)', () => {
  const [logged, direct] = [true, false].map((logWrites) => {
    const db = new Database(':memory:');
    const sync = load(db, { logWrites });
    db.exec('CREATE TABLE item (id TEXT PRIMARY KEY NOT NULL, rank INTEGER UNIQUE, note TEXT CHECK (note IS NULL OR length(note) < 5))');
    sync.init('item');
    db.exec("INSERT INTO item VALUES ('a', 1, NULL), ('b', 2, NULL), ('c', 3, NULL), ('d', 5, NULL)");
    db.exec('BEGIN');
    // a and b change before c fails (on d's rank, then on the CHECK)
    assert.throws(() => db.exec("UPDATE item SET rank = CASE id WHEN 'c' THEN 5 ELSE rank + 10 END WHERE id <> 'd'"), /UNIQUE/);
    assert.throws(() => db.exec("UPDATE item SET note = CASE id WHEN 'c' THEN 'too long' ELSE 'ok' END"), /CHECK/);
    db.exec("UPDATE item SET note = 'x' WHERE id = 'd'");
    db.exec('COMMIT');
    return db;
  }) as [Database.Database, Database.Database];
  for (const db of [logged, direct]) {
    assert.deepEqual(rowsOf(db, 'item'), [['a', 1n, null], ['b', 2n, null], ['c', 3n, null], ['d', 5n, 'x']]);
  }
  assert.deepEqual(changesOf(logged), changesOf(direct));
  logged.close();
  direct.close();
});

test('logged writes inside an explicit transaction, a rollback, and a second connection that folds the first one\'s log', () => {
  const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-log-'));
  try {
    const file = join(folder, 'shared.db');
    const first = new Database(file);
    first.pragma('journal_mode = WAL');
    const a = load(first);
    first.exec(SCHEMA[0] as string);
    a.init('todo');
    const changes = (db: Database.Database) => db.prepare("SELECT count(*) FROM cloudsync_changes WHERE tbl = 'todo'").pluck().get();
    first.transaction(() => {
      first.prepare("INSERT INTO todo (id, title) VALUES ('t1', 'in a transaction')").run();
      assert.equal(changes(first), 3, 'a read inside the transaction sees its own logged writes');
      first.prepare("UPDATE todo SET done = 1 WHERE id = 't1'").run();
    })();
    assert.throws(() =>
      first.transaction(() => {
        first.prepare("INSERT INTO todo (id, title) VALUES ('t2', 'rolled back')").run();
        assert.equal(changes(first), 6);
        throw new Error('roll back');
      })(),
    );
    assert.equal(changes(first), 3, 'a rolled-back fold leaves nothing behind');
    first.prepare("INSERT INTO todo (id, title) VALUES ('t3', 'pending')").run();
    const second = new Database(file);
    const b = load(second);
    assert.equal(changes(second), 6, "the second connection folds the first one's log before reading");
    assert.deepEqual(b.changes(), a.changes());
    first.close();
    second.close();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a NOCASE key re-inserted in another case is the same row in a fold with key changes', () => {
  const schema = 'CREATE TABLE tags (name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, color TEXT)';
  const dbs = [true, false].map((logWrites) => {
    const db = new Database(':memory:');
    const sync = load(db, { logWrites });
    db.exec(schema);
    sync.init('tags');
    db.exec("INSERT INTO tags VALUES ('Red', 'r'); DELETE FROM tags WHERE name = 'red'; INSERT INTO tags VALUES ('RED', 'R'); INSERT INTO tags VALUES ('blue', 'b'); UPDATE tags SET name = 'navy' WHERE name = 'BLUE'");
    return db;
  });
  const [logged, direct] = dbs as [Database.Database, Database.Database];
  assert.deepEqual(changesOf(logged), changesOf(direct));
  assert.equal(logged.prepare("SELECT cl FROM cloudsync_changes WHERE col_name = '__[RIP]__' AND cloudsync_pk_decode(pk, 1) = 'Red'").pluck().get(), 3, 'delete and re-insert count in the causal length');
});
