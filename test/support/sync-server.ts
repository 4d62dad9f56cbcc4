// Helpers for network tests: a sync server in this process or in a child process (the CLI's
// `serve`), and devices (WAL databases with sqlite-sync loaded) pointed at it.

import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer, openDataDir, type SyncServer } from '../../src/server/index.js';
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

/** Creates a database and an API key in a data directory; returns the key. */
export function provision(dataDir: string, database: string, schema = TODO_SCHEMA): string {
  const data = openDataDir(dataDir);
  try {
    data.createDatabase(database, schema);
    return data.createApiKey(database).key;
  } finally {
    data.close();
  }
}

/** Starts a server in this process on a free port, without logs. */
export function startServer(dataDir: string, options: { maxUploadBytes?: number; maxPayloadBytes?: number } = {}): Promise<SyncServer> {
  return createServer({ dataDir, port: 0, logger: false, ...options });
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
