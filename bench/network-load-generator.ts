// A load generator of the network benchmark, run as a child process (fork) by network.bench.ts:
// many sync clients in one event loop, each an in-memory database with its own site, that every
// interval maybe insert one row and then `await sync()`, timing every sync.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { createUuidBytes, formatUuid } from '../src/engine/uuid.js';

/** What the parent sends first: the clients to run and how. */
export interface LoadPlan {
  type: 'plan';
  url: string;
  schema: string;
  /** Each client's database and key, and the server node it talks to (default: url). */
  clients: { database: string; key: string; url?: string }[];
  intervalMs: number;
  warmupMs: number;
  durationMs: number;
  insertProbability: number;
  /** The clients' upload payload size limit (default: the library's). */
  maxPayloadBytes?: number;
}

/** What the generator answers when its clients are open, then when the step is over. */
export type LoadMessage =
  | { type: 'ready'; setupMs: number }
  | {
      type: 'done';
      /** Latencies (ms) of the syncs started inside the measured window. */
      latencies: number[];
      errors: number;
      errorSamples: string[];
      rows: number;
      maxRssBytes: number;
      /** CPU time of this process during the window, in ms. */
      cpuMs: number;
      /** p99 event-loop delay during the window, in ms: how much of a latency is the client's own queueing. */
      loopDelayP99Ms: number;
    };

interface Client {
  db: Database.Database;
  sync: CloudSync;
  insert: Database.Statement;
}

process.once('message', (message: LoadPlan) => {
  if (message.type !== 'plan') throw new Error(`unexpected message ${JSON.stringify(message)}`);
  const started = performance.now();
  const clients = message.clients.map((c) => openClient(message, c.database, c.key, c.url));
  reply({ type: 'ready', setupMs: performance.now() - started });
  process.once('message', (go: { type: 'start'; at: number }) => void run(message, clients, go.at));
});

async function run(plan: LoadPlan, clients: Client[], at: number): Promise<void> {
  const windowStart = at + plan.warmupMs;
  const windowEnd = windowStart + plan.durationMs;
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let rows = 0;
  let maxRssBytes = process.memoryUsage.rss();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let cpuAtWindow = process.cpuUsage();
  const rssTimer = setInterval(() => (maxRssBytes = Math.max(maxRssBytes, process.memoryUsage.rss())), 500);
  const windowTimer = setTimeout(() => {
    cpuAtWindow = process.cpuUsage();
    loopDelay.enable();
  }, Math.max(0, windowStart - Date.now()));

  async function drive(client: Client): Promise<void> {
    // start times spread over the first interval; then one sync per interval, skipping missed ticks
    let next = at + Math.random() * plan.intervalMs;
    while (next < windowEnd) {
      await sleepUntil(next);
      if (Math.random() < plan.insertProbability) {
        client.insert.run(formatUuid(createUuidBytes()), `row ${rows}`, rows, rows * 0.5, 'written by a load generator');
        rows++;
      }
      const begun = Date.now();
      try {
        await client.sync.network.sync();
        if (begun >= windowStart) latencies.push(Date.now() - begun);
      } catch (error) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(error instanceof Error ? error.message : String(error));
      }
      while (next <= Date.now()) next += plan.intervalMs;
    }
  }

  await Promise.all(clients.map(drive));
  clearInterval(rssTimer);
  clearTimeout(windowTimer);
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuAtWindow);
  for (const client of clients) client.db.close();
  reply({
    type: 'done',
    latencies,
    errors,
    errorSamples,
    rows,
    maxRssBytes,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayP99Ms: loopDelay.count > 0 ? loopDelay.percentile(99) / 1e6 : 0,
  });
}

function openClient(plan: LoadPlan, database: string, key: string, url = plan.url): Client {
  const db = new Database(':memory:');
  const sync = load(db, plan.maxPayloadBytes === undefined ? {} : { network: { maxPayloadBytes: plan.maxPayloadBytes } });
  db.exec(plan.schema);
  sync.network.init(`${url}/${database}`);
  sync.network.setApiKey(key);
  return { db, sync, insert: db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)') };
}

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}

function reply(message: LoadMessage): void {
  process.send?.(message);
}
