// The engine on SQLite's WebAssembly build (in memory, in Node): the same engine code as on
// better-sqlite3, so a wasm replica and a better-sqlite3 replica converge, values keep their
// SQLite types both ways, the C extension's payloads apply, and bad input fails the same way.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import Database from 'better-sqlite3';
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { CloudSyncError, load } from '../src/index.js';
import { loadWasm, type OoDatabase, type WasmCloudSync } from '../src/load-wasm.js';
import { createSqliteWasmConnection, type WasmSqlite3 } from '../src/drivers/sqlite-wasm.js';
import { loadVectors } from './vectors.js';

type Sqlite3 = Awaited<ReturnType<typeof sqlite3InitModule>>;
let sqlite3: Sqlite3;
before(async () => {
  // quiet: SQLite's own log of a failing statement would print the errors the tests provoke
  sqlite3 = await (sqlite3InitModule as unknown as (options: object) => Promise<Sqlite3>)({ print: () => {}, printErr: () => {} });
});

const TODO = 'CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT, n INTEGER, r REAL, b BLOB)';

function openWasm(...schema: string[]): { db: OoDatabase; sync: WasmCloudSync } {
  const db = new sqlite3.oo1.DB(':memory:') as unknown as OoDatabase;
  const sync = loadWasm(sqlite3 as unknown as WasmSqlite3, db);
  for (const sql of schema) sync.exec(sql);
  return { db, sync };
}

/** A CloudSyncError's code and message (fails when `work` does not throw one). */
function messageOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof CloudSyncError, `a CloudSyncError, got ${String(error)}`);
    return `${error.code}: ${error.message}`;
  }
  assert.fail('expected an error');
}

const ENCODE = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) AS p FROM cloudsync_changes';

test('a wasm replica and a better-sqlite3 replica converge both ways, through SQL and the typed API', () => {
  const wasm = openWasm(TODO, "SELECT cloudsync_init('todo')");
  const node = new Database(':memory:');
  const nodeSync = load(node);
  node.exec(`${TODO}; SELECT cloudsync_init('todo')`);

  wasm.sync.exec("INSERT INTO todo VALUES ('w1', 'from wasm', 1, 2.0, x'00ff')");
  wasm.sync.transaction(() => {
    wasm.sync.exec('INSERT INTO todo VALUES (?, ?, ?, ?, ?)', ['w2', 'é ü 😀', 9007199254740993n, 0.5, new Uint8Array(0)]);
    wasm.sync.exec("UPDATE todo SET title = 'edited' WHERE id = 'w1'");
  });
  node.exec("INSERT INTO todo VALUES ('n1', 'from node', -5, 2.5, NULL)");

  // wasm → node through SQL on both sides
  const [row] = wasm.sync.exec(ENCODE);
  const payload = row?.p;
  assert.ok(payload instanceof Uint8Array);
  node.prepare('SELECT cloudsync_payload_decode(?)').get(payload);
  // node → wasm through the typed API, and SQL with a bound BLOB
  const back = nodeSync.encodePayload({ site: 'local' }) as Uint8Array;
  assert.equal(wasm.sync.exec('SELECT cloudsync_payload_decode(?) AS n', [back])[0]?.n, nodeSync.changes({ site: 'local' }).length);

  const typed = "SELECT id, title, typeof(n), CAST(n AS TEXT), typeof(r), r, typeof(b), hex(b) FROM todo ORDER BY id";
  const nodeRows = node.prepare(typed).raw().all() as unknown[][];
  const wasmRows = wasm.sync.exec(typed).map((r) => Object.values(r));
  assert.deepEqual(wasmRows, nodeRows);
  assert.deepEqual(nodeRows.find((r) => r[0] === 'w1'), ['w1', 'edited', 'integer', '1', 'real', 2, 'blob', '00FF']);
  assert.deepEqual(nodeRows.find((r) => r[0] === 'w2'), ['w2', 'é ü 😀', 'integer', '9007199254740993', 'real', 0.5, 'blob', '']);
  // the clocks agree too: the same cells at the same versions, from the same sites
  const cells = (changes: ReturnType<typeof nodeSync.changes>) =>
    changes.map((c) => [c.tbl, Buffer.from(c.pk).toString('hex'), c.colName, c.colVersion, c.cl, Buffer.from(c.siteId).toString('hex')].join('|')).sort();
  assert.deepEqual(cells(wasm.sync.changes()), cells(nodeSync.changes()));
  assert.equal(new Set(nodeSync.changes().map((c) => Buffer.from(c.pk).toString('hex'))).size, 3);
  wasm.db.close();
  node.close();
});

test('every payload of the C extension applies on wasm as on better-sqlite3', () => {
  const vectors = loadVectors<{ name: string; schema: string[]; payload: string }[]>('payloads');
  for (const vector of vectors) {
    const wasm = openWasm(...vector.schema);
    const node = new Database(':memory:');
    load(node);
    for (const sql of vector.schema) node.exec(sql);
    const tables = vector.schema.map((sql) => /CREATE TABLE (\w+)/i.exec(sql)?.[1] as string);
    for (const table of tables) {
      wasm.sync.init(table);
      node.prepare(`SELECT cloudsync_init('${table}')`).get();
    }
    const payload = Buffer.from(vector.payload, 'hex');
    assert.equal(wasm.sync.applyPayload(payload), node.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload), vector.name);
    for (const table of tables) {
      const sql = `SELECT * FROM ${table} ORDER BY 1`;
      const rows = wasm.sync.exec(sql).map((r) => Object.values(r).map((v) => (typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v)));
      assert.deepEqual(
        rows.map((r: unknown[]) => r.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))),
        node.prepare(sql).raw().safeIntegers().all().map((r: unknown) => (r as unknown[]).map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))),
        vector.name,
      );
    }
    wasm.db.close();
    node.close();
  }
});

