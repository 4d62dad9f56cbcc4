// A process killed (SIGKILL) in the middle of applying a payload leaves the database with all of
// the payload or none of it, never a prefix, and intact.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { openSynced, temporaryFolder } from './support/databases.js';

const SCHEMA = 'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, name TEXT, qty INTEGER)';
const ROWS = 30000;
const folder = temporaryFolder();
after(() => folder.remove());

function makePayload(): Buffer {
  const source = openSynced(':memory:', SCHEMA);
  source.sync.init('items');
  const insert = source.db.prepare('INSERT INTO items VALUES (?, ?, ?)');
  source.db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(`item-${i}`, `name ${i}`, i);
  })();
  return Buffer.from(source.sync.encodePayload() as Uint8Array);
}

function runWorker(file: string, payloadFile: string, killAfterMs: number): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./support/apply-worker.ts', import.meta.url).pathname, file, payloadFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('applying') && !child.killed) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('exit', () => resolve(output.includes('applied') ? 'finished' : 'killed'));
  });
}

test('a SIGKILL during apply leaves all of the payload or none of it', async () => {
  const payloadFile = folder.path('payload.bin');
  writeFileSync(payloadFile, makePayload());
  const outcomes = new Set<string>();
  for (const [round, killAfterMs] of [5, 40, 120, 400].entries()) {
    const file = folder.path(`replica-${round}.db`);
    const setup = openSynced(file, SCHEMA);
    setup.sync.init('items');
    setup.db.close();
    const outcome = await runWorker(file, payloadFile, killAfterMs);
    const db = new Database(file);
    load(db);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const rows = db.prepare('SELECT count(*) FROM items').pluck().get() as number;
    const meta = db.prepare('SELECT count(*) FROM items_cloudsync').pluck().get() as number;
    assert.ok(rows === 0 || rows === ROWS, `round ${round}: ${rows} rows applied, a prefix`);
    assert.equal(meta, rows, `round ${round}: meta rows follow the data`);
    if (outcome === 'finished') assert.equal(rows, ROWS);
    outcomes.add(rows === 0 ? 'none' : 'all');
    db.close();
  }
  // at least one kill landed inside the apply (otherwise the test proved nothing)
  assert.ok(outcomes.has('none'), `every apply finished before the kill: ${[...outcomes].join(', ')}`);
});
