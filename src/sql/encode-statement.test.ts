import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEncodeStatement } from './encode-statement.js';

const CALL = 'cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq)';
const SITE = new Uint8Array(16).fill(7);

test("recognises the brief's statement with its filters, and names the column as SQLite does", () => {
  const plain = parseEncodeStatement(`SELECT ${CALL} FROM cloudsync_changes`);
  assert.equal(plain?.column, CALL);
  assert.deepEqual(plain?.parameters, []);
  assert.deepEqual(plain?.filter([], SITE), {});
  const both = parseEncodeStatement(`select ${CALL} as "my ""p""" from cloudsync_changes where site_id = cloudsync_siteid() and db_version > ?;`);
  assert.equal(both?.column, 'my "p"');
  assert.deepEqual(both?.parameters, ['?']);
  assert.deepEqual(both?.filter([41n], SITE), { site: 'local', sinceDbVersion: 41 });
  const multiline = parseEncodeStatement(`SELECT cloudsync_payload_encode( tbl,pk, col_name,\n col_value, col_version, db_version, site_id, cl, seq )\n  FROM cloudsync_changes\n WHERE db_version >= :since AND site_id <> cloudsync_siteid( )`);
  assert.equal(multiline?.column, 'cloudsync_payload_encode( tbl,pk, col_name,\n col_value, col_version, db_version, site_id, cl, seq )');
  assert.deepEqual(multiline?.parameters, [':since']);
  assert.deepEqual(multiline?.filter([10n], SITE), { excludeSite: SITE, sinceDbVersion: 9 });
  assert.equal(multiline?.filter([10n], null), null, 'no local site: nothing is from another site either');
  assert.deepEqual(parseEncodeStatement(`SELECT ${CALL} payload FROM cloudsync_changes WHERE db_version > -3`)?.parameters, ['-3']);
});

test('leaves every other shape to the view', () => {
  for (const sql of [
    `SELECT hex(${CALL}) FROM cloudsync_changes`,
    `SELECT ${CALL}, 1 FROM cloudsync_changes`,
    `SELECT ${CALL} FROM cloudsync_changes WHERE tbl = 'items'`,
    `SELECT ${CALL} FROM cloudsync_changes WHERE db_version > 1 AND db_version > 2`,
    `SELECT ${CALL} FROM cloudsync_changes WHERE db_version > 1 OR site_id = cloudsync_siteid()`,
    `SELECT ${CALL} FROM cloudsync_changes WHERE db_version > abs(-1)`,
    `SELECT ${CALL} FROM (SELECT * FROM cloudsync_changes)`,
    `SELECT ${CALL} FROM cloudsync_changes LIMIT 10`,
    `SELECT ${CALL} FROM cloudsync_changes; SELECT 1`,
    `SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, seq, cl) FROM cloudsync_changes`,
    `SELECT ${CALL} FROM cloudsync_changes_other`,
    `SELECT ${CALL} where FROM cloudsync_changes`,
  ]) {
    assert.equal(parseEncodeStatement(sql), null, sql);
  }
});

test('compares db_version with a bound value as SQLite does', () => {
  const since = (op: '>' | '>=', value: unknown) => parseEncodeStatement(`SELECT ${CALL} FROM cloudsync_changes WHERE db_version ${op} ?`)?.filter([value as never], SITE) ?? null;
  assert.deepEqual(since('>', 5), { sinceDbVersion: 5 });
  assert.deepEqual(since('>', 5.5), { sinceDbVersion: 5 });
  assert.deepEqual(since('>=', 5.5), { sinceDbVersion: 5 });
  assert.deepEqual(since('>=', 5), { sinceDbVersion: 4 });
  assert.deepEqual(since('>', -0.5), { sinceDbVersion: -1 });
  assert.deepEqual(since('>=', -0.5), { sinceDbVersion: -1 });
  assert.deepEqual(since('>', -(10n ** 30n)), { sinceDbVersion: -1 });
  assert.deepEqual(since('>', Number.NEGATIVE_INFINITY), { sinceDbVersion: -1 });
  // TEXT, BLOB and NULL are never below an INTEGER here (no affinity in the view); huge values pass nothing
  for (const value of ['5', new Uint8Array([1]), null, Number.NaN, 1e300, 2n ** 63n, Number.POSITIVE_INFINITY]) assert.equal(since('>', value), null, String(value));
});
