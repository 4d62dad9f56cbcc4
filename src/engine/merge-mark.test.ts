// A merge's writes skip the tracking triggers before they call JavaScript (the merge mark in
// cloudsync_merging, see meta-schema.ts): counted on the functions the triggers call.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../load.js';

const TRIGGER_FUNCTIONS = new Set(['cloudsync_log_take', 'cloudsync_log_first', 'cloudsync_write_ready', 'cloudsync_write_first']);

/** Makes the trigger functions that `load` registers on `db` count their calls in `calls`. */
function countTriggerCalls(db: Database.Database, calls: { n: number }): void {
  type Registrar = (name: string, options: Record<string, unknown>, fn?: (...args: unknown[]) => unknown) => Database.Database;
  const patched = db as unknown as { function: Registrar; aggregate: Registrar };
  const fn = patched.function.bind(db);
  const aggregate = patched.aggregate.bind(db);
  patched.function = (name, options, body) => fn(name, options, TRIGGER_FUNCTIONS.has(name) && body ? (...args) => (calls.n++, body(...args)) : body);
  patched.aggregate = (name, options) => {
    const step = options.step as (...args: unknown[]) => unknown;
    return aggregate(name, TRIGGER_FUNCTIONS.has(name) ? { ...options, step: (...args: unknown[]) => (calls.n++, step(...args)) } : options);
  };
}

for (const logWrites of [true, false]) {
  test(`merged rows call no trigger function (${logWrites ? 'logged' : 'direct'} writes); local writes still do`, () => {
    const schema = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER)';
    const sourceDb = new Database(':memory:');
    const source = load(sourceDb, { logWrites });
    sourceDb.exec(schema);
    source.init('t');
    const insert = sourceDb.prepare('INSERT INTO t VALUES (?, ?, ?)');
    sourceDb.transaction(() => {
      for (let i = 0; i < 100; i++) insert.run(`k${i}`, `a${i}`, i);
    })();
    sourceDb.exec("UPDATE t SET b = b + 1 WHERE id < 'k5'; DELETE FROM t WHERE id = 'k7'");

    const calls = { n: 0 };
    const db = new Database(':memory:');
    countTriggerCalls(db, calls);
    const target = load(db, { logWrites });
    db.exec(schema);
    target.init('t');
    db.exec("INSERT INTO t VALUES ('k1', 'mine', 0)");
    assert.ok(calls.n > 0, 'a local write calls the trigger functions');
    calls.n = 0;
    target.applyPayload(source.encodePayload() as Uint8Array);
    // a second payload updates and deletes rows the target has
    sourceDb.exec("UPDATE t SET a = 'again' WHERE id < 'k3'; DELETE FROM t WHERE id = 'k9'");
    target.applyPayload(source.encodePayload() as Uint8Array);
    assert.equal(calls.n, 0, 'the merges called trigger functions');
    assert.equal((db.prepare('SELECT count(*) AS n FROM cloudsync_merging').get() as { n: number }).n, 0, 'the mark is gone after the merge');
    // merged as before: both sides hold the same rows, and k1 is the source's (its clock is newer)
    assert.deepEqual(db.prepare('SELECT * FROM t ORDER BY id').all(), sourceDb.prepare('SELECT * FROM t ORDER BY id').all());
    db.exec("INSERT INTO t VALUES ('k200', 'local again', 1)");
    assert.ok(calls.n > 0, 'local writes are tracked after the merge');
    assert.ok(target.changes().some((c) => c.colValue === 'local again'));
  });
}
