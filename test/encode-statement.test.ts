// The brief's encode statement, answered by the engine's typed encoder (src/sql/encode-statement.ts):
// the same bytes as the cloudsync_changes view and the aggregate give, for every filter it takes,
// and a statement that behaves as better-sqlite3's own.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { openSynced, sendSql, temporaryFolder } from './support/databases.js';

const COLUMNS = 'tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq';
const ENCODE = `SELECT cloudsync_payload_encode(${COLUMNS}) FROM cloudsync_changes`;
const SCHEMA = [
  "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '', qty INTEGER, price REAL, photo BLOB)",
  'CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, v TEXT, PRIMARY KEY (a, b))',
];
const folder = temporaryFolder();
after(() => folder.remove());

/** Two devices that wrote, deleted and merged each other's changes: rows of several sites and causal lengths. */
function devices(file: string) {
  const a = openSynced(file, ...SCHEMA);
  const b = openSynced(':memory:', ...SCHEMA);
  for (const { db } of [a, b]) {
    db.prepare("SELECT cloudsync_init('items')").get();
    db.prepare("SELECT cloudsync_init('pairs')").get();
  }
  const insert = a.db.prepare('INSERT INTO items (id, name, qty, price, photo) VALUES (?, ?, ?, ?, ?)');
  a.db.transaction(() => {
    for (let i = 0; i < 300; i++) insert.run(`item-${i}`, `name ${i}`, i, i / 4, i % 7 === 0 ? Buffer.from([i % 256, 1, 2]) : null);
  })();
  for (let i = 0; i < 40; i++) b.db.prepare('INSERT INTO pairs (a, b, v) VALUES (?, ?, ?)').run(`k${i % 5}`, i, `v${i}`);
  b.db.prepare("UPDATE items SET name = 'b wrote this' WHERE id = ?").run('item-3');
  sendSql(b.db, a.db);
  a.db.prepare('UPDATE items SET qty = qty + 1 WHERE id < ?').run('item-2');
  a.db.prepare('DELETE FROM items WHERE id = ?').run('item-10');
  a.db.prepare("INSERT INTO items (id, name) VALUES ('item-10', 'back')").run();
  a.db.prepare("UPDATE pairs SET v = 'a wrote this' WHERE b = 3").run();
  b.db.close();
  return a;
}

