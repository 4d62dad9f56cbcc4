// Live sync benchmark: `npm run bench:live`. The server is `sqlite-sync serve` in a child process.
//
// | variable     | default | meaning                                                               |
// |--------------|---------|-----------------------------------------------------------------------|
// | CLIENTS      | 1000    | live connections while latency is measured (A, B and a crowd)         |
// | SAMPLES      | 200     | writes on A timed to B, alone and then with the crowd                 |
// | INTERVAL     | 250     | ms between two writes                                                 |
// | IDLE         | 5000    | idle live connections for the idle cost                               |
// | IDLE_SECONDS | 30      | how long the idle server is watched                                   |
// | STORE        | sqlite  | sqlite or postgres (PG_URL, or a throwaway durable cluster)           |
// | SERVER_LOG   | (unset) | a file: the latency server logs every request (info) into it          |
//
// Latency: device A (WAL file) inserts a row; the time until that row is in device B's table (B
// hears of its own commit through a change notice), both live, in this process; first alone, then
// with CLIENTS - 2 more live devices (in-memory, in a child process) on the same database, each of
// which receives and applies every write too. Idle cost: a fresh server with IDLE bare live
// connections (a hello, then only pongs): its memory and its CPU over IDLE_SECONDS, heartbeat
// included.

import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { openServerData } from '../src/server/index.js';
import { benchPostgres, cpuMsOf, machineCpuMs, percentile, printTable, rssOf, startServer } from './bench-support.js';

const env = (name: string, fallback: string) => Number(process.env[name] ?? fallback);
const CLIENTS = env('CLIENTS', '1000');
const SAMPLES = env('SAMPLES', '200');
const INTERVAL = env('INTERVAL', '250');
const IDLE = env('IDLE', '5000');
const IDLE_SECONDS = env('IDLE_SECONDS', '30');
const CROWD = join(import.meta.dirname, 'live-crowd.js');
const SCHEMA = "CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, owner TEXT);\nSELECT cloudsync_init('todos');\n";

const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-live-bench-'));
const postgres = benchPostgres();
const onPostgres = process.env.STORE === 'postgres';
const dataDir = onPostgres ? await postgres.location() : join(folder, 'data');
const serveOptions = onPostgres ? ['--store', dataDir] : [];
const data = await openServerData(dataDir);
await data.createDatabase('live', SCHEMA);
const key = (await data.createApiKey('live')).key;
await data.close();

/** A live device on a WAL file, resolved once connected. */
async function liveDevice(url: string, name: string): Promise<{ db: Database.Database; sync: CloudSync }> {
  const db = new Database(join(folder, `${name}.db`));
  db.pragma('journal_mode = WAL');
  const sync = load(db);
  db.exec(SCHEMA);
  sync.network.init(`${url}/live`);
  sync.network.setApiKey(key);
  const connected = new Promise<void>((resolve) => sync.network.on('live', (state) => state === 'connected' && resolve()));
  sync.network.live();
  await connected;
  return { db, sync };
}

/** Forks the crowd process; resolves once its connections are all in. */
async function crowd(mode: 'devices' | 'idle', url: string, count: number): Promise<{ stop(): void }> {
  const child = fork(CROWD, [mode, url, 'live', key, String(count), SCHEMA], { stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (message: { ready?: number; error?: string }) => {
      if (message.ready) resolve();
      if (message.error) reject(new Error(message.error));
    });
    child.once('exit', (code) => reject(new Error(`the crowd exited with ${code}`)));
  });
  return { stop: () => child.kill('SIGKILL') };
}

let written = 0;
/** SAMPLES writes on A, each timed until the row is in B's table. */
async function latencies(a: { db: Database.Database }, b: { db: Database.Database; sync: CloudSync }): Promise<{ sorted: number[]; lost: number }> {
  const arrived = b.db.prepare('SELECT 1 FROM todos WHERE id = ?').pluck();
  const insert = a.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)');
  const out: number[] = [];
  let lost = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const id = `w${++written}`;
    let done: (() => void) | null = null;
    const seen = new Promise<void>((resolve) => (done = resolve));
    const unsubscribe = b.sync.subscribe(() => {
      if (arrived.get(id) !== undefined) done?.();
    }, ['todos']);
    const started = performance.now();
    insert.run(id, `write ${i}`);
    const timedOut = await Promise.race([seen.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) lost++;
    else out.push(performance.now() - started);
    unsubscribe();
    await sleep(INTERVAL);
  }
  return { sorted: out.sort((x, y) => x - y), lost };
}

const ms = (v: number) => `${v.toFixed(1)} ms`;
const row = (label: string, r: { sorted: number[]; lost: number }, extra: string) => [label, ms(percentile(r.sorted, 50)), ms(percentile(r.sorted, 95)), ms(percentile(r.sorted, 99)), ms(r.sorted[r.sorted.length - 1] ?? 0), String(r.lost), extra];

// latency, alone and with the crowd
const server = await startServer(dataDir, [], serveOptions, process.env.SERVER_LOG);
const a = await liveDevice(server.url, 'a');
const b = await liveDevice(server.url, 'b');
await latencies(a, b); // warm-up: JIT, statements, connections
const alone = await latencies(a, b);
const others = await crowd('devices', server.url, CLIENTS - 2);
await sleep(1000);
const cpuBefore = cpuMsOf(server.pid);
const machineBefore = machineCpuMs();
const wall = performance.now();
const crowded = await latencies(a, b);
const seconds = (performance.now() - wall) / 1000;
const serverCpu = (cpuMsOf(server.pid) - cpuBefore) / 10 / seconds;
const machineCpu = (machineCpuMs() - machineBefore) / 10 / seconds;
others.stop();
a.sync.network.stopLive();
b.sync.network.stopLive();
a.db.close();
b.db.close();
await server.stop();
printTable(`live sync, commit on A to the row in B's table, ${SAMPLES} writes ${INTERVAL} ms apart, loopback, server in a child process`, ['connected', 'p50', 'p95', 'p99', 'max', 'lost', 'CPU'], [
  row('2 (A and B)', alone, ''),
  row(`${CLIENTS} (A, B and ${CLIENTS - 2} devices applying every write)`, crowded, `server ${serverCpu.toFixed(0)}% of a core, machine ${machineCpu.toFixed(0)}% of one core (2 cores = 200%)`),
]);

// idle cost
const idleServer = await startServer(dataDir, [], serveOptions);
await sleep(1000);
const rssBefore = rssOf(idleServer.pid);
const idle = await crowd('idle', idleServer.url, IDLE);
await sleep(3000);
const rssAfter = rssOf(idleServer.pid);
const idleCpuBefore = cpuMsOf(idleServer.pid);
await sleep(IDLE_SECONDS * 1000);
const idleCpu = (cpuMsOf(idleServer.pid) - idleCpuBefore) / 10 / IDLE_SECONDS;
const rssEnd = rssOf(idleServer.pid);
idle.stop();
await idleServer.stop();
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
printTable(`idle cost: ${IDLE} idle live connections on one server (heartbeat every 25 s), watched ${IDLE_SECONDS} s`, ['measure', 'value'], [
  ['server memory before', mib(rssBefore)],
  [`server memory with ${IDLE} connections`, `${mib(Math.max(rssAfter, rssEnd))} (${(((Math.max(rssAfter, rssEnd) - rssBefore) / IDLE) / 1024).toFixed(1)} KiB per connection)`],
  ['server CPU while idle', `${idleCpu.toFixed(2)}% of a core`],
]);
rmSync(folder, { recursive: true, force: true });
postgres.stop();
process.exit(0);
