// Idle folding: after a commit, the logged writes are folded between event-loop tasks, in steps
// that never wait for a lock, never run inside the caller's transaction, and change nothing a
// reader sees.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { temporaryFolder } from './support/databases.js';

const folder = temporaryFolder();
after(() => folder.remove());
let files = 0;

const ITEMS = 'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, v TEXT, n INTEGER)';

function open(options: { idleFold?: boolean; timeout?: number } = {}) {
  const db = new Database(folder.path(`idle-${files++}.db`), { timeout: options.timeout ?? 5000 });
  db.pragma('journal_mode = WAL');
  const sync = load(db, options.idleFold === undefined ? {} : { idleFold: options.idleFold });
  db.exec(`${ITEMS}; SELECT cloudsync_init('items')`);
  return { db, sync };
}

const logged = (db: Database.Database) => db.prepare('SELECT count(*) FROM items_cloudsync_log').pluck().get() as number;
const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

function write(db: Database.Database, rows: number): void {
  const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
  const update = db.prepare('UPDATE items SET n = ? WHERE id = ?');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`k${i}`, `v${i}`, i);
  })();
  for (let i = 0; i < rows; i += 7) update.run(-i, `k${i}`);
}

test('the log is folded in idle steps after commits, and the changes are those of a fold at read time', async () => {
  const idle = open();
  const later = open({ idleFold: false });
  const rows = 20_000; // more than one idle step of log rows
  write(idle.db, rows);
  write(later.db, rows);
  assert.ok(logged(idle.db) > 8192, 'the writes are logged first');
  await ticks(1);
  const afterOneStep = logged(idle.db);
  assert.ok(afterOneStep > 0 && afterOneStep < logged(later.db), `one step folds part of the log (${afterOneStep} left)`);
  await ticks(10);
  assert.equal(logged(idle.db), 0, 'idle steps fold the whole log');
  assert.ok(logged(later.db) > 0, 'without idleFold the log waits');
  const strip = (changes: ReturnType<typeof idle.sync.changes>) => changes.map(({ siteId: _, ...rest }) => rest);
  assert.deepEqual(strip(idle.sync.changes()), strip(later.sync.changes()));
  assert.equal(logged(later.db), 0, 'the read folded the rest');
  idle.db.close();
  later.db.close();
});

test('an idle step waits for no lock and runs in no transaction of the caller', async () => {
  const a = open({ timeout: 3000 });
  const other = new Database(a.db.name);
  write(a.db, 50);
  const before = logged(a.db);
  assert.ok(before > 0);
  other.exec('BEGIN IMMEDIATE'); // another connection holds the write lock
  const started = performance.now();
  await ticks(3);
  assert.ok(performance.now() - started < 1000, 'the step gave way instead of waiting for the busy timeout');
  assert.equal(logged(a.db), before, 'nothing folded while the lock is taken');
  assert.equal(a.db.pragma('busy_timeout', { simple: true }), 3000, 'the busy timeout is as the user set it');
  other.exec('COMMIT');

  a.db.exec('BEGIN');
  a.db.prepare("INSERT INTO items VALUES ('in-tx', 'v', 0)").run();
  await ticks(3);
  assert.ok(a.db.inTransaction, 'the caller’s transaction is still open');
  assert.ok(logged(a.db) > before, 'no fold inside the caller’s transaction');
  a.db.exec('ROLLBACK');
  a.db.prepare("INSERT INTO items VALUES ('after', 'v', 0)").run(); // the next commit schedules a step again
  await ticks(3);
  assert.equal(logged(a.db), 0);
  const keys = a.sync.changes().filter((c) => c.colName === 'v').map((c) => c.colValue);
  assert.equal(keys.length, 51);
  assert.ok(!keys.includes('in-tx') && keys.includes('v49'), 'every committed row is there, the rolled back one is not');
  other.close();
  a.db.close();
});

test('a connection closed before its idle step leaves the log for the next opening', async () => {
  const a = open();
  write(a.db, 10);
  const name = a.db.name;
  a.db.close();
  await ticks(3); // the scheduled step finds the connection closed and does nothing
  const reopened = new Database(name);
  assert.ok(logged(reopened) > 0);
  const sync = load(reopened);
  assert.equal(sync.changes().filter((c) => c.colName === 'v').length, 10);
  assert.equal(logged(reopened), 0);
  reopened.close();
});
