// Interoperability with the C extension itself: the npm build of sqlite-sync 1.1.4, loaded into
// better-sqlite3 as a development-only oracle (never shipped). Payloads go both ways and the
// tables must end equal. 1.1.x computes its schema hash differently from 0.8, so payloads for it
// carry its own hash; our side accepts any hash when its tables and columns exist. 1.1.x also
// writes REAL values little-endian where 0.8 (our format, see test/fixtures/vectors) writes them
// big-endian, so REAL values are left out here.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { decodePayload, encodePayload } from '../src/index.js';
import { openSynced, rowsOf } from './support/databases.js';
import { referenceExtension, skipWithoutReference } from './support/reference-extension.js';

const extension = referenceExtension;
const skip = skipWithoutReference;

const SCHEMA = "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, note)";
const ENCODE = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes';

function openReference(): Database.Database {
  const db = new Database(':memory:');
  db.loadExtension(extension as string);
  db.exec(SCHEMA);
  db.prepare("SELECT cloudsync_init('todo')").get();
  return db;
}

describe('interoperability with the C extension (1.1.4)', { skip }, () => {
  test('a payload of the C extension applies here, deletes and updates included', () => {
    const c = openReference();
    c.exec(`INSERT INTO todo VALUES ('r1', 'héllo', 1, NULL), ('r2', 'two', 0, 'x'), ('r3', 'gone', 0, x'00ff');
            UPDATE todo SET title = 'updated', note = -7 WHERE id = 'r2'; DELETE FROM todo WHERE id = 'r3';
            INSERT INTO todo VALUES ('r4', 'big', 9223372036854775807, 'text')`);
    const ours = openSynced(':memory:', SCHEMA);
    ours.sync.init('todo');
    const payload = c.prepare(ENCODE).pluck().get() as Buffer;
    assert.equal(decodePayload(payload).header.version, 2);
    ours.sync.applyPayload(payload);
    assert.deepEqual(rowsOf(ours.db, 'todo'), rowsOf(c, 'todo'));
  });

  test('a file written by the C extension\'s cloudsync_payload_save loads with our cloudsync_payload_load', () => {
    const c = openReference();
    c.exec("INSERT INTO todo VALUES ('f1', 'saved by C', 1, 'x'), ('f2', 'two', 0, NULL); DELETE FROM todo WHERE id = 'f2'");
    const file = join(mkdtempSync(join(tmpdir(), 'sqlite-sync-interop-')), 'c.payload');
    assert.equal(c.prepare('SELECT cloudsync_payload_save(?)').pluck().get(file), statSync(file).size);
    const ours = openSynced(':memory:', SCHEMA);
    ours.sync.init('todo');
    assert.ok((ours.db.prepare('SELECT cloudsync_payload_load(?)').pluck().get(file) as number) > 0);
    assert.deepEqual(rowsOf(ours.db, 'todo'), rowsOf(c, 'todo'));
    rmSync(dirname(file), { recursive: true, force: true });
  });

  test('our payloads (v1 and v2, compressed and raw) apply in the C extension', () => {
    const ours = openSynced(':memory:', SCHEMA);
    ours.sync.init('todo');
    const insert = ours.db.prepare('INSERT INTO todo VALUES (?, ?, ?, ?)');
    ours.db.transaction(() => {
      for (let i = 0; i < 300; i++) insert.run(`row-${i}`, `title number ${i} é`, BigInt(i % 2), i % 3 === 0 ? null : i % 3 === 1 ? BigInt(-i) : Buffer.from([i % 256, 0]));
    })();
    ours.db.exec("UPDATE todo SET title = 'changed' WHERE id = 'row-7'; DELETE FROM todo WHERE id = 'row-9'");
    const changes = ours.sync.changes();
    // The C extension 1.1.x wants its own schema hash: read it from a payload of its own.
    const probe = openReference();
    probe.exec("INSERT INTO todo (id) VALUES ('probe')");
    const hash = decodePayload(probe.prepare(ENCODE).pluck().get() as Buffer).header.schemaHash;
    for (const version of [1, 2] as const) {
      for (const compress of [true, false]) {
        const c = openReference();
        const payload = encodePayload(changes, { schemaHash: hash, version, compress, libVersion: [1, 1, 4] });
        c.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload);
        assert.deepEqual(rowsOf(c, 'todo'), rowsOf(ours.db, 'todo'), `version ${version}, compress ${compress}`);
      }
    }
  });

  test('concurrent edits on both sides converge to the same rows', () => {
    const c = openReference();
    const ours = openSynced(':memory:', SCHEMA);
    ours.sync.init('todo');
    c.exec("INSERT INTO todo VALUES ('shared', 'start', 0, NULL)");
    ours.sync.applyPayload(c.prepare(ENCODE).pluck().get() as Buffer);
    c.exec("UPDATE todo SET title = 'from C' WHERE id = 'shared'; UPDATE todo SET title = 'from C again' WHERE id = 'shared'");
    ours.db.exec("UPDATE todo SET title = 'from TS', done = 1 WHERE id = 'shared'; INSERT INTO todo VALUES ('ts-only', 'x', 0, NULL)");
    const hash = decodePayload(c.prepare(ENCODE).pluck().get() as Buffer).header.schemaHash;
    const fromC = c.prepare(ENCODE).pluck().get() as Buffer;
    const fromUs = encodePayload(ours.sync.changes(), { schemaHash: hash, libVersion: [1, 1, 4] });
    ours.sync.applyPayload(fromC);
    c.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(fromUs);
    assert.deepEqual(rowsOf(ours.db, 'todo'), rowsOf(c, 'todo'));
    assert.deepEqual(rowsOf(ours.db, 'todo'), [
      ['shared', 'from C again', 1n, null],
      ['ts-only', 'x', 0n, null],
    ]);
  });
});
