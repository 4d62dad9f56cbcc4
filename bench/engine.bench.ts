// Engine benchmark: the cost of tracking and syncing a table, as ratios against plain SQLite in the
// same run and the same binding. `npm run bench` (options: --rows N --runs N).
//
// Table t(id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT): N rows inserted in one
// transaction, then column b of every row updated in one transaction, then every change encoded
// into one payload and applied to a freshly initialised replica; on :memory: and on a WAL file.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { createUuidBytes, formatUuid } from '../src/engine/uuid.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' }, single: { type: 'string', default: '2000' } } });
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const SINGLE = Number(args.single);
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-bench-'));
const SCHEMA = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)';
let counter = 0;
const ids = Array.from({ length: ROWS + SINGLE }, (_, i) => formatUuid(createUuidBytes(1_700_000_000_000 + i)));

/** The typed API of each synced connection, for the encode measurement. */
const apis = new WeakMap<Database.Database, CloudSync>();

function open(storage: string, synced: boolean): Database.Database {
  const file = storage === 'memory' ? ':memory:' : join(folder, `db-${counter++}.db`);
  const db = new Database(file);
  if (file !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  if (synced) apis.set(db, load(db));
  db.exec(SCHEMA);
  if (synced) db.prepare("SELECT cloudsync_init('t')").get();
  return db;
}

function time(work: () => void): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function writeRows(db: Database.Database): { insert: number; update: number; updateSet: number; single: number } {
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  const insertMs = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(ids[i], `name ${i}`, i, i * 0.5, `description of row ${i % 997}`);
  })());
  // what an app does: one UPDATE per row, all in one transaction
  const updateMs = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) update.run(i + 1, ids[i]);
  })());
  // one set-based statement: the plain side is a single B-tree pass, the worst case for triggers
  const updateSetMs = time(() => db.transaction(() => db.prepare('UPDATE t SET c = c + 1').run())());
  const singleMs = time(() => {
    for (let i = ROWS; i < ROWS + SINGLE; i++) insert.run(ids[i], `name ${i}`, i, i * 0.5, 'single');
  });
  return { insert: insertMs, update: updateMs, updateSet: updateSetMs, single: singleMs };
}

interface Figures {
  plainInsert: number; syncInsert: number; plainUpdate: number; syncUpdate: number; plainUpdateSet: number; syncUpdateSet: number; plainSingle: number; syncSingle: number;
  encode: number; encodeSql: number; changes: number; bytes: number; apply: number;
}

function runOnce(storage: string): Figures {
  const plain = open(storage, false);
  const p = writeRows(plain);
  plain.close();
  const db = open(storage, true);
  const s = writeRows(db);
  // Encode through the TypeScript API (the path the network layer uses) and through SQL.
  const api = apis.get(db);
  if (!api) throw new Error('not synced');
  let payload: Uint8Array | null = null;
  let changes = 0;
  const encode = time(() => {
    payload = api.encodePayload();
  });
  changes = api.changes().length;
  const encodeSql = time(() => {
    db.prepare('SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes').pluck().get();
  });
  db.close();
  const replica = open(storage, true);
  const bytes = (payload as Uint8Array | null)?.length ?? 0;
  const apply = time(() => replica.prepare('SELECT cloudsync_payload_decode(?)').pluck().get(payload));
  const count = replica.prepare('SELECT count(*) FROM t').pluck().get() as number;
  if (count !== ROWS + SINGLE) throw new Error(`replica has ${count} rows, expected ${ROWS + SINGLE}`);
  replica.close();
  return {
    plainInsert: p.insert, syncInsert: s.insert, plainUpdate: p.update, syncUpdate: s.update, plainUpdateSet: p.updateSet, syncUpdateSet: s.updateSet, plainSingle: p.single, syncSingle: s.single,
    encode, encodeSql, changes, bytes, apply,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const rows: string[][] = [];
for (const storage of ['memory', 'wal-file']) {
  const runs = Array.from({ length: RUNS }, () => runOnce(storage));
  const m = (key: keyof Figures) => median(runs.map((r) => r[key]));
  const changes = m('changes');
  rows.push(
    [storage, `insert ${ROWS} rows (1 tx)`, `${m('plainInsert').toFixed(1)} ms`, `${m('syncInsert').toFixed(1)} ms`, `×${(m('syncInsert') / m('plainInsert')).toFixed(2)}`],
    [storage, `update 1 column of every row (1 tx, 1 statement per row)`, `${m('plainUpdate').toFixed(1)} ms`, `${m('syncUpdate').toFixed(1)} ms`, `×${(m('syncUpdate') / m('plainUpdate')).toFixed(2)}`],
    [storage, `update 1 column of every row (1 set-based statement)`, `${m('plainUpdateSet').toFixed(1)} ms`, `${m('syncUpdateSet').toFixed(1)} ms`, `×${(m('syncUpdateSet') / m('plainUpdateSet')).toFixed(2)}`],
    [storage, `${SINGLE} single-row transactions`, `${m('plainSingle').toFixed(1)} ms`, `${m('syncSingle').toFixed(1)} ms`, `×${(m('syncSingle') / m('plainSingle')).toFixed(2)}`],
    [storage, `encode ${changes} changes (TypeScript API)`, '', `${m('encode').toFixed(1)} ms`, `${Math.round(changes / (m('encode') / 1000)).toLocaleString('en')} changes/s`],
    [storage, `encode ${changes} changes (SQL aggregate)`, '', `${m('encodeSql').toFixed(1)} ms`, `${Math.round(changes / (m('encodeSql') / 1000)).toLocaleString('en')} changes/s`],
    [storage, `apply to a fresh replica`, '', `${m('apply').toFixed(1)} ms`, `${Math.round(changes / (m('apply') / 1000)).toLocaleString('en')} changes/s`],
    [storage, `payload size`, '', `${m('bytes').toLocaleString('en')} B`, `${(m('bytes') / changes).toFixed(2)} B/change`],
  );
}
const header = ['storage', 'operation', 'plain SQLite', 'sqlite-sync', 'ratio / rate'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
console.log(`rows: ${ROWS}, runs: ${RUNS} (median), node ${process.version}`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
rmSync(folder, { recursive: true, force: true });
