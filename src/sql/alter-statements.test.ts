import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alterStatements, mayAlter } from './alter-statements.js';

test('finds the table of every ALTER TABLE, quoted or not, with its schema, whether it renames the table, and a renamed column', () => {
  assert.deepEqual(alterStatements('ALTER TABLE t ADD COLUMN c'), [{ schema: null, table: 't', renamesTable: false, renamesColumn: null }]);
  assert.deepEqual(alterStatements('alter  table\n"my ""t""" rename column a to "b c"'), [
    { schema: null, table: 'my "t"', renamesTable: false, renamesColumn: { from: 'a', to: 'b c' } },
  ]);
  assert.deepEqual(alterStatements('ALTER TABLE main.[x y] RENAME TO z; ALTER TABLE `Été` DROP COLUMN q; ALTER TABLE t RENAME x TO y'), [
    { schema: 'main', table: 'x y', renamesTable: true, renamesColumn: null },
    { schema: null, table: 'Été', renamesTable: false, renamesColumn: null },
    { schema: null, table: 't', renamesTable: false, renamesColumn: { from: 'x', to: 'y' } },
  ]);
  assert.deepEqual(alterStatements("SELECT 'no alter here'"), []);
  assert.equal(mayAlter('CREATE TABLE alter_table (x)'), false);
  assert.equal(mayAlter('Alter Table t rename to u'), true);
});
