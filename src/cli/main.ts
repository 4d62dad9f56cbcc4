#!/usr/bin/env node
// The `sqlite-sync` command: argument parsing only; every command calls a public function of the
// server or the shell. Errors print one line and exit with status 1.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { LIBRARY_VERSION } from '../engine/cloudsync.js';
import { createServer } from '../server/create-server.js';
import { type ExternalAlgorithm, type ExternalAuth, isExternalAlgorithm } from '../server/external-auth.js';
import { isPostgresUrl, openServerData, type ServerData } from '../server/server-data.js';
import { copyDatabase } from '../server/storage/copy.js';
import { formatTable } from './format-table.js';
import { runShell } from './shell.js';

const DEFAULT_DATA_DIR = process.env.SQLITE_SYNC_DATA ?? './sqlite-sync-data';

const program = new Command('sqlite-sync').version(LIBRARY_VERSION).description('CRDT sync for SQLite: the sync server, its administration, and a SQL shell');
const dataOption = ['-d, --data <dir>', 'the server data directory (env SQLITE_SYNC_DATA)', DEFAULT_DATA_DIR] as const;
const storeOption = ['--store <url>', 'keep everything in PostgreSQL instead (postgres://user:password@host/db; env DATABASE_URL)'] as const;

/** Where the server's data lives: --store, DATABASE_URL, or the data directory. */
function where(options: { data: string; store?: string }): string {
  return options.store ?? process.env.DATABASE_URL ?? options.data;
}

