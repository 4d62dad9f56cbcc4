// A thousand live devices on one server (a `sqlite-sync serve` process): writes from random ones
// every few hundred milliseconds, some of them to the same rows; every device converges to the
// same rows as the server without ever calling sync.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { load, type LiveState } from '../src/index.js';
import { type SyncedDb, temporaryFolder } from './support/databases.js';
import { provision, rowsOf, seededRandom, type ServerProcess, startServerProcess, TODO_SCHEMA } from './support/sync-server.js';

const DEVICES = 1000;
const WRITES = 12;
const folder = temporaryFolder();
const devices: SyncedDb[] = [];
let server: ServerProcess | undefined;

after(async () => {
  for (const device of devices) {
    device.sync.network.stopLive();
    device.db.close();
  }
  await server?.stop();
  folder.remove();
});

test(`${DEVICES} live devices converge on every write without calling sync`, { timeout: 240_000 }, async () => {
  const random = seededRandom();
  console.log(`seed ${random.seed} (replay with SEED=${random.seed})`);
  const key = await provision(folder.path('data'), 'crowd');
  server = await startServerProcess(folder.path('data'), 0, ['--log-level', 'warn']);
  const connected = new Set<number>();
  for (let i = 0; i < DEVICES; i++) {
    const db = new Database(':memory:');
    const device = { db, sync: load(db) };
    db.exec(TODO_SCHEMA);
    device.sync.network.init(`${server.url}/crowd`);
    device.sync.network.setApiKey(key);
    device.sync.network.on('live', (state: LiveState) => {
      if (state === 'connected') connected.add(i);
      else connected.delete(i);
    });
    device.sync.network.live({ pollIntervalMs: 60_000 });
    devices.push(device);
  }
  const deadline = (ms: number) => Date.now() + ms;
  let until = deadline(60_000);
  while (connected.size < DEVICES) {
    assert.ok(Date.now() < until, `only ${connected.size} of ${DEVICES} devices connected`);
    await sleep(50);
  }

  // writes from random devices, a few to one shared row so that cells conflict
  const ids: string[] = [];
  for (let w = 0; w < WRITES; w++) {
    const writer = random.pick(devices);
    if (w % 4 === 3) {
      writer.db.prepare("INSERT INTO todos (id, title) VALUES ('shared', ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title").run(`write ${w}`);
    } else {
      const id = `row-${w}`;
      ids.push(id);
      writer.db.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(id, `write ${w}`);
    }
    await sleep(250);
  }
  const expected = ids.length + 1;
  const count = (d: SyncedDb) => d.db.prepare('SELECT count(*) FROM todos').pluck().get() as number;
  until = deadline(90_000);
  for (;;) {
    const behind = devices.filter((d) => count(d) < expected || d.sync.network.hasUnsentChanges()).length;
    if (behind === 0) break;
    assert.ok(Date.now() < until, `${behind} devices still behind`);
    await sleep(100);
  }
  // the last merges of the shared row may still be travelling: settle, then compare everything
  await sleep(500);
  const check = new Database(':memory:');
  const reference = { db: check, sync: load(check) };
  check.exec(TODO_SCHEMA);
  reference.sync.network.init(`${server.url}/crowd`);
  reference.sync.network.setApiKey(key);
  await reference.sync.network.sync();
  const serverRows = rowsOf(reference);
  assert.equal(serverRows.length, expected);
  until = deadline(30_000);
  for (;;) {
    const different = devices.filter((d) => rowsOf(d).join('\n') !== serverRows.join('\n')).length;
    if (different === 0) break;
    assert.ok(Date.now() < until, `${different} devices differ from the server`);
    await sleep(200);
  }
  check.close();
});
