// The browser bench's worker (bundled by bench/browser.bench.ts): in one worker, on the OPFS
// SAH-pool VFS, plain sqlite-wasm and sqlite-sync run the engine bench's workload, then a fresh
// replica applies the payload, then an empty database makes its first sync from the server.

import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { createSqliteWasmConnection, type WasmSqlite3 } from '../../src/drivers/sqlite-wasm.js';
import { coalesceOpfsWrites, setOpfsCoalescing } from '../../src/browser/coalesced-writes.js';
import { loadWasm as load, type OoDatabase, type WasmLoadOptions } from '../../src/load-wasm.js';

interface Pool {
  OpfsSAHPoolDb: new (name: string) => OoDatabase;
  wipeFiles(): Promise<void>;
}
interface Sqlite3 extends WasmSqlite3 {
  oo1: { DB: new (name: string) => OoDatabase };
  installOpfsSAHPoolVfs(options: { name: string; initialCapacity: number; clearOnInit: boolean }): Promise<Pool>;
}

const scope = globalThis as unknown as { postMessage(m: unknown): void; onmessage: ((e: { data: { rows: number; runs: number; server: string; key: string; serverRows: number; pageSize: number; coalesce: boolean } }) => void) | null };
// time spent in OPFS calls (the SAH pool's reads, writes, flushes): the storage part of a measure
const storage = { ms: 0, calls: 0 };
const handles = (globalThis as unknown as { FileSystemSyncAccessHandle?: { prototype: Record<string, (...a: unknown[]) => unknown> } }).FileSystemSyncAccessHandle?.prototype;
for (const name of ['read', 'write', 'flush', 'truncate', 'getSize']) {
  const original = handles?.[name];
  if (!handles || !original) continue;
  handles[name] = function (this: unknown, ...a: unknown[]) {
    const begun = performance.now();
    try {
      return original.apply(this, a);
    } finally {
      storage.ms += performance.now() - begun;
      storage.calls++;
    }
  };
}
const key = (i: number) => `${(i * 2654435761 % 4294967296).toString(16).padStart(8, '0')}-${i.toString(36)}`;

scope.onmessage = ({ data }) => {
  run(data).then(
    (results) => scope.postMessage(results),
    (error: unknown) => scope.postMessage({ error: String((error as Error)?.stack ?? error) }),
  );
};

