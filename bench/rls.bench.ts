// Row-level security benchmark: one user's download out of USERS users sharing a table of
// USERS × PER_USER rows (default 1,000 × 1,000 = 1,000,000), compared with the same download
// without policies (a database holding only that user's rows, read with an API key).
// `npm run bench:rls`; settings: USERS, PER_USER, RUNS.
//
// The server runs in this process (the client uses the async API); each run is a fresh device
// pulling everything, then one incremental check after another user's change.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { createServer } from '../src/server/index.js';
import { median } from './bench-support.js';
import type { SqliteStore } from '../src/server/storage/sqlite/sqlite-store.js';

const USERS = Number(process.env.USERS ?? 1000);
const PER_USER = Number(process.env.PER_USER ?? 1000);
const RUNS = Number(process.env.RUNS ?? 5);
const SCHEMA = `CREATE TABLE tasks (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', owner TEXT, done INTEGER NOT NULL DEFAULT 0);
CREATE INDEX tasks_owner ON tasks (owner);
SELECT cloudsync_init('tasks');
`;
const USER = `user${String(Math.floor(USERS / 2)).padStart(4, '0')}`;

const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-rls-bench-'));
const server = await createServer({ dataDir: join(folder, 'data'), port: 0, logger: false });
try {
  const data = server.data;
  await data.createDatabase('shared', SCHEMA);
  await data.createDatabase('alone', SCHEMA);
  const fill = (name: string, users: string[]) => {
    const peer = (data.store as SqliteStore).open(name);
    const insert = peer.db.prepare('INSERT INTO tasks (id, title, owner) VALUES (?, ?, ?)');
    peer.db.transaction(() => {
      for (const user of users) for (let i = 0; i < PER_USER; i++) insert.run(`${user}-${i}`, `task ${i} of ${user}`, user);
    })();
  };
  let started = performance.now();
  fill('shared', Array.from({ length: USERS }, (_, u) => `user${String(u).padStart(4, '0')}`));
  console.log(`filled 'shared' with ${USERS * PER_USER} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  fill('alone', [USER]);
  await data.setPolicy('shared', 'tasks', { read: 'owner = auth_userid()', write: 'owner = auth_userid()' });
  const token = await data.createToken('shared', USER, { ttlSeconds: 3600 });
  const key = (await data.createApiKey('alone')).key;
  const writerKey = (await data.createApiKey('shared')).key;

  const device = (database: string, credential: { token?: string; key?: string }) => {
    const db = new Database(':memory:');
    const sync = load(db);
    db.exec(SCHEMA);
    sync.network.init(`${server.url}/${database}`);
    if (credential.token) sync.network.setToken(credential.token);
    if (credential.key) sync.network.setApiKey(credential.key);
    return { db, sync };
  };
  // Another user's device in each database, changing one row between a device's two checks.
  const writers: Record<string, ReturnType<typeof device>> = {
    shared: device('shared', { key: writerKey }),
    alone: device('alone', { key: (await data.createApiKey('alone')).key }),
  };
  for (const w of Object.values(writers)) await w.sync.network.checkChanges();

  const measure = async (label: string, database: string, credential: { token?: string; key?: string }) => {
    const full: number[] = [];
    const incremental: number[] = [];
    let rows = 0;
    for (let run = 0; run < RUNS; run++) {
      const d = device(database, credential);
      started = performance.now();
      await d.sync.network.checkChanges();
      full.push(performance.now() - started);
      rows = Number(d.db.prepare('SELECT count(*) FROM tasks').pluck().get());
      // one change by someone else (in 'shared' another user's row, which the policy hides)
      const writer = writers[database] as ReturnType<typeof device>;
      writer.db.prepare('UPDATE tasks SET done = done + 1 WHERE id = ?').run(database === 'shared' ? `user0000-${run}` : `${USER}-${run}`);
      await writer.sync.network.sendChanges();
      started = performance.now();
      await d.sync.network.checkChanges();
      incremental.push(performance.now() - started);
      d.db.close();
    }
    return { label, rows, full: median(full), incremental: median(incremental) };
  };
  const secured = await measure(`token user with policies, 'shared' (${USERS * PER_USER} rows)`, 'shared', { token });
  const plain = await measure(`API key, no policies, 'alone' (the same ${PER_USER} rows)`, 'alone', { key });
  console.log(`\none user's download (${PER_USER} rows of ${USERS * PER_USER}), fresh device, median of ${RUNS}`);
  console.log('| download | rows received | full download | next check, after one change by another device |');
  console.log('|---|---|---|---|');
  for (const m of [secured, plain]) console.log(`| ${m.label} | ${m.rows} | ${m.full.toFixed(1)} ms | ${m.incremental.toFixed(2)} ms |`);
  console.log(`\nratio with policies / without: full ×${(secured.full / plain.full).toFixed(2)}, incremental ×${(secured.incremental / plain.incremental).toFixed(2)} (target ≤ ×2)`);
} finally {
  await server.close();
  rmSync(folder, { recursive: true, force: true });
}

