// Network benchmark: the sync server (`sqlite-sync serve`, compiled, in a child process) measured
// end to end and under many clients. `npm run bench:network`; settings from the environment:
//
// | variable           | default                        | meaning                                              |
// |--------------------|--------------------------------|------------------------------------------------------|
// | PART               | both                           | e2e, clients or both                                 |
// | STORE              | sqlite                         | sqlite, postgres or both (postgres: PG_URL, or a throwaway durable cluster) |
// | ROWS, RUNS, DATA   | 100000, 3, uuid                | end to end: rows, runs (median), uuid/sequential/both |
// | STEPS              | 100,250,500,1000,1500,2000     | many clients: the ramp                                |
// | DURATION, WARMUP   | 25, 5                          | seconds measured, and before, per step                |
// | GENERATORS         | 3                              | load-generator processes                              |
// | INTERVAL, INSERT   | 1000, 0.1                      | ms between a client's syncs; chance of a row first    |
// | CLIENTS_PER_DB     | 1                              | clients sharing one server database                   |
// | MAX_PAYLOAD        | (unset: 5 MiB)                 | many clients: --max-payload of the server and clients |
// | PROFILE            | (unset)                        | a folder: server and generators --cpu-prof into it    |
// | SERVER_LOG         | (unset)                        | a file: the server logs every request (info) into it  |
// | NODES              | 1                              | many clients, PostgreSQL: server nodes, clients split among them |
//
// End to end: client A (WAL file) inserts the engine bench's table and syncs it up, a fresh client
// B pulls it all, and a fresh client C applies A's payloads locally (no network) for the ratio.
// Many clients: a ramp of concurrent clients, each syncing every interval against its own server
// database, until p99 reaches 1 s or an error appears. Results also go to bench/results/.

import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { nodeHttpTransport } from '../src/client/node-http-transport.js';
import type { AsyncTransport } from '../src/client/http-transport.js';
import { createUuidBytes, formatUuid } from '../src/engine/uuid.js';
import { isPostgresUrl, openServerData } from '../src/server/index.js';
import { benchPostgres, cpuMsOf, machineCpuMs, median, percentile, printTable, rssOf, type ServerProcess, startServer, time } from './bench-support.js';
import type { LoadMessage, LoadPlan } from './network-load-generator.js';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const PART = env('PART', 'both');
const STORE = env('STORE', 'sqlite');
const ROWS = Number(env('ROWS', '100000'));
const RUNS = Number(env('RUNS', '3'));
const DATA = env('DATA', 'uuid');
const STEPS = env('STEPS', '100,250,500,1000,1500,2000').split(',').map(Number);
const DURATION_MS = Number(env('DURATION', '25')) * 1000;
const WARMUP_MS = Number(env('WARMUP', '5')) * 1000;
const GENERATORS = Number(env('GENERATORS', '3'));
const INTERVAL_MS = Number(env('INTERVAL', '1000'));
const INSERT = Number(env('INSERT', '0.1'));
const CLIENTS_PER_DB = Number(env('CLIENTS_PER_DB', '1'));
const MAX_PAYLOAD = process.env.MAX_PAYLOAD === undefined ? undefined : Number(process.env.MAX_PAYLOAD);
const PROFILE = process.env.PROFILE;
const SERVER_LOG = process.env.SERVER_LOG;
const NODES = Number(env('NODES', '1'));

// The engine bench's table, with cloudsync_init in the schema text that server and devices share.
const SCHEMA = "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT);\nSELECT cloudsync_init('t');\n";
const PLAIN_SCHEMA = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)';
const GENERATOR = join(import.meta.dirname, 'network-load-generator.js');

type Row = [string, string, number, number, string];
const datasets: Record<string, (i: number) => Row> = {
  uuid: (() => {
    const ids = Array.from({ length: ROWS }, (_, i) => formatUuid(createUuidBytes(1_700_000_000_000 + i)));
    return (i: number): Row => [ids[i] as string, `name ${i}`, i, i * 0.5, `description of row ${i % 997}`];
  })(),
  sequential: (i: number): Row => [`id${String(i).padStart(6, '0')}`, `a${i}`, i, i * 1.5, 'text'],
};

