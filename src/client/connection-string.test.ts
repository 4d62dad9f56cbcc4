import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointsFor, parseConnectionString } from './connection-string.js';

describe('connection strings', () => {
  const site = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
  it('turns sqlitecloud:// into https on port 443, as the reference does', () => {
    for (const text of ['sqlitecloud://abc.sqlite.cloud/test.sqlite', 'sqlitecloud://abc.sqlite.cloud:8860/test.sqlite']) {
      const target = parseConnectionString(text);
      assert.equal(target.origin, 'https://abc.sqlite.cloud:443');
      assert.equal(target.databasePath, '/test.sqlite');
      assert.equal(target.credential, null);
    }
    assert.equal(parseConnectionString('sqlitecloud://h:9000/db').origin, 'https://h:9000');
  });
  it('keeps http:// and https:// URLs, reading apikey before token', () => {
    const target = parseConnectionString('http://127.0.0.1:8091/todos.sqlite?token=t1&apikey=k1');
    assert.equal(target.origin, 'http://127.0.0.1:8091');
    assert.deepEqual(target.credential, { kind: 'apikey', value: 'k1' });
    assert.deepEqual(parseConnectionString('https://h/db?token=t1').credential, { kind: 'token', value: 't1' });
    assert.equal(parseConnectionString('https://h/db').origin, 'https://h:443');
  });
  it('builds the v1 endpoints with the site id as 32 lowercase hex digits', () => {
    const endpoints = endpointsFor(parseConnectionString('http://h:1/db.sqlite/'), site);
    assert.equal(endpoints.check, 'http://h:1/v1/cloudsync/db.sqlite/00112233445566778899aabbccddeeff');
    assert.equal(endpoints.upload, `${endpoints.check}/upload`);
  });
  it('refuses what it cannot use, with the reason', () => {
    assert.throws(() => parseConnectionString('not a url'), /invalid connection string/);
    assert.throws(() => parseConnectionString('ftp://h/db'), /unsupported scheme/);
    assert.throws(() => parseConnectionString('http://h:1/'), /names no database/);
  });
});
