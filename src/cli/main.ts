#!/usr/bin/env node
// The `sqlite-sync` command: argument parsing only; every command calls a public function of the
// server or the shell. Errors print one line and exit with status 1.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { LIBRARY_VERSION } from '../engine/cloudsync.js';
import { createServer } from '../server/create-server.js';
import { openDataDir, type ServerData } from '../server/server-data.js';
import { formatTable } from './format-table.js';
import { runShell } from './shell.js';

const DEFAULT_DATA_DIR = process.env.SQLITE_SYNC_DATA ?? './sqlite-sync-data';

const program = new Command('sqlite-sync').version(LIBRARY_VERSION).description('CRDT sync for SQLite: the sync server, its administration, and a SQL shell');
const dataOption = ['-d, --data <dir>', 'the server data directory (env SQLITE_SYNC_DATA)', DEFAULT_DATA_DIR] as const;

program
  .command('serve')
  .description('start the sync server on its data directory')
  .option(...dataOption)
  .option('-p, --port <port>', 'port to listen on', integer, 8091)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--public-url <url>', 'the URL clients reach the server at (default: from the Host header)')
  .option('--max-upload <bytes>', 'largest accepted upload', integer, 64 * 1024 * 1024)
  .option('--max-payload <bytes>', 'downloads are split into payloads of about this size', integer, 5 * 1024 * 1024)
  .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
  .action(async (options: { data: string; port: number; host: string; publicUrl?: string; maxUpload: number; maxPayload: number; logLevel: string }) => {
    const server = await createServer({
      dataDir: options.data,
      port: options.port,
      host: options.host,
      ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
      maxUploadBytes: options.maxUpload,
      maxPayloadBytes: options.maxPayload,
      logger: options.logLevel as 'info',
    });
    process.stderr.write(`sqlite-sync server listening on ${server.url} (data: ${options.data})\n`);
    const stop = (signal: string) => {
      process.stderr.write(`${signal}: finishing requests in flight, then stopping\n`);
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });

const db = program.command('db').description('create, list, drop and inspect hosted databases');
db.command('create <name>')
  .description('create a database from the app\'s schema file, run verbatim; every table becomes synced')
  .requiredOption('-s, --schema <file>', 'the SQL schema file (use the very text your app runs, so schema hashes match)')
  .option(...dataOption)
  .action((name: string, options: { schema: string; data: string }) =>
    withData(options.data, (data) => {
      data.createDatabase(name, readFileSync(options.schema, 'utf8'));
      const status = data.databaseStatus(name);
      print(`created database '${name}' with tables ${status.tables.map((t) => t.name).join(', ')}`);
    }),
  );
db.command('list')
  .description('list hosted databases')
  .option(...dataOption)
  .option('--json', 'print JSON')
  .action((options: { data: string; json?: boolean }) =>
    withData(options.data, (data) => {
      const rows = data.listDatabases();
      if (options.json) return print(JSON.stringify(rows.map(({ name, createdAt }) => ({ name, createdAt }))));
      print(formatTable(['name', 'created'], rows.map((r) => [r.name, new Date(r.createdAt).toISOString()])));
    }),
  );
db.command('drop <name>')
  .description('delete a database, its file and its keys')
  .option(...dataOption)
  .action((name: string, options: { data: string }) => withData(options.data, (data) => (data.dropDatabase(name), print(`dropped database '${name}'`))));
db.command('status <name>')
  .description('show sites seen, versions, size and tables of a database')
  .option(...dataOption)
  .option('--json', 'print JSON')
  .action((name: string, options: { data: string; json?: boolean }) =>
    withData(options.data, (data) => {
      const status = data.databaseStatus(name);
      if (options.json) return print(JSON.stringify(status));
      print(`database ${status.name}: site ${status.siteId}, db_version ${status.dbVersion}, ${status.sizeBytes} bytes, ${status.activeKeys} active key(s)`);
      print(formatTable(['table', 'algo', 'rows'], status.tables.map((t) => [t.name, t.algo, t.rows])));
      print(`${status.sites.length} site(s) seen${status.sites.length ? ':' : ''}`);
      if (status.sites.length) print(formatTable(['site', 'first seen', 'last seen'], status.sites.map((s) => [s.siteId, iso(s.firstSeen), iso(s.lastSeen)])));
    }),
  );

const key = program.command('key').description('create, list and revoke API keys');
key
  .command('create')
  .description('create an API key for a database (shown once)')
  .requiredOption('--db <name>', 'the database')
  .option('-n, --name <name>', 'a label for the key', 'default')
  .option(...dataOption)
  .action((options: { db: string; name: string; data: string }) =>
    withData(options.data, (data) => {
      const created = data.createApiKey(options.db, options.name);
      process.stderr.write(`API key ${created.id} for database '${created.database}' (shown only now):\n`);
      print(created.key);
    }),
  );
key
  .command('list')
  .description('list API keys (never their secrets)')
  .option('--db <name>', 'only this database')
  .option(...dataOption)
  .action((options: { db?: string; data: string }) =>
    withData(options.data, (data) =>
      print(formatTable(['id', 'database', 'name', 'created', 'revoked'], data.listApiKeys(options.db).map((k) => [k.id, k.database, k.name, iso(k.createdAt), k.revokedAt ? iso(k.revokedAt) : null]))),
    ),
  );
key
  .command('revoke <id>')
  .description('revoke an API key')
  .option(...dataOption)
  .action((id: string, options: { data: string }) => withData(options.data, (data) => (data.revokeApiKey(id), print(`revoked key ${id}`))));

program
  .command('shell <file>')
  .description('open a database with the cloudsync functions loaded and read SQL (interactive, or from a pipe)')
  .action(async (file: string) => {
    const interactive = Boolean(process.stdin.isTTY);
    process.exitCode = await runShell({
      file,
      input: process.stdin,
      output: process.stdout,
      errorOutput: process.stderr,
      interactive,
      historyFile: join(homedir(), '.sqlite_sync_history'),
    });
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`sqlite-sync: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

function withData(dir: string, work: (data: ServerData) => void): void {
  const data = openDataDir(dir);
  try {
    work(data);
  } finally {
    data.close();
  }
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}
