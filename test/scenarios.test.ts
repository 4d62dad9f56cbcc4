// Replays every merge scenario of the reference (test/fixtures/vectors/scenarios.json) through our
// payloads, on in-memory databases and on WAL files, and compares every site's rows.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { load } from '../src/index.js';
import { loadVectors, toTyped } from './vectors.js';

interface Typed {
  t: string;
  v?: unknown;
}
type Step =
  | { site: string; sql: string; expectError?: boolean }
  | { send: string; to: string; only: 'local' | 'all'; expectError?: boolean };
interface Scenario {
  name: string;
  sites: string[];
  schema: string[];
  init: string[];
  tables: string[];
  steps: Step[];
  expect: Record<string, Record<string, Record<string, Typed>[]>>;
}

const scenarios = loadVectors('scenarios') as Scenario[];
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-scenarios-'));
after(() => rmSync(folder, { recursive: true, force: true }));

const ENCODE_ALL = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes';
const ENCODE_LOCAL = `${ENCODE_ALL} WHERE site_id = cloudsync_siteid()`;

/** Runs one scenario and returns every site's rows of every table, typed like the vectors. */
export function replay(scenario: Scenario, file: (site: string) => string): Record<string, Record<string, Typed[][]>> {
  const sites = new Map<string, Database.Database>();
  for (const name of scenario.sites) {
    const db = new Database(file(name));
    if (db.name !== ':memory:') db.pragma('journal_mode = WAL');
    load(db);
    for (const sql of scenario.schema) db.exec(sql);
    for (const sql of scenario.init) db.exec(sql);
    sites.set(name, db);
  }
  const site = (name: string) => sites.get(name) ?? assert.fail(`unknown site ${name}`);
  for (const [index, step] of scenario.steps.entries()) {
    const run = () => {
      if ('sql' in step) {
        site(step.site).exec(step.sql);
        return;
      }
      const payload = site(step.send).prepare(step.only === 'local' ? ENCODE_LOCAL : ENCODE_ALL).pluck().get();
      if (payload === null) return;
      site(step.to).prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload);
    };
    if (step.expectError) assert.throws(run, `step ${index} should fail`);
    else run();
  }
  const rows: Record<string, Record<string, Typed[][]>> = {};
  for (const [name, db] of sites) {
    rows[name] = {};
    for (const table of scenario.tables) {
      const quoted = `"${table.replaceAll('"', '""')}"`;
      const count = db.prepare(`SELECT * FROM ${quoted}`).columns().length;
      const order = Array.from({ length: count }, (_, i) => i + 1).join(', ');
      const result = db.prepare(`SELECT * FROM ${quoted} ORDER BY ${order}`).safeIntegers(true).raw(true).all() as unknown[][];
      (rows[name] as Record<string, Typed[][]>)[table] = result.map((row) => row.map((v) => toTyped(v as never) as Typed));
    }
    db.close();
  }
  return rows;
}

for (const storage of ['memory', 'wal-file'] as const) {
  describe(`reference scenarios (${storage})`, () => {
    for (const scenario of scenarios) {
      test(scenario.name, () => {
        const rows = replay(scenario, (name) => (storage === 'memory' ? ':memory:' : join(folder, `${scenario.name}-${name}.db`)));
        for (const name of scenario.sites) {
          for (const table of scenario.tables) {
            const expected = (scenario.expect[name]?.[table] ?? []).map((row) => Object.values(row));
            assert.deepEqual(rows[name]?.[table], expected, `site ${name}, table ${table}`);
          }
        }
      });
    }
  });
}
