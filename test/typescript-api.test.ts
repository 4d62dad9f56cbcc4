// The typed API's reads for syncing: filters by position and by site, and chunked payloads
// whose watermarks let a receiver catch up one payload at a time.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePayload } from '../src/index.js';
import { openSynced, rowsOf } from './support/databases.js';

const ITEMS = 'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER)';

describe('change filters', () => {
  test('sinceDbVersion and sinceSeq resume exactly after a watermark', () => {
    const { db, sync } = openSynced(':memory:', ITEMS);
    sync.init('items');
    db.exec("INSERT INTO items VALUES ('a', 'x', 1), ('b', 'y', 2)");
    db.exec("UPDATE items SET n = 3 WHERE id = 'a'");
    const all = sync.changes();
    const cut = all[2] as (typeof all)[number];
    const rest = sync.changes({ sinceDbVersion: cut.dbVersion, sinceSeq: cut.seq });
    assert.deepEqual(rest, all.slice(3));
    assert.deepEqual(sync.changes({ sinceDbVersion: all[all.length - 1]?.dbVersion }), []);
  });

  test('site and excludeSite select by origin; an unknown site matches nothing', () => {
    const a = openSynced(':memory:', ITEMS);
    const b = openSynced(':memory:', ITEMS);
    for (const { sync } of [a, b]) sync.init('items');
    a.db.exec("INSERT INTO items VALUES ('from-a', 'x', 1)");
    b.sync.applyPayload(a.sync.encodePayload() as Uint8Array);
    b.db.exec("INSERT INTO items VALUES ('from-b', 'y', 2)");
    const aSite = a.sync.siteId() as Uint8Array;
    const keysOf = (changes: { pk: Uint8Array }[]) => [...new Set(changes.map((c) => Buffer.from(c.pk).toString('hex')))].length;
    assert.equal(keysOf(b.sync.changes({ excludeSite: aSite })), 1);
    assert.equal(keysOf(b.sync.changes({ site: aSite })), 1);
    assert.equal(keysOf(b.sync.changes({ site: 'local' })), 1);
    assert.equal(b.sync.changes().length, 4);
    const stranger = new Uint8Array(16).fill(7);
    assert.deepEqual(b.sync.changes({ site: stranger }), []);
    assert.equal(b.sync.changes({ excludeSite: stranger }).length, 4);
    assert.equal(b.db.prepare('SELECT count(*) FROM cloudsync_site_id').pluck().get(), 2, 'a filter adds no site');
  });
});

describe('chunked payloads', () => {
  test('payloads stay near the size limit, end at version boundaries, and rebuild the table in order', () => {
    const source = openSynced(':memory:', ITEMS);
    source.sync.init('items');
    const insert = source.db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    for (let tx = 0; tx < 40; tx++) {
      source.db.transaction(() => {
        for (let i = 0; i < 25; i++) insert.run(`k${tx}-${i}`, `body ${tx} ${i} ${'x'.repeat(40)}`, tx * 100 + i);
      })();
    }
    const maxBytes = 16 * 1024;
    const chunks = source.sync.encodePayloads({}, { maxBytes });
    assert.ok(chunks.length > 3, `${chunks.length} chunks`);
    const target = openSynced(':memory:', ITEMS);
    target.sync.init('items');
    let previous = { dbVersion: 0, seq: -1 };
    let total = 0;
    for (const [i, chunk] of chunks.entries()) {
      const { header, changes } = decodePayload(chunk.payload);
      assert.ok(header.expandedSize === 0 || header.expandedSize < maxBytes + 1024, `chunk ${i}: ${header.expandedSize} bytes`);
      const first = changes[0] as (typeof changes)[number];
      const last = changes[changes.length - 1] as (typeof changes)[number];
      assert.deepEqual(chunk.last, { dbVersion: last.dbVersion, seq: last.seq });
      assert.ok(first.dbVersion > previous.dbVersion, `chunk ${i} starts a new db_version`);
      previous = chunk.last;
      total += chunk.count;
      target.sync.applyPayload(chunk.payload);
    }
    assert.equal(total, source.sync.changes().length);
    assert.deepEqual(rowsOf(target.db, 'items'), rowsOf(source.db, 'items'));
  });

  test('one transaction larger than the limit is split inside it', () => {
    const source = openSynced(':memory:', ITEMS);
    source.sync.init('items');
    const insert = source.db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    source.db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`k${i}`, 'y'.repeat(50), i);
    })();
    const chunks = source.sync.encodePayloads({}, { maxBytes: 32 * 1024 });
    assert.ok(chunks.length >= 4);
    for (const chunk of chunks) assert.ok(decodePayload(chunk.payload).header.expandedSize < 40 * 1024);
  });
});
