// Several processes writing one WAL file at once: every transaction gets its own db_version, so
// (db_version, seq) never repeats and a send watermark cannot skip another process's changes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { openSynced, temporaryFolder } from './support/databases.js';

const folder = temporaryFolder();
after(() => folder.remove());

function runWorker(file: string, prefix: string, count: number, mode: 'autocommit' | 'transaction'): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./support/insert-worker.ts', import.meta.url).pathname, file, prefix, String(count), mode], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
}

for (const mode of ['autocommit', 'transaction'] as const) {
  test(`three processes inserting concurrently (${mode}) never share a db_version`, async () => {
    const file = folder.path(`shared-${mode}.db`);
    const setup = openSynced(file, 'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, name TEXT)');
    setup.sync.init('items');
    setup.db.close();
    const codes = await Promise.all(['p1', 'p2', 'p3'].map((prefix) => runWorker(file, prefix, 600, mode)));
    assert.deepEqual(codes, [0, 0, 0]);
    const { db } = openSynced(file);
    assert.equal(db.prepare('SELECT count(*) FROM items').pluck().get(), 1800);
    const shared = db.prepare('SELECT db_version, seq, count(*) FROM cloudsync_changes GROUP BY 1, 2 HAVING count(*) > 1').all();
    assert.deepEqual(shared, []);
    const versions = db.prepare("SELECT count(DISTINCT db_version) FROM cloudsync_changes WHERE col_name = 'name'").pluck().get();
    assert.equal(versions, mode === 'autocommit' ? 1800 : 360, 'one db_version per transaction');
    db.close();
  });
}