let files = 0;
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-network-bench-'));
const results: Record<string, unknown> = { node: process.version, rows: ROWS, runs: RUNS, startedAt: new Date().toISOString(), endToEnd: {}, manyClients: {} };
const postgres = benchPostgres();
try {
  const stores = STORE === 'both' ? ['sqlite', 'postgres'] : [STORE];
  const locations: { store: string; location: string }[] = [];
  for (const store of stores) locations.push({ store, location: store === 'postgres' ? await postgres.location() : join(folder, `${store}-data`) });
  // the stores' runs interleaved (in alternating order), so that the machine's drift and noise fall on both
  if (PART === 'both' || PART === 'e2e') Object.assign(results.endToEnd as Record<string, unknown>, await benchEndToEnd(locations));
  if (PART === 'both' || PART === 'clients') for (const { store, location } of locations) (results.manyClients as Record<string, unknown>)[store] = await benchManyClients(location, store);
  printStoreRatio();
} finally {
  postgres.stop();
  rmSync(folder, { recursive: true, force: true });
}

/** With both stores measured end to end: PostgreSQL's time over SQLite's (target ≤ ×1.5). */
function printStoreRatio(): void {
  const e2e = results.endToEnd as Record<string, Record<string, EndToEnd>>;
  const sqlite = e2e.sqlite;
  const postgres = e2e.postgres;
  if (!sqlite || !postgres) return;
  const rows: string[][] = [];
  for (const name of Object.keys(sqlite)) {
    const s = sqlite[name] as EndToEnd;
    const p = postgres[name] as EndToEnd;
    if (!p) continue;
    const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
    rows.push([`${name}: A send`, `${s.send.toFixed(0)} ms`, `${p.send.toFixed(0)} ms`, ratio(p.send, s.send)]);
    rows.push([`${name}: B pull`, `${s.pull.toFixed(0)} ms`, `${p.pull.toFixed(0)} ms`, ratio(p.pull, s.pull)]);
    rows.push([`${name}: A send + B pull, medians (target ≤ ×1.5)`, `${(s.send + s.pull).toFixed(0)} ms`, `${(p.send + p.pull).toFixed(0)} ms`, ratio(p.send + p.pull, s.send + s.pull)]);
  }
  for (const name of Object.keys(sqlite)) {
    const pairs = (sqlite[name] as EndToEnd & { runs: EndToEnd[] }).runs.map((s, i) => {
      const p = (postgres[name] as EndToEnd & { runs: EndToEnd[] }).runs[i] as EndToEnd;
      return (p.send + p.pull) / (s.send + s.pull);
    });
    rows.push([`${name}: ratio run by run`, '', '', pairs.map((r) => `×${r.toFixed(2)}`).join(' ')]);
  }
  printTable(`end to end, ${ROWS} rows A → server → B: PostgreSQL store / SQLite store`, ['measure', 'SQLite store', 'PostgreSQL store', 'ratio'], rows);
}
mkdirSync(join(import.meta.dirname, '..', '..', 'bench', 'results'), { recursive: true });
const output = join(import.meta.dirname, '..', '..', 'bench', 'results', `network-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`);
writeFileSync(output, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nresults written to ${output}`);

// ---- end to end -----------------------------------------------------------------------------

interface EndToEnd {
  plainInsert: number;
  trackedInsert: number;
  send: number;
  pull: number;
  localApply: number;
  sentBytes: number;
  receivedBytes: number;
  payloadsSent: number;
  payloadsReceived: number;
  requests: number;
  changes: number;
}

async function benchEndToEnd(locations: { store: string; location: string }[]): Promise<Record<string, Record<string, EndToEnd & { runs: EndToEnd[] }>>> {
  const opened = [];
  for (const { store, location } of locations) {
    const data = await openServerData(location);
    const server = await startServer(location, PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`, `--cpu-prof-name=e2e-server-${store}.cpuprofile`] : [], storeOptions(location), SERVER_LOG);
    opened.push({ store, data, server });
  }
  const out: Record<string, Record<string, EndToEnd & { runs: EndToEnd[] }>> = {};
  try {
    const wanted = DATA === 'both' ? ['uuid', 'sequential'] : [DATA];
    for (const name of wanted) {
      const row = datasets[name];
      if (!row) throw new Error(`unknown dataset ${name}`);
      const runs = new Map<string, EndToEnd[]>(opened.map((o) => [o.store, []]));
      for (let run = 0; run < RUNS; run++) {
        const order = run % 2 === 0 ? opened : [...opened].reverse();
        for (const { store, data, server } of order) {
          const database = `e2e-${name}-${run}`;
          await data.createDatabase(database, SCHEMA);
          runs.get(store)?.push(await runEndToEnd(server.url, database, (await data.createApiKey(database)).key, row));
        }
      }
      for (const { store } of opened) {
        const storeRuns = runs.get(store) as EndToEnd[];
        const pick = (key: keyof EndToEnd) => median(storeRuns.map((r) => r[key]));
        const m: EndToEnd = { plainInsert: pick('plainInsert'), trackedInsert: pick('trackedInsert'), send: pick('send'), pull: pick('pull'), localApply: pick('localApply'), sentBytes: pick('sentBytes'), receivedBytes: pick('receivedBytes'), payloadsSent: pick('payloadsSent'), payloadsReceived: pick('payloadsReceived'), requests: pick('requests'), changes: pick('changes') };
        (out[store] ??= {})[name] = { ...m, runs: storeRuns };
        const ms = (v: number) => `${v.toFixed(0)} ms`;
        const mb = (v: number) => `${(v / 1024 / 1024).toFixed(2)} MiB`;
        printTable(`end to end, ${store} store, ${name} keys, ${ROWS} rows (${m.changes} changes), WAL files, server in a child process; median of ${RUNS}`, ['measure', 'value'], [
          ['plain SQLite insert of the rows, 1 tx (context)', ms(m.plainInsert)],
          ['tracked insert on A, 1 tx', ms(m.trackedInsert)],
          ['A: await sync() (send everything)', ms(m.send)],
          ['B: await sync() (pull everything into a fresh client)', ms(m.pull)],
          ['total A send + B pull', ms(m.send + m.pull)],
          ['C: applyPayload of A.encodePayloads(), no network', ms(m.localApply)],
          ['ratio B pull / C local apply (target ≤ ×3)', `×${(m.pull / m.localApply).toFixed(2)}`],
          ['payload bytes sent by A / received by B', `${mb(m.sentBytes)} / ${mb(m.receivedBytes)}`],
          ['payloads sent / received', `${m.payloadsSent} / ${m.payloadsReceived}`],
          ['HTTP requests (A and B)', `${m.requests} (headers add ~0.3 KB each)`],
        ]);
      }
    }
  } finally {
    for (const { server, data } of opened) {
      await server.stop();
      await data.close();
    }
  }
  return out;
}

