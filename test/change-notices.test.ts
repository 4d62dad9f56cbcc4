// Change notices: a listener hears, once per commit, which synced tables a local write or a
// merge changed; reads, rollbacks, folding and merges that change nothing say nothing.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openSynced, temporaryFolder } from './support/databases.js';

const folder = temporaryFolder();
after(() => folder.remove());

const SCHEMA = [
  'CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT)',
  'CREATE TABLE tags (id TEXT PRIMARY KEY NOT NULL, name TEXT)',
  "SELECT cloudsync_init('todos')",
  "SELECT cloudsync_init('tags')",
];

test('local commits are told once per commit, per table, and reads, rollbacks and folds are not', async () => {
  const { db, sync } = openSynced(folder.path('local.db'), ...SCHEMA);
  const all: string[][] = [];
  const todosOnly: string[][] = [];
  const stopAll = sync.subscribe((tables) => all.push(tables));
  sync.subscribe((tables) => todosOnly.push(tables), ['TODOS']);
  db.prepare("INSERT INTO todos VALUES ('1', 'a')").run();
  assert.deepEqual(all, [['todos']]);
  db.prepare('SELECT * FROM todos').all();
  db.exec("BEGIN; INSERT INTO todos VALUES ('2', 'b'); INSERT INTO tags VALUES ('t', 'x'); UPDATE todos SET title = 'c' WHERE id = '1'");
  assert.equal(all.length, 1, 'nothing before the commit');
  db.exec('COMMIT');
  assert.deepEqual(all, [['todos'], ['todos', 'tags']]);
  db.exec("BEGIN; DELETE FROM todos WHERE id = '2'; ROLLBACK");
  db.prepare("INSERT INTO tags VALUES ('u', 'y')").run();
  assert.deepEqual(all.at(-1), ['tags']);
  assert.deepEqual(todosOnly, [['todos'], ['todos']], 'the filtered listener hears only its table');
  const told = all.length;
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)); // idle folding
  sync.changes(); // and the fold at read time
  db.prepare('SELECT 1').get();
  assert.equal(all.length, told, 'folding the log is not a change');
  db.prepare("DELETE FROM todos WHERE id = '1'").run();
  assert.deepEqual(all.at(-1), ['todos'], 'a delete is a change');
  stopAll();
  db.prepare("INSERT INTO todos VALUES ('3', 'c')").run();
  assert.equal(all.length, told + 1, 'an unsubscribed listener hears nothing');
  db.close();
});

test('merged changes are told after their commit, through SQL and the typed API; a merge that changes nothing is not', () => {
  const a = openSynced(':memory:', ...SCHEMA);
  const b = openSynced(':memory:', ...SCHEMA);
  const heard: string[][] = [];
  b.sync.subscribe((tables) => heard.push(tables));
  a.db.exec("INSERT INTO todos VALUES ('1', 'from a'); INSERT INTO tags VALUES ('t', 'x')");
  const payload = a.sync.encodePayload() as Uint8Array;
  b.db.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
  assert.deepEqual(heard, [['todos', 'tags']]);
  b.sync.applyPayload(payload);
  assert.equal(heard.length, 1, 'the same payload again changes nothing');
  a.db.prepare("UPDATE tags SET name = 'y' WHERE id = 't'").run();
  b.sync.applyPayload(a.sync.encodePayload({ tables: ['tags'] }) as Uint8Array);
  assert.deepEqual(heard.at(-1), ['tags']);
  a.db.close();
  b.db.close();
});

test('a table synced while a listener listens starts quiet, and its first write is told', () => {
  const { db, sync } = openSynced(':memory:', ...SCHEMA);
  const heard: string[][] = [];
  sync.subscribe((tables) => heard.push(tables));
  db.exec("CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT); INSERT INTO notes VALUES ('old', 'before init')");
  db.prepare("SELECT cloudsync_init('notes')").get();
  assert.deepEqual(heard, [], 'init and the rows it adopts are not changes');
  db.prepare("INSERT INTO notes VALUES ('new', 'after init')").run();
  assert.deepEqual(heard, [['notes']]);
  db.close();
});
