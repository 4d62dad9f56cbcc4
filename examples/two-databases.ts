// Two devices, one table, no server: each writes offline, they exchange payloads, both converge.
// Run with `npm run demo:payloads`.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';

const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-demo-'));
const open = (name: string) => {
  const db = new Database(join(folder, `${name}.db`));
  db.pragma('journal_mode = WAL');
  load(db);
  db.exec('CREATE TABLE IF NOT EXISTS my_data (id TEXT PRIMARY KEY NOT NULL, value TEXT)');
  db.prepare("SELECT cloudsync_init('my_data')").get();
  return db;
};
const encodeLocal = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes WHERE site_id = cloudsync_siteid()';
const show = (name: string, db: Database.Database) =>
  console.log(`${name}:`, db.prepare('SELECT value FROM my_data ORDER BY value').pluck().all());

const deviceA = open('device-a');
const deviceB = open('device-b');

deviceA.prepare('INSERT INTO my_data (id, value) VALUES (cloudsync_uuid(), ?)').run('Hello from device A!');
deviceB.prepare('INSERT INTO my_data (id, value) VALUES (cloudsync_uuid(), ?)').run('Hello from device B!');
show('device A before sync', deviceA);
show('device B before sync', deviceB);

const fromA = deviceA.prepare(encodeLocal).pluck().get() as Buffer;
const fromB = deviceB.prepare(encodeLocal).pluck().get() as Buffer;
console.log(`payloads: A → B ${fromA.length} bytes, B → A ${fromB.length} bytes`);
console.log('changes applied on B:', deviceB.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(fromA));
console.log('changes applied on A:', deviceA.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(fromB));

show('device A after sync', deviceA);
show('device B after sync', deviceB);
deviceA.close();
deviceB.close();
rmSync(folder, { recursive: true, force: true });
