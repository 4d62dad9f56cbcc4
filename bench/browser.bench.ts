// Browser benchmark: `npm run bench:browser` (options: --rows N --runs N --server-rows N
// --page-size N --no-coalesce). In headless Chromium (Debian's), in one worker on the OPFS
// SAH-pool VFS: plain sqlite-wasm (as shipped, and with our worker's write coalescing) against
// sqlite-sync on the engine bench's workload (N rows inserted in one transaction, then column b of
// each updated, one UPDATE per row), the encode, the apply into a fresh replica (and into one in
// memory), and the first sync of the server's rows into an empty database through a real server
// on loopback. Also the size of the browser entry and the time from page load to the first query
// on a 10 MB database.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import { load } from '../src/index.js';
import { OPFS_PAGE_SIZE } from '../src/load-wasm.js';
import { createServer } from '../src/server/index.js';
import { openDataDir } from '../src/server/server-data.js';
import { launchChromium, servePage, skipWithoutChromium } from '../test/support/browser.js';
import { median, printTable } from './bench-support.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' }, 'server-rows': { type: 'string', default: '100000' }, 'page-size': { type: 'string', default: String(OPFS_PAGE_SIZE) }, 'no-coalesce': { type: 'boolean', default: false } } });
const PAGE_SIZE = Number(args['page-size']);
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const SERVER_ROWS = Number(args['server-rows']);
if (skipWithoutChromium) {
  console.log(`browser bench skipped: ${skipWithoutChromium}`);
  process.exit(0);
}
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-browser-bench-'));
const TODO = "CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, owner TEXT); SELECT cloudsync_init('todos');";

// the server database with SERVER_ROWS rows, sent by a Node device
const data = openDataDir(join(folder, 'server'));
await data.createDatabase('app', TODO);
const key = (await data.createApiKey('app')).key;
await data.close();
const pages = await servePage(join(folder, 'web'));
const server = await createServer({ dataDir: join(folder, 'server'), port: 0, logger: false, corsOrigins: [pages.origin] });
const seed = new Database(join(folder, 'seed.db'));
seed.pragma('journal_mode = WAL');
const seeder = load(seed);
seed.exec(TODO);
const insert = seed.prepare('INSERT INTO todos (id, title, done) VALUES (?, ?, ?)');
seed.transaction(() => {
  for (let i = 0; i < SERVER_ROWS; i++) insert.run(`todo-${i}`, `a task to do, number ${i}`, i % 2);
})();
seeder.network.init(`${server.url}/app`);
seeder.network.setApiKey(key);
await seeder.network.sync();
seed.close();