test('bad input fails on wasm with the same errors as on better-sqlite3, and changes nothing', () => {
  const wasm = openWasm(TODO, "SELECT cloudsync_init('todo')", "INSERT INTO todo (id, title) VALUES ('a', 'x')");
  const node = new Database(':memory:');
  load(node);
  node.exec(`${TODO}; SELECT cloudsync_init('todo')`);
  const truncated = wasm.sync.encodePayload()?.subarray(0, 30) as Uint8Array;
  const before = wasm.sync.changes();
  // through SQL: the original error comes out of the statement, not only its message
  const viaWasm = messageOf(() => wasm.sync.exec('SELECT cloudsync_payload_decode(?)', [truncated]));
  const viaNode = messageOf(() => node.prepare('SELECT cloudsync_payload_decode(?)').get(truncated));
  assert.equal(viaWasm, viaNode);
  assert.match(viaWasm, /^PAYLOAD/);
  assert.equal(messageOf(() => wasm.sync.exec("SELECT cloudsync_init('missing')")), messageOf(() => node.prepare("SELECT cloudsync_init('missing')").get()));
  assert.deepEqual(wasm.sync.exec('SELECT id, title FROM todo').map((r) => ({ ...r })), [{ id: 'a', title: 'x' }]);
  assert.deepEqual(wasm.sync.changes(), before);
  // the blocking network functions refuse on this binding, saying what to use instead
  wasm.sync.exec("SELECT cloudsync_network_init('http://127.0.0.1:9/app')");
  assert.throws(() => wasm.sync.exec('SELECT cloudsync_network_sync()'), (error: Error & { code?: string }) => error.name === 'NetworkError' && error.code === 'CONFIG' && /sync\.network\.sync\(\)/.test(error.message));
  wasm.db.close();
  node.close();
});

test('an ALTER of a synced table is refused outside begin/commit_alter on wasm as on better-sqlite3, and works between them', () => {
  const wasm = openWasm(TODO, "SELECT cloudsync_init('todo')");
  const node = new Database(':memory:');
  load(node);
  node.exec(`${TODO}; SELECT cloudsync_init('todo')`);
  for (const sql of ['ALTER TABLE todo ADD COLUMN c TEXT', 'ALTER TABLE "TODO" RENAME COLUMN title TO name']) {
    const expected = messageOf(() => node.exec(sql));
    assert.match(expected, /the table is synced/);
    assert.equal(messageOf(() => wasm.sync.exec(sql)), expected);
  }
  assert.deepEqual(wasm.sync.exec("SELECT name FROM pragma_table_info('todo')").map((r) => r.name), ['id', 'title', 'n', 'r', 'b'], 'refused before it ran');
  wasm.sync.exec("SELECT cloudsync_begin_alter('todo'); ALTER TABLE todo ADD COLUMN c TEXT; SELECT cloudsync_commit_alter('todo')");
  wasm.sync.exec("INSERT INTO todo (id, c) VALUES ('k', 'new column')");
  assert.ok(wasm.sync.exec("SELECT col_name FROM cloudsync_changes WHERE pk = cloudsync_pk_encode('k')").some((r) => r.col_name === 'c'));
});

test('a rolled back transaction leaves no change, and idle folding runs on wasm too', async () => {
  const wasm = openWasm(TODO, "SELECT cloudsync_init('todo')");
  assert.throws(() =>
    wasm.sync.transaction(() => {
      wasm.sync.exec("INSERT INTO todo (id) VALUES ('gone')");
      throw new Error('the app changed its mind');
    }),
  /changed its mind/);
  wasm.sync.exec("INSERT INTO todo (id, title) VALUES ('kept', 't')");
  const logged = () => wasm.sync.exec('SELECT count(*) AS n FROM todo_cloudsync_log')[0]?.n;
  assert.ok(Number(logged()) > 0);
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(logged(), 0);
  const keys = new Set(wasm.sync.changes().map((c) => Buffer.from(c.pk).toString('hex')));
  assert.deepEqual([...keys], [Buffer.from(wasm.sync.exec("SELECT cloudsync_pk_encode('kept') AS k")[0]?.k as Uint8Array).toString('hex')]);
  wasm.db.close();
});

test('the driver binds and returns text and bytes of any size, from the first call on (its scratch buffer grows)', () => {
  const db = new sqlite3.oo1.DB(':memory:') as unknown as OoDatabase;
  const connection = createSqliteWasmConnection(sqlite3 as unknown as WasmSqlite3, db);
  connection.registerFunction('echo', ([value]) => value ?? null);
  const statement = connection.prepare('SELECT ?1, length(?1), typeof(?1), echo(?1)');
  for (const size of [3, 1000, 5000, 70_000, 10, 300_000]) {
    const text = 'é'.repeat(size);
    assert.deepEqual(statement.get([text]), [text, BigInt(size), 'text', text], `text of ${size}`);
    const bytes = new Uint8Array(size).map((_, i) => i % 251);
    const [back, length, type, echoed] = statement.get([bytes]) as [Uint8Array, bigint, string, Uint8Array];
    assert.deepEqual([Buffer.from(back).equals(Buffer.from(bytes)), length, type, Buffer.from(echoed).equals(Buffer.from(bytes))], [true, BigInt(size), 'blob', true], `blob of ${size}`);
  }
  assert.deepEqual(statement.get([new Uint8Array(0)])?.slice(1, 3), [0n, 'blob'], 'an empty BLOB stays a BLOB');
  assert.deepEqual(statement.get([''])?.slice(1, 3), [0n, 'text']);
  db.close();
});
