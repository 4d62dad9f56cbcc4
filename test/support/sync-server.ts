// Helpers for network tests: a sync server in this process or in a child process (the CLI's
// `serve`), and devices (WAL databases with sqlite-sync loaded) pointed at it.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { createServer, openServerData, type ServerData, type SyncServer } from '../../src/server/index.js';
import type { SqlitePeer } from '../../src/server/storage/sqlite/sqlite-peer.js';
import type { SqliteStore } from '../../src/server/storage/sqlite/sqlite-store.js';
import Database from 'better-sqlite3';
import { load, type LoadOptions } from '../../src/index.js';
import type { SyncedDb } from './databases.js';

/** The to-do schema of the network tests, as an app would ship it. */
export const TODO_SCHEMA = `CREATE TABLE todos (
  id TEXT PRIMARY KEY NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  done INTEGER NOT NULL DEFAULT 0,
  owner TEXT
);
SELECT cloudsync_init('todos');
`;

/** The path of the CLI's source entry, run through tsx. */
export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Runs the CLI (from source) with arguments and standard input; returns its output and exit status. */
export function runCli(args: string[], input = ''): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** Creates a database and an API key in a data directory; returns the key. */
export async function provision(location: string, database: string, schema = TODO_SCHEMA): Promise<string> {
  const data = await openServerData(location);
  try {
    await data.createDatabase(database, schema);
    return (await data.createApiKey(database)).key;
  } finally {
    await data.close();
  }
}

/** The open peer of a hosted database of the embedded store, for looking inside its SQLite file. */
export function sqlitePeer(data: ServerData, database: string): SqlitePeer {
  return (data.store as SqliteStore).open(database);
}

/** Starts a server in this process on a free port, without logs. */
export function startServer(location: string, options: { maxUploadBytes?: number; maxPayloadBytes?: number; maxOpenDatabases?: number } = {}): Promise<SyncServer> {
  return createServer({ store: location, port: 0, logger: false, ...options });
}

/** A server running as a child process (`sqlite-sync serve`). */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything it wrote to stdout (its log). */
  log(): string;
  /** Sends a signal and waits for the exit; resolves with the exit code (null when killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `sqlite-sync serve` on a data directory; resolves once it prints where it listens. */
export function startServerProcess(dataDir: string, port = 0, extra: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--data', dataDir, '--port', String(port), ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => (stdout += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${stderr}`)), 20_000);
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: match[1] as string,
          child,
          log: () => stdout,
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}: ${stderr}`));
    });
  });
}

/** A device: a WAL database with the schema, pointed at a server database with a key. */
export function openDevice(file: string, serverUrl: string, database: string, key: string, schema = TODO_SCHEMA, options: LoadOptions = {}): SyncedDb {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const device = { db, sync: load(db, options) };
  db.exec(schema);
  device.sync.network.init(`${serverUrl}/${database}`);
  device.sync.network.setApiKey(key);
  return device;
}

/** The rows of a table as sorted JSON lines, for comparing replicas. */
export function rowsOf(device: { db: SyncedDb['db'] }, table = 'todos'): string[] {
  return device.db
    .prepare(`SELECT * FROM "${table}" ORDER BY 1`)
    .all()
    .map((row) => JSON.stringify(row));
}

/** A TCP port that was free a moment ago (for a server that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A seeded source of randomness for reproducible tests (mulberry32). */
export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

/** A seeded random source: `SEED` from the environment when set, else a fresh seed (print it). */
export function seededRandom(seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31))): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return { seed, next, int, pick: (items) => items[int(0, items.length - 1)] as (typeof items)[number] };
}

/** Asserts two sorted lists of lines are equal, reporting counts and a few differences rather than a diff of thousands of lines. */
export function assertSameLines(actual: readonly string[], want: readonly string[], label: string): void {
  if (actual.length === want.length && actual.every((line, i) => line === want[i])) return;
  const have = new Set(actual);
  const wanted = new Set(want);
  const missing = want.filter((line) => !have.has(line));
  const unwanted = actual.filter((line) => !wanted.has(line));
  assert.fail(
    `${label}: ${actual.length} lines, want ${want.length}; ${missing.length} missing, e.g. ${missing.slice(0, 3).join(' ')}; ${unwanted.length} unwanted, e.g. ${unwanted.slice(0, 3).join(' ')}`,
  );
}
