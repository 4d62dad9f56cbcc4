import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alterStatements, mayAlter } from './alter-statements.js';

test('finds the table of every ALTER TABLE, quoted or not, with its schema and whether it renames the table', () => {
  assert.deepEqual(alterStatements('ALTER TABLE t ADD COLUMN c'), [{ schema: null, table: 't', renamesTable: false }]);
  assert.deepEqual(alterStatements('alter  table\n"my ""t""" rename column a to b'), [{ schema: null, table: 'my "t"', renamesTable: false }]);
  assert.deepEqual(alterStatements('ALTER TABLE main.[x y] RENAME TO z; ALTER TABLE `Été` DROP COLUMN q'), [
    { schema: 'main', table: 'x y', renamesTable: true },
    { schema: null, table: 'Été', renamesTable: false },
  ]);
  assert.deepEqual(alterStatements("SELECT 'no alter here'"), []);
  assert.equal(mayAlter('CREATE TABLE alter_table (x)'), false);
  assert.equal(mayAlter('Alter Table t rename to u'), true);
});
