// Schema hash against the reference vectors, plus the normalisation rules derived from them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadVectors } from '../../test/vectors.js';
import { normalizeSchemaSql, schemaHash, toSignedInt64, toUnsignedInt64 } from './schema-hash.js';

interface SchemaHashVector {
  create_order: string[];
  hash: string;
}

test('schema-hash.json: every entry', () => {
  const vectors = loadVectors<SchemaHashVector[]>('schema-hash');
  assert.ok(vectors.length > 0);
  for (const { create_order, hash } of vectors) assert.equal(schemaHash(create_order), BigInt(hash), create_order.join(' | '));
});

test('normalisation: whitespace, comments and semicolons outside quotes', () => {
  const n = (sql: string) => normalizeSchemaSql(sql);
  assert.equal(n('create   table  t (  a text , b )  ;'), 'create table t( a text, b)');
  assert.equal(n('  create table t(a) -- trailing\n'), 'create table t(a)');
  assert.equal(n('create table t(a /* x */, b)'), 'create table t(a, b)');
  assert.equal(n('create\ttable\r\nt(a\x01b)'), 'create table t(ab)');
  assert.equal(n("create table t(a default 'x  -- y;  ')"), "create table t(a default 'x  -- y;  ')");
  assert.equal(n('create table "a ""b"" c"(x)'), 'create table "a "b" c"(x)');
  assert.equal(n("create table t(a default 'it''s')"), "create table t(a default 'it's')");
});

test('schemaHash lowers ASCII only, like SQLite lower()', () => {
  assert.equal(schemaHash(['CREATE TABLE T(A)']), schemaHash(['create table t(a)']));
  assert.notEqual(schemaHash(['create table t(a default \'É\')']), schemaHash(['create table t(a default \'é\')']));
  assert.notEqual(schemaHash(["create table t(a default 'A  B')"]), schemaHash(["create table t(a default 'a b')"]));
});

test('schemaHash depends on table order (group_concat in creation order)', () => {
  const a = 'CREATE TABLE a (x)';
  const b = 'CREATE TABLE b (y)';
  assert.notEqual(schemaHash([a, b]), schemaHash([b, a]));
});

test('signed and unsigned 64-bit views of a hash', () => {
  assert.equal(toSignedInt64(18446744073709551615n), -1n);
  assert.equal(toUnsignedInt64(-1n), 18446744073709551615n);
  assert.equal(toSignedInt64(2n ** 63n), -(2n ** 63n));
  for (const h of [0n, 1n, 2n ** 63n - 1n, 2n ** 63n, 14694177114114683052n]) assert.equal(toUnsignedInt64(toSignedInt64(h)), h);
});