async function runEndToEnd(url: string, database: string, key: string, row: (i: number) => Row): Promise<EndToEnd> {
  const counter = countingTransport();
  const plain = openFile();
  plain.exec(PLAIN_SCHEMA);
  const plainInsert = time(() => insertRows(plain, row));
  plain.close();

  const a = openDevice(url, database, key, counter.transport);
  const trackedInsert = time(() => insertRows(a.db, row));
  const payloads = a.sync.encodePayloads({ site: 'local' }).map((p) => p.payload);
  let started = performance.now();
  const sent = await a.sync.network.sync();
  const send = performance.now() - started;

  const b = openDevice(url, database, key, counter.transport);
  started = performance.now();
  const pulled = await b.sync.network.sync();
  const pull = performance.now() - started;
  expectRows(b.db, 'B');

  const c = openDevice();
  const localApply = time(() => {
    for (const payload of payloads) c.sync.applyPayload(payload);
  });
  expectRows(c.db, 'C');
  for (const device of [a, b, c]) device.db.close();
  return {
    plainInsert,
    trackedInsert,
    send,
    pull,
    localApply,
    sentBytes: sent.sent.bytes + sent.received.bytes,
    receivedBytes: pulled.received.bytes + pulled.sent.bytes,
    payloadsSent: sent.sent.payloads,
    payloadsReceived: pulled.received.payloads,
    requests: counter.requests(),
    changes: pulled.received.changes,
  };
}

/** The serve options that put a server on `location` (a data directory is --data already). */
function storeOptions(location: string): string[] {
  return isPostgresUrl(location) ? ['--store', location] : [];
}