program
  .command('serve')
  .description('start the sync server on its data directory')
  .option(...dataOption)
  .option(...storeOption)
  .option('-p, --port <port>', 'port to listen on', integer, 8091)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--public-url <url>', 'the URL clients reach the server at (default: from the Host header)')
  .option('--max-upload <bytes>', 'largest accepted upload', integer, 64 * 1024 * 1024)
  .option('--max-payload <bytes>', 'downloads are split into payloads of about this size', integer, 5 * 1024 * 1024)
  .option('--max-open <count>', 'hosted databases kept open at once (the least recently used is closed)', integer, 2048)
  .option('--cors-origin <origin...>', "origins browsers may call the server from (scheme://host[:port], or '*'); env SQLITE_SYNC_CORS_ORIGINS, comma-separated")
  .option('--no-live', 'refuse live (WebSocket) connections; clients poll')
  .option('--no-metrics', 'no GET /metrics (Prometheus text format)')
  .option('--live-heartbeat <ms>', 'time between heartbeats of live connections (a dead client is dropped after two)', integer, 25_000)
  .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
  .action(async (options: { data: string; store?: string; port: number; host: string; publicUrl?: string; maxUpload: number; maxPayload: number; maxOpen: number; corsOrigin?: string[]; live: boolean; metrics: boolean; liveHeartbeat: number; logLevel: string }) => {
    const corsOrigins = options.corsOrigin ?? (process.env.SQLITE_SYNC_CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter((o) => o !== '');
    const server = await createServer({
      store: where(options),
      port: options.port,
      host: options.host,
      ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
      maxUploadBytes: options.maxUpload,
      maxPayloadBytes: options.maxPayload,
      maxOpenDatabases: options.maxOpen,
      corsOrigins,
      live: options.live ? { heartbeatMs: options.liveHeartbeat } : false,
      metrics: options.metrics,
      logger: options.logLevel as 'info',
    });
    process.stderr.write(`sqlite-sync server listening on ${server.url} (data: ${isPostgresUrl(where(options)) ? 'PostgreSQL' : where(options)})\n`);
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
  .option(...storeOption)
  .action((name: string, options: { schema: string; data: string }) =>
    withData(where(options), async (data) => {
      await data.createDatabase(name, readFileSync(options.schema, 'utf8'));
      const status = await data.databaseStatus(name);
      print(`created database '${name}' with tables ${status.tables.map((t) => t.name).join(', ')}`);
    }),
  );
db.command('list')
  .description('list hosted databases')
  .option(...dataOption)
  .option(...storeOption)
  .option('--json', 'print JSON')
  .action((options: { data: string; store?: string; json?: boolean }) =>
    withData(where(options), async (data) => {
      const rows = await data.listDatabases();
      if (options.json) return print(JSON.stringify(rows.map(({ name, createdAt }) => ({ name, createdAt }))));
      print(formatTable(['name', 'created'], rows.map((r) => [r.name, new Date(r.createdAt).toISOString()])));
    }),
  );
db.command('copy <name>')
  .description('copy a database with every clock from the data directory to PostgreSQL; devices keep syncing without a full download')
  .requiredOption('--to <url>', 'the PostgreSQL store to copy into (postgres://…)')
  .option(...dataOption)
  .option(...storeOption)
  .action((name: string, options: { data: string; store?: string; to: string }) =>
    withData(where(options), (source) =>
      withData(options.to, async (target) => {
        const report = await copyDatabase(source, target, name);
        print(`copied database '${name}': ${report.rows} rows, ${report.metaRows} meta rows, ${report.sites} sites, db_version ${report.dbVersion}, ${report.keys} API keys, ${report.policies} policies`);
        for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
      }),
    ),
  );

db.command('drop <name>')
  .description('delete a database, its file and its keys')
  .option(...dataOption)
  .option(...storeOption)
  .action((name: string, options: { data: string }) => withData(where(options), async (data) => (await data.dropDatabase(name), print(`dropped database '${name}'`))));
db.command('status <name>')
  .description('show sites seen, versions, size and tables of a database')
  .option(...dataOption)
  .option(...storeOption)
  .option('--json', 'print JSON')
  .action((name: string, options: { data: string; store?: string; json?: boolean }) =>
    withData(where(options), async (data) => {
      const status = await data.databaseStatus(name);
      if (options.json) return print(JSON.stringify(status));
      print(`database ${status.name}: site ${status.siteId}, db_version ${status.dbVersion}, ${status.sizeBytes} bytes, ${status.activeKeys} active key(s)`);
      print(formatTable(['table', 'algo', 'rows'], status.tables.map((t) => [t.name, t.algo, t.rows])));
      print(`${status.sites.length} site(s) seen${status.sites.length ? ':' : ''}`);
      if (status.sites.length) print(formatTable(['site', 'first seen', 'last seen', 'caught up to'], status.sites.map((s) => [s.siteId, iso(s.firstSeen), iso(s.lastSeen), s.caughtUpTo])));
    }),
  );

db.command('auth <name>')
  .description('show, set (--jwks, --issuer, --audience) or --clear the external identity provider whose RS256/ES256 tokens the database accepts')
  .option('--jwks <file|url>', 'the provider\'s public keys: a JWKS file, or an https:// (or http://) URL')
  .option('--issuer <iss>', 'the iss its tokens must carry')
  .option('--audience <aud>', 'the aud its tokens must carry')
  .option('--alg <list>', 'accepted algorithms, comma-separated (default RS256,ES256)', algorithms)
  .option('--clear', 'stop accepting external tokens')
  .option('--json', 'print JSON')
  .option(...dataOption)
  .option(...storeOption)
  .action((name: string, options: { jwks?: string; issuer?: string; audience?: string; alg?: ExternalAlgorithm[]; clear?: boolean; json?: boolean; data: string }) =>
    withData(where(options), async (data) => {
      const setting = options.jwks !== undefined || options.issuer !== undefined || options.audience !== undefined || options.alg !== undefined;
      if (options.clear) {
        if (setting) throw new Error('--clear takes no --jwks, --issuer, --audience or --alg');
        return print((await data.clearExternalAuth(name)) ? `database '${name}' no longer accepts external tokens` : `database '${name}' had no external identity provider`);
      }
      if (setting) {
        if (!options.jwks || !options.issuer || !options.audience) throw new Error('setting an identity provider needs --jwks, --issuer and --audience');
        const auth = await data.setExternalAuth(name, { jwks: options.jwks, issuer: options.issuer, audience: options.audience, ...(options.alg ? { algorithms: options.alg } : {}) });
        return print(describeExternalAuth(name, auth));
      }
      const auth = await data.externalAuth(name);
      if (options.json) return print(JSON.stringify(auth ?? null));
      print(auth ? describeExternalAuth(name, auth) : `database '${name}' has no external identity provider (it accepts API keys and tokens from 'sqlite-sync token create')`);
    }),
  );

const key = program.command('key').description('create, list and revoke API keys');
key
  .command('create')
  .description('create an API key for a database (shown once)')
  .requiredOption('--db <name>', 'the database')
  .option('-n, --name <name>', 'a label for the key', 'default')
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db: string; name: string; data: string }) =>
    withData(where(options), async (data) => {
      const created = await data.createApiKey(options.db, options.name);
      process.stderr.write(`API key ${created.id} for database '${created.database}' (shown only now):\n`);
      print(created.key);
    }),
  );
key
  .command('list')
  .description('list API keys (never their secrets)')
  .option('--db <name>', 'only this database')
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db?: string; data: string }) =>
    withData(where(options), async (data) =>
      print(formatTable(['id', 'database', 'name', 'created', 'revoked'], (await data.listApiKeys(options.db)).map((k) => [k.id, k.database, k.name, iso(k.createdAt), k.revokedAt ? iso(k.revokedAt) : null]))),
    ),
  );
key
  .command('revoke <id>')
  .description('revoke an API key')
  .option(...dataOption)
  .option(...storeOption)
  .action((id: string, options: { data: string }) => withData(where(options), async (data) => (await data.revokeApiKey(id), print(`revoked key ${id}`))));

