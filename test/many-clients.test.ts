// Twenty devices writing and syncing at once through one server (in this process): random inserts,
// updates (of other devices' rows too, so cells conflict), deletes and re-inserts of deleted rows;
// once everyone has synced, every device and the server hold the same rows and the same versions.
//
// Replay the random choices with SEED=<seed> from the output (the interleaving of requests varies).

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { SyncServer } from '../src/server/index.js';
import { type SyncedDb, temporaryFolder } from './support/databases.js';
import { assertSameLines, openDevice, provision, rowsOf, seededRandom, sqlitePeer, startServer } from './support/sync-server.js';

const DATABASE = 'many';
const DEVICES = 20;
const ROUNDS = 12;
const TITLES = ['buy milk', 'call mom', 'fix bike', 'pay rent', 'water plants'];
/** Rows everyone has from the start and updates often, so that cells tie at the same version. */
const HOT = ['hot-0', 'hot-1', 'hot-2', 'hot-3', 'hot-4'];

/** A device of this test and what it did. */
interface Device extends SyncedDb {
  name: string;
  created: number;
}

/** What the devices did, to check the test exercised what it claims. */
const counts = { inserts: 0, reinserts: 0, ownUpdates: 0, foreignUpdates: 0, deletes: 0, syncs: 0 };
/** Every id ever inserted, for re-inserts of deleted rows. */
const everInserted: string[] = [];
const random = seededRandom();
const folder = temporaryFolder();
const devices: Device[] = [];
let server: SyncServer | undefined;

after(async () => {
  await server?.close();
  for (const device of devices) device.db.close();
  folder.remove();
});

test(`${DEVICES} devices writing and syncing concurrently all converge with the server`, async (t) => {
  t.diagnostic(`seed ${random.seed}`);
  const dataDir = folder.path('data');
  const key = await provision(dataDir, DATABASE);
  server = await startServer(dataDir);
  for (let i = 0; i < DEVICES; i++) {
    devices.push({ ...openDevice(folder.path(`device-${i}.db`), server.url, DATABASE, key), name: `device-${i}`, created: 0 });
  }
  const first = devices[0] as Device;
  for (const id of HOT) first.db.prepare('INSERT INTO todos (id, title, owner) VALUES (?, ?, ?)').run(id, random.pick(TITLES), first.name);
  everInserted.push(...HOT);
  for (const device of devices) await device.sync.network.sync();

  const outcomes = await Promise.allSettled(
    devices.map(async (device) => {
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(random.int(0, 30));
        writeRandom(device, round);
        await device.sync.network.sync();
        counts.syncs++;
      }
    }),
  );
  const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [String(outcome.reason)] : []));
  assert.deepEqual(failures, [], `seed ${random.seed}: no sync may fail`);

  // Quiesce: everyone sends what is left, then two full rounds bring everyone everything.
  for (const device of devices) {
    for (let round = 0; device.sync.network.hasUnsentChanges(); round++) {
      assert.ok(round < 10, `seed ${random.seed}: ${device.name} still has unsent changes after 10 syncs`);
      await device.sync.network.sync();
    }
  }
  for (let round = 0; round < 2; round++) for (const device of devices) await device.sync.network.sync();

  const peer = sqlitePeer(server.data, DATABASE);
  const rows = rowsOf(peer);
  const cells = cellsOf(peer.db);
  const conflicted = peer.db.prepare('SELECT count(*) FROM (SELECT pk FROM cloudsync_changes GROUP BY pk HAVING count(DISTINCT site_id) > 1)').pluck().get() as number;
  const deleted = peer.db.prepare('SELECT count(*) FROM cloudsync_changes WHERE cl % 2 = 0').pluck().get() as number;
  t.diagnostic(`${JSON.stringify(counts)}; the server holds ${rows.length} rows, ${deleted} deleted, ${conflicted} written by several devices`);
  assert.ok(rows.length > 100, `only ${rows.length} rows survived`);
  assert.ok(conflicted > 0 && counts.foreignUpdates > 0 && deleted > 0 && counts.reinserts > 0, 'the writes were too tame to conflict');
  for (const device of devices) {
    assertSameLines(rowsOf(device), rows, `seed ${random.seed}, ${device.name} rows`);
    assertSameLines(cellsOf(device.db), cells, `seed ${random.seed}, ${device.name} versions`);
  }
});

/** One to five random writes in a transaction: inserts, updates of any row it has, deletes, re-inserts. */
function writeRandom(device: Device, round: number): void {
  const { db } = device;
  const insert = db.prepare('INSERT OR IGNORE INTO todos (id, title, owner) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let n = random.int(1, 5); n > 0; n--) {
      const ids = db.prepare('SELECT id FROM todos ORDER BY id').pluck().all() as string[];
      const roll = random.next();
      if (roll < 0.35 || ids.length === 0) {
        const id = `${device.name}-${device.created++}`;
        insert.run(id, random.pick(TITLES), device.name);
        everInserted.push(id);
        counts.inserts++;
      } else if (roll < 0.8) {
        const hot = HOT.filter((h) => ids.includes(h));
        const id = hot.length > 0 && random.next() < 0.4 ? random.pick(hot) : random.pick(ids);
        if (random.next() < 0.5) db.prepare('UPDATE todos SET title = ? WHERE id = ?').run(`${random.pick(TITLES)} (${device.name}, round ${round})`, id);
        else db.prepare('UPDATE todos SET done = 1 - done WHERE id = ?').run(id);
        if (id.startsWith(`${device.name}-`)) counts.ownUpdates++;
        else counts.foreignUpdates++;
      } else if (roll < 0.93) {
        db.prepare('DELETE FROM todos WHERE id = ?').run(random.pick(ids));
        counts.deletes++;
      } else {
        // brings a row back when this device has seen it deleted; does nothing when it has it
        counts.reinserts += insert.run(random.pick(everInserted), random.pick(TITLES), device.name).changes;
      }
    }
  })();
}

/**
 * Every cell's value, version and causal length as JSON lines, in a stable order. Not the site that
 * wrote it: two devices writing the same value at the same version (or deleting the same row) tie,
 * and each replica keeps the one it saw first, as the reference's merge does.
 */
function cellsOf(db: Database.Database): string[] {
  return db
    .prepare('SELECT tbl, hex(pk) AS pk, col_name, col_value, col_version, cl FROM cloudsync_changes ORDER BY tbl, pk, col_name')
    .all()
    .map((cell) => JSON.stringify(cell));
}
