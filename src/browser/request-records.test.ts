// Exactly-once SQL for other tabs, on sqlite-wasm in memory (the hand-over itself is tested in
// Chromium, test/browser.test.ts).

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { loadWasm, type OoDatabase, type WasmCloudSync } from '../load-wasm.js';
import type { WasmSqlite3 } from '../drivers/sqlite-wasm.js';
import { canRecord, decodeResult, encodeResult, RequestRecords } from './request-records.js';

let sqlite3: WasmSqlite3 & { oo1: { DB: new (name: string) => OoDatabase } };
before(async () => {
  sqlite3 = await (sqlite3InitModule as unknown as (options: object) => Promise<typeof sqlite3>)({ print: () => {}, printErr: () => {} });
});

/** Rows as the page receives them (structured cloning gives plain objects). */
const plain = (rows: unknown) => (rows as object[]).map((row) => ({ ...row }));

function open(): WasmCloudSync {
  const sync = loadWasm(sqlite3, new sqlite3.oo1.DB(':memory:'));
  sync.exec("CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT); SELECT cloudsync_init('todos'); CREATE TABLE runs (n INTEGER); INSERT INTO runs VALUES (0)");
  return sync;
}

test('a write sent twice under one key runs once; the second answer is the first one', () => {
  const sync = open();
  const records = new RequestRecords(sync);
  let ran = 0;
  const work = () => (ran++, sync.exec("INSERT INTO todos VALUES ('a', 'once') RETURNING id, length(title) AS n, x'0102' AS b, 9007199254740993 AS big"));
  const first = records.runOnce('tab-1:7', work);
  const again = records.runOnce('tab-1:7', work);
  assert.equal(ran, 1);
  assert.deepEqual(plain(again), plain(first));
  assert.deepEqual(plain(again), [{ id: 'a', n: 4, b: Uint8Array.from([1, 2]), big: 9007199254740993n }]);
  // another key is another request
  records.runOnce('tab-2:7', () => sync.exec('UPDATE runs SET n = n + 1'));
  assert.deepEqual(plain(sync.exec('SELECT n FROM runs')), [{ n: 1 }]);
  assert.deepEqual(sync.changes().map((c) => c.colValue), ['once'], 'the recorded write is tracked as any write');
});

test('a read records nothing; a failed write records nothing and leaves nothing', () => {
  const sync = open();
  const records = new RequestRecords(sync);
  records.runOnce('t:1', () => sync.exec('SELECT * FROM todos'));
  assert.deepEqual(plain(sync.exec('SELECT count(*) AS n FROM cloudsync_tab_requests')), [{ n: 0 }]);
  assert.throws(() => records.runOnce('t:2', () => (sync.exec('UPDATE runs SET n = 5'), sync.exec('INSERT INTO missing VALUES (1)'))), /no such table/);
  assert.deepEqual(plain(sync.exec('SELECT n FROM runs')), [{ n: 0 }], 'the failed request rolled back whole');
  assert.deepEqual(plain(sync.exec('SELECT count(*) AS n FROM cloudsync_tab_requests')), [{ n: 0 }]);
  // so it may run when sent again
  records.runOnce('t:2', () => sync.exec('UPDATE runs SET n = 5'));
  assert.deepEqual(plain(sync.exec('SELECT n FROM runs')), [{ n: 5 }]);
});

test('a batch runs once inside the record, as a savepoint of its own', () => {
  const sync = open();
  const records = new RequestRecords(sync);
  const batch = () => sync.transaction(() => [sync.exec("INSERT INTO todos VALUES ('b', 'x')"), sync.exec('UPDATE runs SET n = n + 1')]);
  records.runOnce('t:3', batch);
  records.runOnce('t:3', batch);
  assert.deepEqual(plain(sync.exec('SELECT n FROM runs')), [{ n: 1 }]);
});

test('records older than a day go when the records are next opened', () => {
  const sync = open();
  let now = 1_000_000_000_000;
  new RequestRecords(sync, () => now).runOnce('t:old', () => sync.exec('UPDATE runs SET n = n + 1'));
  now += 25 * 60 * 60 * 1000;
  const later = new RequestRecords(sync, () => now);
  later.runOnce('t:new', () => sync.exec('UPDATE runs SET n = n + 1'));
  assert.deepEqual(plain(sync.exec('SELECT key FROM cloudsync_tab_requests')), [{ key: 't:new' }]);
});

test('SQL that controls its own transaction is not recorded; answers keep bigint and bytes', () => {
  assert.equal(canRecord(['INSERT INTO t VALUES (1)', 'UPDATE t SET a = 1']), true);
  for (const sql of ['BEGIN', 'commit', 'END TRANSACTION', 'ROLLBACK', 'SAVEPOINT s', 'RELEASE s']) assert.equal(canRecord([sql]), false, sql);
  const value = [{ a: 1n, b: new Uint8Array([0, 255]), c: 'x', d: null, e: 1.5 }];
  assert.deepEqual(decodeResult(encodeResult(value)), value);
});