describe('the encode statement', () => {
  test('gives the bytes of the view and the aggregate for every filter and bound value, on a WAL file', () => {
    const { db, sync } = devices(folder.path('a.db'));
    // the first statement right after the writes also folds the logged ones
    const whole = db.prepare(ENCODE).pluck().get() as Buffer;
    assert.ok(whole.length > 0);
    // "AND 1" keeps the same rows, and a shape the engine leaves to the view
    assert.deepEqual(whole, db.prepare(`${ENCODE} WHERE 1`).pluck().get());
    assert.deepEqual(whole, Buffer.from(sync.encodePayload() as Uint8Array));
    const max = Number(db.prepare('SELECT max(db_version) FROM cloudsync_changes').pluck().get());
    const values: unknown[] = [0, 1, 2, max - 1, max, max + 1, 2.5, -1, -7.5, 3n, '2', 'abc', null, Buffer.from([1]), 1e300];
    for (const site of ['', 'site_id = cloudsync_siteid() AND ', 'site_id != cloudsync_siteid() AND ']) {
      assert.deepEqual(db.prepare(`${ENCODE}${site === '' ? '' : ` WHERE ${site.slice(0, -5)}`}`).pluck().get(), db.prepare(`${ENCODE} WHERE ${site}1`).pluck().get(), site);
      for (const op of ['>', '>=']) {
        const answered = db.prepare(`${ENCODE} WHERE ${site}db_version ${op} ?`).pluck();
        const viewed = db.prepare(`${ENCODE} WHERE ${site}db_version ${op} ? AND 1`).pluck();
        for (const value of values) {
          const got = answered.get(value) as Buffer | null;
          assert.deepEqual(got, viewed.get(value), `${site}db_version ${op} ${String(value)}`);
        }
      }
    }
    // nothing since the newest version: NULL, as the aggregate over no rows
    assert.equal(db.prepare(`${ENCODE} WHERE db_version > ?`).pluck().get(max), null);
    db.close();
  });

  test('behaves as a better-sqlite3 statement: result shapes, parameters, bind, errors', () => {
    const { db } = openSynced(':memory:', ...SCHEMA);
    db.prepare("SELECT cloudsync_init('items')").get();
    db.prepare("INSERT INTO items (id, name) VALUES ('x', 'one')").run();
    const sql = `${ENCODE} WHERE db_version > :since`;
    const statement = db.prepare(sql);
    assert.equal(statement.source, sql);
    assert.equal(statement.reader, true);
    assert.equal(statement.readonly, true);
    const column = `cloudsync_payload_encode(${COLUMNS})`;
    assert.deepEqual(statement.columns(), [{ name: column, column: null, table: null, database: null, type: null }]);
    const row = statement.get({ since: 0 }) as Record<string, Buffer>;
    assert.deepEqual(Object.keys(row), [column]);
    assert.ok(Buffer.isBuffer(row[column]));
    assert.deepEqual(statement.raw(true).get({ since: 0 }), [row[column]]);
    assert.deepEqual(statement.raw(false).pluck().all({ since: 0 }), [row[column]]);
    assert.deepEqual([...statement.iterate({ since: 0 })], [row[column]]);
    assert.deepEqual(db.prepare(`${ENCODE} WHERE db_version > :since`).expand().get({ since: 0 }), { $: { [column]: row[column] } });
    assert.equal(typeof statement.run({ since: 0 }).changes, 'number');
    // the same refusals as the statement SQLite would run, with the same messages
    const view = db.prepare(`${ENCODE} WHERE db_version > :since AND 1`);
    for (const args of [[], [1, 2], [{ other: 1 }]] as unknown[][]) {
      const expected = (() => {
        try {
          view.get(...args);
        } catch (error) {
          return error as Error;
        }
        return null;
      })();
      assert.ok(expected !== null, JSON.stringify(args));
      assert.throws(() => statement.get(...args), { name: expected.name, message: expected.message });
    }
    const bound = db.prepare(`${ENCODE} WHERE db_version > ?`).pluck().bind(1);
    assert.equal(bound.get(), null);
    assert.throws(() => bound.get(0), /already has bound parameters/);
    assert.equal(db.prepare(`${ENCODE} AS payload`).get() !== undefined, true);
    assert.deepEqual(Object.keys(db.prepare(`${ENCODE.replace(') FROM', ') AS "my payload" FROM')}`).get() as object), ['my payload']);
    db.close();
  });

  test("reads the caller's transaction, and another connection's commits", () => {
    const file = folder.path('two.db');
    const a = openSynced(file, SCHEMA[0] as string);
    a.db.prepare("SELECT cloudsync_init('items')").get();
    const encode = a.db.prepare(`${ENCODE} WHERE site_id = cloudsync_siteid()`).pluck();
    assert.equal(encode.get(), null);
    const count = (payload: unknown) => (payload === null ? 0 : decodeCount(payload as Buffer));
    a.db.exec('BEGIN');
    a.db.prepare("INSERT INTO items (id, name) VALUES ('in-tx', 'n')").run();
    assert.equal(count(encode.get()), 4, 'the uncommitted insert is in');
    a.db.exec('ROLLBACK');
    assert.equal(encode.get(), null, 'and gone after the rollback');
    const other = new Database(file);
    load(other);
    other.prepare("INSERT INTO items (id, name) VALUES ('other', 'n')").run();
    assert.equal(count(encode.get()), 4, "the other connection's commit is in");
    other.close();
    a.db.close();
  });
});

/** The number of changes a payload holds (its header's row count). */
function decodeCount(payload: Buffer): number {
  const replica = openSynced(':memory:', SCHEMA[0] as string);
  replica.db.prepare("SELECT cloudsync_init('items')").get();
  const n = Number(replica.db.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload));
  replica.db.close();
  return n;
}
