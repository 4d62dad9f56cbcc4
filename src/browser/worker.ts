// The worker that owns a page's database: SQLite's WebAssembly build on the origin private file
// system (the SAH-pool VFS, which needs no COOP/COEP headers), sqlite-sync loaded on it, and a
// request loop for the page (see messages.ts). Bundle it as an ES module worker.

import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { loadWasm, OPFS_PAGE_SIZE, type OoDatabase, type WasmCloudSync } from '../load-wasm.js';
import type { WasmSqlite3 } from '../drivers/sqlite-wasm.js';
import { createXhrTransport } from '../client/xhr-transport.js';
import { coalesceOpfsWrites, writePending } from './coalesced-writes.js';
import { canRecord, RequestRecords, sqlOf } from './request-records.js';
import { failureOf, type OpenOptions, type WorkerEvent, type WorkerRequest, type WorkerResponse } from './messages.js';

interface Sqlite3Module extends WasmSqlite3 {
  oo1: { DB: new (name: string) => OoDatabase };
  installOpfsSAHPoolVfs(options: { name?: string }): Promise<{ OpfsSAHPoolDb: new (name: string) => OoDatabase }>;
}

const scope = globalThis as unknown as { postMessage(message: unknown): void; onmessage: ((event: { data: WorkerRequest }) => void) | null };
const post = (message: WorkerResponse | WorkerEvent) => scope.postMessage(message);

let sync: WasmCloudSync | null = null;
let db: OoDatabase | null = null;
let records: RequestRecords | null = null;

async function open(options: OpenOptions): Promise<void> {
  if (sync) throw new Error('the database is already open');
  const sqlite3 = (await (sqlite3InitModule as unknown as (o: object) => Promise<Sqlite3Module>)({ print: () => {}, printErr: () => {} })) as Sqlite3Module;
  const name = `/${options.name ?? 'app.db'}`;
  const opfs = (options.storage ?? 'opfs') === 'opfs';
  if (opfs) {
    // a commit's pages in one call into OPFS instead of one each (see coalesced-writes.ts)
    coalesceOpfsWrites();
    const pool = await sqlite3.installOpfsSAHPoolVfs({ name: 'sqlite-sync' });
    db = new pool.OpfsSAHPoolDb(name);
  } else {
    db = new sqlite3.oo1.DB(':memory:');
  }
  // the cloudsync_network_* SQL functions block on a synchronous XMLHttpRequest, which a worker may make
  const blockingTransport = createXhrTransport() ?? undefined;
  const network = { ...(blockingTransport ? { blockingTransport } : {}), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) };
  sync = loadWasm(sqlite3, db, { network, ...(opfs ? { pageSize: OPFS_PAGE_SIZE } : {}) });
  records = new RequestRecords(sync);
  // the engine's change notices, the same as in Node: after each commit, local or merged
  sync.subscribe((tables) => post({ event: 'changed', tables }));
  const client = sync.network;
  client.on('status', (status, error) => post({ event: 'status', status, error: error ? failureOf(error) : null }));
  client.on('progress', (progress) => post({ event: 'progress', progress }));
  client.on('live', (state, error) => post({ event: 'live', state, error: error ? failureOf(error) : null }));
}

function opened(): WasmCloudSync {
  if (!sync) throw new Error('the database is not open');
  return sync;
}

type Method = (...args: never[]) => unknown;
const methods: Record<string, Method> = {
  open: (options: OpenOptions) => open(options),
  exec: (sql: string, bind?: unknown[]) => opened().exec(sql, bind as never),
  batch: (statements: { sql: string; bind?: unknown[] }[]) => opened().transaction(() => statements.map((s) => opened().exec(s.sql, s.bind as never))),
  init: (table: string, algo?: string) => opened().init(table, algo === undefined ? {} : { algo }),
  siteId: () => opened().siteId(),
  dbVersion: () => opened().dbVersion(),
  changes: (filter?: object) => opened().changes(filter),
  encodePayload: (filter?: object) => opened().encodePayload(filter),
  applyPayload: (payload: Uint8Array) => opened().applyPayload(payload),
  'network.init': (url: string) => opened().network.init(url),
  'network.setApiKey': (key: string) => opened().network.setApiKey(key),
  'network.setToken': (token: string) => opened().network.setToken(token),
  'network.sync': (options?: object) => opened().network.sync(options),
  'network.sendChanges': () => opened().network.sendChanges(),
  'network.checkChanges': () => opened().network.checkChanges(),
  'network.hasUnsentChanges': () => opened().network.hasUnsentChanges(),
  'network.startAutoSync': (options?: object) => opened().network.startAutoSync(options),
  'network.stopAutoSync': () => opened().network.stopAutoSync(),
  'network.live': (options?: object) => void opened().network.live(options),
  'network.stopLive': () => opened().network.stopLive(),
  close: () => {
    sync?.network.stopAutoSync();
    sync?.network.stopLive();
    db?.close();
    sync = null;
    db = null;
    records = null;
  },
};

// Requests start as they come (a write does not wait for a sync in flight: the network client
// awaits its requests, and the engine's own calls are synchronous); all of them after the open.
let ready: Promise<unknown> = Promise.resolve();
scope.onmessage = (event) => {
  const { id, method, args, once } = event.data;
  const run = async () => {
    const fn = methods[method];
    if (!fn) throw new Error(`unknown method ${method}`);
    const call = () => fn(...(args as never[]));
    // another tab's SQL: once, should its answer be lost with this tab and the SQL be sent again
    const sql = sqlOf(event.data);
    if (once !== undefined && records && sql && canRecord(sql)) return records.runOnce(once, call);
    return call();
  };
  const done = method === 'open' ? run() : ready.then(run);
  if (method === 'open') ready = done.catch(() => undefined);
  done
    .then((result) => {
      // nothing an answer reports stays only in memory (see coalesced-writes.ts)
      writePending();
      return result;
    })
    .then(
      (result) => post({ id, result: result === undefined ? null : result }),
      (error: unknown) => {
        try {
          writePending();
        } catch {
          // the request's own error is the one to report (the file's next flush fails too)
        }
        post({ id, error: failureOf(error) });
      },
    );
};
