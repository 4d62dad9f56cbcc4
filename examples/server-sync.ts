// Two devices and the sync server: start a server on an embedded data directory, create a
// database from the app's schema and an API key, then let two devices write offline and sync.
// Run with `npm run demo`.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { createServer } from '../src/server/index.js';

const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-demo-'));
const schema = readFileSync(new URL('todos.sql', import.meta.url), 'utf8');

const server = await createServer({ dataDir: join(folder, 'server'), port: 0, logger: 'warn' });
await server.data.createDatabase('todos.sqlite', schema); // the same text the app runs
const { key } = await server.data.createApiKey('todos.sqlite');
console.log(`server listening on ${server.url}; database todos.sqlite; API key ${key.slice(0, 10)}…`);

const device = (name: string) => {
  const db = new Database(join(folder, `${name}.db`));
  db.pragma('journal_mode = WAL');
  const sync = load(db);
  db.exec(schema);
  db.prepare("SELECT cloudsync_init('todos')").get();
  sync.network.init(`${server.url}/todos.sqlite?apikey=${key}`);
  return { db, sync };
};
const show = (name: string, d: { db: Database.Database }) =>
  console.log(`  ${name}:`, d.db.prepare('SELECT title, done FROM todos ORDER BY title').all().map((r) => JSON.stringify(r)).join(' '));

const a = device('device-a');
const b = device('device-b');
a.db.prepare("INSERT INTO todos (id, title) VALUES (cloudsync_uuid(), 'Buy milk'), ('walk', 'Walk the dog')").run();
b.db.prepare("INSERT INTO todos (id, title) VALUES (cloudsync_uuid(), 'Answer mail')").run();
console.log('offline writes:');
show('A', a);
show('B', b);

await a.sync.network.sync();
await b.sync.network.sync();
await a.sync.network.sync();
console.log('after syncing A, B, A:');
show('A', a);
show('B', b);

// Concurrent edits of the same row merge per column: B's done flag and A's new title both survive.
a.db.prepare("UPDATE todos SET title = 'Walk the dog twice' WHERE id = 'walk'").run();
b.db.prepare("UPDATE todos SET done = 1 WHERE id = 'walk'").run();
for (const d of [a, b, a]) await d.sync.network.sync();
console.log('after concurrent edits of one row and another round:');
show('A', a);
show('B', b);

const status = await server.data.databaseStatus('todos.sqlite');
console.log(`server: db_version ${status.dbVersion}, ${status.tables[0]?.rows} rows, ${status.sizeBytes} bytes`);
await server.close();
for (const d of [a, b]) d.db.close();
rmSync(folder, { recursive: true, force: true });