/** A new WAL file database (synchronous = NORMAL), as in the engine bench. */
function openFile(): Database.Database {
  const db = new Database(join(folder, `device-${files++}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** A device: a WAL file with sqlite-sync loaded and the schema, pointed at a server database when `url` is given. */
function openDevice(url?: string, database?: string, key?: string, transport?: AsyncTransport): { db: Database.Database; sync: CloudSync } {
  const db = openFile();
  const sync = load(db, transport ? { network: { transport } } : {});
  db.exec(SCHEMA);
  if (url !== undefined) {
    sync.network.init(`${url}/${database}`);
    sync.network.setApiKey(key as string);
  }
  return { db, sync };
}

function insertRows(db: Database.Database, row: (i: number) => Row): void {
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(...row(i));
  })();
}

function expectRows(db: Database.Database, who: string): void {
  const count = db.prepare('SELECT count(*) FROM t').pluck().get() as number;
  if (count !== ROWS) throw new Error(`${who} has ${count} rows, expected ${ROWS}`);
}

/** The default transport, counting the requests it sends. */
function countingTransport(): { transport: AsyncTransport; requests: () => number } {
  let requests = 0;
  return {
    transport: (request, options) => {
      requests++;
      return nodeHttpTransport(request, options);
    },
    requests: () => requests,
  };
}

// ---- many clients ---------------------------------------------------------------------------

interface Step {
  clients: number;
  syncsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: number;
  errorSamples: string[];
  rowsInserted: number;
  serverRssMiB: number;
  serverCpuPercent: number;
  generatorsRssMiB: number;
  generatorsCpuPercent: number;
  generatorLoopDelayP99Ms: number;
  /** CPU that other processes on the machine used during the window (% of one core): noise. */
  otherCpuPercent: number;
  setupMs: number;
}

async function benchManyClients(location: string, store: string): Promise<{ settings: Record<string, unknown>; steps: Step[] }> {
  const largest = Math.max(...STEPS);
  const databases = Math.ceil(largest / CLIENTS_PER_DB);
  let started = performance.now();
  const data = await openServerData(location);
  const keys: { database: string; key: string }[] = [];
  for (let i = 0; i < databases; i++) {
    const database = `load-${String(i).padStart(5, '0')}`;
    await data.createDatabase(database, SCHEMA);
    keys.push({ database, key: (await data.createApiKey(database)).key });
  }
  await data.close();
  console.log(`\nprovisioned ${databases} server databases in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const nodes = isPostgresUrl(location) ? NODES : 1;
  const servers: ServerProcess[] = [];
  for (let n = 0; n < nodes; n++) {
    servers.push(await startServer(location, PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`, `--cpu-prof-name=server-${n}.cpuprofile`] : [], [...storeOptions(location), ...(MAX_PAYLOAD === undefined ? [] : ['--max-payload', String(MAX_PAYLOAD)])], SERVER_LOG));
  }
  const steps: Step[] = [];
  try {
    for (const clients of STEPS) {
      started = performance.now();
      // client i talks to node i mod NODES, all of a database's clients to one node
      const plan = Array.from({ length: clients }, (_, i) => {
        const d = Math.floor(i / CLIENTS_PER_DB);
        return { ...(keys[d] as { database: string; key: string }), url: (servers[d % nodes] as ServerProcess).url };
      });
      const step = await runStep(servers, clients, plan);
      steps.push(step);
      console.log(`${clients} clients: p99 ${step.p99} ms, ${step.errors} errors, ${step.syncsPerSecond.toFixed(0)} syncs/s (step took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
      if (step.p99 >= 1000 || step.errors > 0) break;
    }
  } finally {
    for (const server of servers) await server.stop();
  }
  const settings = { nodes, maxPayloadBytes: MAX_PAYLOAD ?? 'default (5 MiB)', generators: GENERATORS, intervalMs: INTERVAL_MS, insertProbability: INSERT, durationMs: DURATION_MS, warmupMs: WARMUP_MS, clientsPerDatabase: CLIENTS_PER_DB };
  printTable(
    `many clients${nodes > 1 ? ` on ${nodes} nodes` : ''}: each syncs every ${INTERVAL_MS} ms (inserting a row first with p = ${INSERT}), ${CLIENTS_PER_DB} client(s) per server database, max payload ${MAX_PAYLOAD ?? '5 MiB (default)'}; ${GENERATORS} load generators and the server share ${availableParallelism()} cores; ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s warm-up`,
    ['clients', 'syncs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'server RSS', 'server CPU', 'generators RSS', 'generators CPU', 'gen. loop delay p99', 'other processes CPU'],
    steps.map((s) => [String(s.clients), s.syncsPerSecond.toFixed(0), String(s.p50), String(s.p95), String(s.p99), String(s.max), String(s.errors), `${s.serverRssMiB.toFixed(0)} MiB`, `${s.serverCpuPercent.toFixed(0)} %`, `${s.generatorsRssMiB.toFixed(0)} MiB`, `${s.generatorsCpuPercent.toFixed(0)} %`, `${s.generatorLoopDelayP99Ms.toFixed(0)} ms`, `${s.otherCpuPercent.toFixed(0)} %`]),
  );
  for (const s of steps) if (s.errorSamples.length) console.log(`errors at ${s.clients} clients, e.g.: ${s.errorSamples.join(' | ')}`);
  const passed = steps.filter((s) => s.p99 < 1000 && s.errors === 0);
  console.log(`largest step with p99 < 1 s and no error: ${passed.length ? passed[passed.length - 1]?.clients : 'none'} clients`);
  return { settings, steps };
}

async function runStep(servers: ServerProcess[], count: number, clients: { database: string; key: string; url: string }[]): Promise<Step> {
  const server = servers[0] as ServerProcess;
  const generators = Math.min(GENERATORS, count);
  const children: ChildProcess[] = [];
  const done: Promise<Extract<LoadMessage, { type: 'done' }>>[] = [];
  const ready: Promise<Extract<LoadMessage, { type: 'ready' }>>[] = [];
  for (let g = 0; g < generators; g++) {
    const execArgv = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`, `--cpu-prof-name=generator-${count}-${g}.cpuprofile`] : [];
    const child = fork(GENERATOR, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    children.push(child);
    const messages = messagesOf(child);
    ready.push(messages.next('ready'));
    done.push(messages.next('done'));
    const plan: LoadPlan = { type: 'plan', url: server.url, schema: SCHEMA, clients: clients.filter((_, i) => i % generators === g), intervalMs: INTERVAL_MS, warmupMs: WARMUP_MS, durationMs: DURATION_MS, insertProbability: INSERT };
    if (MAX_PAYLOAD !== undefined) plan.maxPayloadBytes = MAX_PAYLOAD;
    child.send(plan);
  }
  const setups = await Promise.all(ready);
  const at = Date.now() + 200;
  for (const child of children) child.send({ type: 'start', at });
  let serverRss = 0;
  let cpuBefore = 0;
  let machineBefore = machineCpuMs();
  const windowTimer = setTimeout(() => {
    cpuBefore = servers.reduce((n, s) => n + cpuMsOf(s.pid), 0);
    machineBefore = machineCpuMs();
  }, at + WARMUP_MS - Date.now());
  const rssOfServers = () => servers.reduce((n, s) => n + rssOf(s.pid), 0);
  const rssTimer = setInterval(() => (serverRss = Math.max(serverRss, rssOfServers())), 1000);
  const reports = await Promise.all(done);
  const cpuServer = servers.reduce((n, s) => n + cpuMsOf(s.pid), 0) - cpuBefore;
  const cpuMachine = machineCpuMs() - machineBefore;
  clearTimeout(windowTimer);
  clearInterval(rssTimer);
  serverRss = Math.max(serverRss, rssOfServers());
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)))));
  const latencies = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = DURATION_MS / 1000;
  return {
    clients: count,
    syncsPerSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? 0,
    errors: reports.reduce((n, r) => n + r.errors, 0),
    errorSamples: reports.flatMap((r) => r.errorSamples).slice(0, 5),
    rowsInserted: reports.reduce((n, r) => n + r.rows, 0),
    serverRssMiB: serverRss / 1024 / 1024,
    // over the measured window and the syncs that finished after it
    serverCpuPercent: (cpuServer / DURATION_MS) * 100,
    generatorsRssMiB: reports.reduce((n, r) => n + r.maxRssBytes, 0) / 1024 / 1024,
    generatorsCpuPercent: (reports.reduce((n, r) => n + r.cpuMs, 0) / DURATION_MS) * 100,
    generatorLoopDelayP99Ms: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
    otherCpuPercent: Math.max(0, ((cpuMachine - cpuServer - reports.reduce((n, r) => n + r.cpuMs, 0)) / DURATION_MS) * 100),
    setupMs: Math.max(...setups.map((s) => s.setupMs)),
  };
}

/** Waits for IPC messages of a type (each type is sent once). */
function messagesOf(child: ChildProcess): { next<T extends LoadMessage['type']>(type: T): Promise<Extract<LoadMessage, { type: T }>> } {
  const waiting = new Map<string, (message: LoadMessage) => void>();
  const failures = new Set<(error: Error) => void>();
  child.on('message', (message: LoadMessage) => waiting.get(message.type)?.(message));
  child.once('exit', (code) => {
    if (code !== 0) for (const fail of failures) fail(new Error(`a load generator exited with ${code}`));
  });
  return {
    next: <T extends LoadMessage['type']>(type: T) =>
      new Promise<Extract<LoadMessage, { type: T }>>((resolve, reject) => {
        failures.add(reject);
        waiting.set(type, (message) => resolve(message as Extract<LoadMessage, { type: T }>));
      }),
  };
}

// ---- the server process ---------------------------------------------------------------------

// ---- helpers ---------------------------------------------------------------------------------