// the bench worker, bundled beside the entry
await build({ entryPoints: [join(import.meta.dirname, 'browser', 'bench-worker.ts')], outfile: join(folder, 'web', 'bench-worker.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'warning' });

const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(`${pages.origin}/index.html`);
await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
const results = (await page.evaluate(
  (message) =>
    new Promise<Record<string, number[]>>((resolve, reject) => {
      type PageWorker = { onmessage: (e: { data: unknown }) => void; onerror: (e: { message: string }) => void; postMessage(m: unknown): void };
      const WorkerClass = (globalThis as unknown as { Worker: new (url: string, options: object) => PageWorker }).Worker;
      const worker = new WorkerClass('bench-worker.js', { type: 'module' });
      worker.onmessage = (event) => {
        const answer = event.data as Record<string, number[]> & { error?: string };
        if (answer.error) reject(new Error(answer.error));
        else resolve(answer);
      };
      worker.onerror = (event) => reject(new Error(event.message));
      worker.postMessage(message);
    }),
  { rows: ROWS, runs: RUNS, server: server.url, key, serverRows: SERVER_ROWS, pageSize: PAGE_SIZE, coalesce: !args['no-coalesce'] },
)) as Record<string, number[]>;

// page load to the first query on a 10 MB database (made in the page's OPFS first)
const loadTimes: number[] = [];
await page.evaluate(async () => {
  const scope = globalThis as unknown as { sqliteSync: typeof import('../src/browser/index.js') };
  const db = await scope.sqliteSync.openDatabase({ name: 'ten-mb.db' });
  await db.exec("CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT cloudsync_init('notes')");
  const statements = [];
  for (let i = 0; i < 20000; i++) statements.push({ sql: 'INSERT OR REPLACE INTO notes VALUES (?, ?)', bind: [`n${i}`, 'x'.repeat(400)] });
  await db.transaction(statements);
  await db.close();
});
let size = 0;
for (let r = 0; r < 3; r++) {
  const started = performance.now();
  await page.reload();
  await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  const answer = await page.evaluate(async () => {
    const scope = globalThis as unknown as { sqliteSync: typeof import('../src/browser/index.js') };
    const db = await scope.sqliteSync.openDatabase({ name: 'ten-mb.db' });
    const [row] = await db.exec('SELECT count(*) AS n, (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()) AS bytes FROM notes');
    await db.close();
    return row as { n: number; bytes: number };
  });
  loadTimes.push(performance.now() - started);
  size = answer.bytes;
}
await browser.close();
await server.close();
await pages.close();

const m = (name: string) => median(results[name] ?? []);
const ratio = (name: string) =>
  `${m(`ours ${name}`).toFixed(0)} ms ×${(m(`ours ${name}`) / m(`plain ${name}`)).toFixed(2)} (plain ${m(`plain ${name}`).toFixed(0)} ms); ×${(m(`ours ${name}`) / m(`stock ${name}`)).toFixed(2)} stock (${m(`stock ${name}`).toFixed(0)} ms)`;
const rate = (name: string) => `${m(name).toFixed(0)} ms, ${Math.round(m('changes') / (m(name) / 1000)).toLocaleString('en')} changes/s`;
const storageOf = (name: string) => `${m(`${name} storage`).toFixed(0)} ms in ${m(`${name} storage calls`)} calls`;
const gz = (file: string) => `${(gzipSync(readFileSync(join(folder, 'web', file)), { level: 9 }).length / 1024).toFixed(1)} kB`;
const ours = await build({ entryPoints: [join(import.meta.dirname, '..', 'src', 'browser', 'worker.ts')], bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, external: ['@sqlite.org/sqlite-wasm'] });
const oursGz = `${(gzipSync(ours.outputFiles[0]?.contents ?? new Uint8Array(0), { level: 9 }).length / 1024).toFixed(1)} kB`;
console.log('plain: sqlite-wasm with the write coalescing of our worker (same storage layer); stock: sqlite-wasm as shipped');
printTable(`Chromium (headless), OPFS SAH pool, ${PAGE_SIZE}-byte pages, ${ROWS} rows, median of ${RUNS} runs`, ['measure', 'value'], [
  [`insert ${ROWS} rows, 1 tx`, ratio('insert')],
  [`update b of every row, 1 UPDATE per row, 1 tx`, ratio('update')],
  ['200 one-row inserts, each its own transaction', ratio('small')],
  [`encode ${m('changes')} changes (fold included)`, rate('ours encode')],
  ['apply them to a fresh replica', rate('ours apply')],
  ['  of which in OPFS calls', storageOf('ours apply')],
  ['  floor: plain sqlite-wasm writing those rows and their meta rows', rate('plain apply floor')],
  ['  of which in OPFS calls', storageOf('plain apply floor')],
  ['  the same apply into a database in memory', rate('ours apply in memory')],
  [`first sync of ${m('first sync rows')} rows from the server into an empty database`, `${(m('first sync') / 1000).toFixed(2)} s`],
  [`  of which applying its ${m('first sync payloads')} payloads`, `${(m('first sync applying') / 1000).toFixed(2)} s`],
  ['page entry, min+gzip', gz('index.js')],
  ['worker, min+gzip (sqlite-wasm JS included; sqlite3.wasm is 879 kB apart)', gz('worker.js')],
  ['  of which sqlite-sync (the worker without sqlite-wasm)', oursGz],
  [`page load to first query, ${(size / 1e6).toFixed(1)} MB database`, `${median(loadTimes).toFixed(0)} ms`],
]);
rmSync(folder, { recursive: true, force: true });