const token = program.command('token').description('issue user tokens (JWT) signed by the server');
token
  .command('create')
  .description('issue an HS256 token for a user of a database and print it')
  .requiredOption('--db <name>', 'the database')
  .requiredOption('-u, --user <id>', 'the user: the token\'s sub, what auth_userid() returns')
  .option('--ttl <duration>', 'lifetime: 30s, 15m, 1h, 7d, or seconds', duration, 3600)
  .option('--claim <name=value>', 'an extra claim, repeatable; the value is JSON when it parses as JSON, else a string', claim, {})
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db: string; user: string; ttl: number; claim: Record<string, unknown>; data: string }) =>
    withData(where(options), async (data) => {
      const created = await data.createToken(options.db, options.user, { ttlSeconds: options.ttl, claims: options.claim });
      process.stderr.write(`token for user '${options.user}' of database '${options.db}', valid until ${iso(Date.now() + options.ttl * 1000)}:\n`);
      print(created);
    }),
  );

const policy = program.command('policy').description('row-level security: which rows token users may read and write');
policy
  .command('set')
  .description('set the read and/or write policy of a table (SQL boolean expressions over its columns, with auth_userid() and auth_claim(name))')
  .requiredOption('--db <name>', 'the database')
  .requiredOption('-t, --table <table>', 'the synced table')
  .option('-r, --read <expr>', "rows a user may read, e.g. \"owner = auth_userid()\"")
  .option('-w, --write <expr>', 'rows a user may insert, update or delete (checked before and after the change)')
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db: string; table: string; read?: string; write?: string; data: string }) =>
    withData(where(options), async (data) => {
      const current = (await data.listPolicies(options.db)).find((p) => p.table.toLowerCase() === options.table.toLowerCase());
      const set = await data.setPolicy(options.db, options.table, { read: options.read ?? current?.read ?? null, write: options.write ?? current?.write ?? null });
      print(`${set.table}: read ${set.read ?? '(denied)'}; write ${set.write ?? '(denied)'}`);
      await warnUnprotected(data, options.db);
    }),
  );
policy
  .command('show')
  .description("show a database's policies, and warn about tables without any")
  .requiredOption('--db <name>', 'the database')
  .option('--json', 'print JSON')
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db: string; json?: boolean; data: string }) =>
    withData(where(options), async (data) => {
      const policies = await data.listPolicies(options.db);
      if (options.json) return print(JSON.stringify(policies));
      print(formatTable(['table', 'read', 'write'], policies.map((p) => [p.table, p.read ?? '(denied)', p.write ?? '(denied)'])));
      await warnUnprotected(data, options.db);
    }),
  );
policy
  .command('remove')
  .description("remove a table's policies (every token user may then read and write it)")
  .requiredOption('--db <name>', 'the database')
  .requiredOption('-t, --table <table>', 'the table')
  .option(...dataOption)
  .option(...storeOption)
  .action((options: { db: string; table: string; data: string }) =>
    withData(where(options), async (data) => {
      if (!(await data.removePolicy(options.db, options.table))) throw new Error(`table '${options.table}' has no policies`);
      print(`removed the policies of ${options.table}`);
      await warnUnprotected(data, options.db);
    }),
  );

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

async function withData(dir: string, work: (data: ServerData) => Promise<void>): Promise<void> {
  const data = await openServerData(dir);
  try {
    await work(data);
  } finally {
    await data.close();
  }
}

/** Warns on stderr about tables that every token user may read and write. */
async function warnUnprotected(data: ServerData, database: string): Promise<void> {
  const open = await data.unprotectedTables(database);
  if (open.length > 0) process.stderr.write(`warning: no policies on ${open.join(', ')}: every token user of '${database}' may read and write all of their rows\n`);
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

/** A lifetime: `30s`, `15m`, `1h`, `7d`, or a number of seconds. */
function duration(value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new InvalidArgumentError('expected a duration such as 30s, 15m, 1h, 7d, or a number of seconds');
  return seconds;
}

/** Collects `name=value` claims; a value that parses as JSON is taken as JSON, else as a string. */
function claim(value: string, previous: Record<string, unknown>): Record<string, unknown> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected name=value');
  const text = value.slice(at + 1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { ...previous, [value.slice(0, at)]: parsed };
}

function algorithms(value: string): ExternalAlgorithm[] {
  const names = value.split(',').map((name) => name.trim().toUpperCase());
  if (names.length === 0 || !names.every(isExternalAlgorithm)) throw new InvalidArgumentError('expected RS256, ES256 or RS256,ES256');
  return names;
}

function describeExternalAuth(name: string, auth: ExternalAuth): string {
  return `database '${name}' accepts ${auth.algorithms.join(', ')} tokens of issuer ${auth.issuer} for audience ${auth.audience}, keys from ${auth.jwks}`;
}