async function run(data: { rows: number; runs: number; server: string; key: string; serverRows: number; pageSize: number; coalesce: boolean }): Promise<Record<string, number[]>> {
  const sqlite3 = (await (sqlite3InitModule as unknown as (o: object) => Promise<Sqlite3>)({ print: () => {}, printErr: () => {} })) as Sqlite3;
  if (data.coalesce) coalesceOpfsWrites();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: 'sqlite-sync-bench', initialCapacity: 40, clearOnInit: true });
  let file = 0;
  // plain sqlite-wasm gets the page size sqlite-sync gives its databases, so that both write alike
  const loadWasm = (sqlite: WasmSqlite3, db: OoDatabase, options: WasmLoadOptions = {}) => load(sqlite, db, { ...options, pageSize: data.pageSize });
  const plainPages = (db: OoDatabase) => {
    db.exec(`PRAGMA page_size = ${data.pageSize}`);
    return db;
  };
  const results: Record<string, number[]> = {};
  const note = (name: string, ms: number) => (results[name] ??= []).push(ms);
  let lastStorage = { ms: 0, calls: 0 };
  const time = (work: () => void) => {
    const started = performance.now();
    const before = { ...storage };
    work();
    lastStorage = { ms: storage.ms - before.ms, calls: storage.calls - before.calls };
    return performance.now() - started;
  };
  const noteStorage = (name: string) => {
    note(`${name} storage`, lastStorage.ms);
    note(`${name} storage calls`, lastStorage.calls);
  };
  const schema = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)';
  for (let run = 0; run < data.runs; run++) {
    // plain as shipped, plain with our write coalescing, and ours (coalescing, as the worker does)
    for (const engine of ['stock', 'plain', 'ours'] as const) {
      setOpfsCoalescing(engine !== 'stock' && data.coalesce);
      const db = new pool.OpfsSAHPoolDb(`/bench-${file++}.db`);
      const sync = engine === 'ours' ? loadWasm(sqlite3, db) : (plainPages(db), null);
      db.exec(schema);
      if (sync) sync.exec("SELECT cloudsync_init('t')");
      const exec = (sql: string) => (sync ? sync.exec(sql) : db.exec(sql));
      // both through the driver's binding (SQLite's raw C exports), so the binding costs the same
      const connection = createSqliteWasmConnection(sqlite3, db);
      const insert = connection.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?)');
      const update = connection.prepare('UPDATE t SET b = ? WHERE id = ?');
      note(`${engine} insert`, time(() => {
        exec('BEGIN');
        for (let i = 0; i < data.rows; i++) insert.run([key(i), `a${i}`, BigInt(i), i * 1.5, 'text']);
        exec('COMMIT');
      }));
      note(`${engine} update`, time(() => {
        exec('BEGIN');
        for (let i = 0; i < data.rows; i++) update.run([BigInt(i + 1), key(i)]);
        exec('COMMIT');
      }));
      // what an app does most: small transactions, each committed (and synced to storage) alone
      note(`${engine} small`, time(() => {
        for (let i = 0; i < 200; i++) {
          exec('BEGIN');
          insert.run([`small-${i}`, `s${i}`, BigInt(i), i * 1.5, 'text']);
          exec('COMMIT');
        }
      }));
      if (sync) {
        let payload: Uint8Array | null = null;
        note('ours encode', time(() => (payload = sync.encodePayload())));
        const changes = sync.changes().length;
        note('changes', changes);
        const replica = new pool.OpfsSAHPoolDb(`/bench-${file++}.db`);
        const target = loadWasm(sqlite3, replica);
        replica.exec(schema);
        target.exec("SELECT cloudsync_init('t')");
        note('ours apply', time(() => target.applyPayload(payload as unknown as Uint8Array)));
        noteStorage('ours apply');
        replica.close();
        // the same apply into a database in memory: what the engine does when storage costs nothing
        const inMemory = new sqlite3.oo1.DB(':memory:');
        const memoryTarget = load(sqlite3, inMemory);
        inMemory.exec(schema);
        memoryTarget.exec("SELECT cloudsync_init('t')");
        note('ours apply in memory', time(() => memoryTarget.applyPayload(payload as unknown as Uint8Array)));
        inMemory.close();
        // the floor of that apply with plain sqlite-wasm: the same rows written with their meta
        // rows (key, clocks text, db_version with its index), prepared statements, one transaction
        const floorDb = plainPages(new pool.OpfsSAHPoolDb(`/bench-${file++}.db`));
        floorDb.exec(`${schema}; CREATE TABLE m (pk1 TEXT PRIMARY KEY NOT NULL, clocks TEXT, db_version INTEGER); CREATE INDEX m_v ON m (db_version)`);
        const floor = createSqliteWasmConnection(sqlite3, floorDb);
        const base = floor.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?)');
        const meta = floor.prepare('INSERT INTO m VALUES (?, ?, ?)');
        note('plain apply floor', time(() => {
          floorDb.exec('BEGIN');
          for (let i = 0; i < data.rows; i++) {
            base.run([key(i), `a${i}`, BigInt(i + 1), i * 1.5, 'text']);
            meta.run([key(i), `1:${i}:0:0,1:${i}:1:0,2:${i}:2:0,1:${i}:3:0,1:${i}:4:0`, BigInt(i + 1)]);
          }
          floorDb.exec('COMMIT');
        }));
        noteStorage('plain apply floor');
        floorDb.close();
      }
      db.close();
    }
    // the first sync of the server's rows into an empty database
    const fresh = new pool.OpfsSAHPoolDb(`/bench-${file++}.db`);
    const device = loadWasm(sqlite3, fresh);
    device.exec("CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, owner TEXT); SELECT cloudsync_init('todos')");
    device.network.init(`${data.server}/app`);
    device.network.setApiKey(data.key);
    // the time spent applying the downloaded payloads, apart from the server's and the network's
    const engine = device.engine;
    const applyPayload = engine.applyPayload.bind(engine);
    let applying = 0;
    let payloads = 0;
    engine.applyPayload = (...args) => {
      const begun = performance.now();
      try {
        return applyPayload(...args);
      } finally {
        applying += performance.now() - begun;
        payloads++;
      }
    };
    const started = performance.now();
    const count = () => Number(device.exec('SELECT count(*) AS n FROM todos')[0]?.n);
    for (let round = 0; round < 20 && count() < data.serverRows; round++) await device.network.sync();
    note('first sync', performance.now() - started);
    note('first sync applying', applying);
    note('first sync payloads', payloads);
    note('first sync rows', Number(device.exec('SELECT count(*) AS n FROM todos')[0]?.n));
    fresh.close();
    await pool.wipeFiles();
  }
  return results;
}
