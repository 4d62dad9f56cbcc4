// Engine benchmark: the cost of tracking and syncing a table, as ratios against plain SQLite in the
// same run and the same binding, and beside the C extension (the npm build of sqlite-sync 1.1.4,
// a development dependency) when it is installed. `npm run bench` (options: --rows N --runs N
// --single N --data uuid|sequential|both).
//
// Table t(id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT): N rows inserted in one
// transaction, then column b of every row updated in one transaction (one UPDATE per row, and once
// more as a single set-based UPDATE of c), single-row insert transactions, then every change
// encoded into one payload and applied to a freshly initialised replica; on :memory: and on a WAL
// file (synchronous = NORMAL). Datasets: "uuid" (UUIDv7 keys, varied values: what an app writes)
// and "sequential" (keys id000001…, values a1…, i, i*1.5, 'text': like the figures the brief quotes
// for the C extension). Ours logs its writes (the default, docs/design-log-writes.md), so its encode
// includes folding them into the meta rows; "direct writes" is load(db, { logWrites: false }).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { median, printTable, time } from './bench-support.js';
import { createUuidBytes, formatUuid } from '../src/engine/uuid.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '3' },
    single: { type: 'string', default: '5000' },
    data: { type: 'string', default: 'both' },
  },
});
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const SINGLE = Number(args.single);
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-bench-'));
const SCHEMA = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)';
const ENCODE_SQL = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes';

type Row = [string, string, number, number, string];
type Engine = 'plain' | 'ours' | 'direct' | 'c';

const datasets: Record<string, (i: number) => Row> = {
  uuid: (() => {
    const ids = Array.from({ length: ROWS + SINGLE }, (_, i) => formatUuid(createUuidBytes(1_700_000_000_000 + i)));
    return (i: number): Row => [ids[i] as string, `name ${i}`, i, i * 0.5, `description of row ${i % 997}`];
  })(),
  sequential: (i: number): Row => [`id${String(i).padStart(6, '0')}`, `a${i}`, i, i * 1.5, 'text'],
};

const cExtension = (() => {
  try {
    const require = createRequire(import.meta.url);
    const path = join(dirname(require.resolve('@sqliteai/sqlite-sync-linux-x86_64/package.json')), 'cloudsync');
    return existsSync(`${path}.so`) ? path : null;
  } catch {
    return null;
  }
})();

let counter = 0;
const apis = new WeakMap<Database.Database, CloudSync>();

function open(storage: string, engine: Engine): Database.Database {
  const file = storage === 'memory' ? ':memory:' : join(folder, `db-${counter++}.db`);
  const db = new Database(file);
  if (file !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  if (engine === 'ours' || engine === 'direct') apis.set(db, load(db, { logWrites: engine === 'ours' }));
  if (engine === 'c') db.loadExtension(cExtension as string);
  db.exec(SCHEMA);
  if (engine !== 'plain') db.prepare("SELECT cloudsync_init('t')").get();
  return db;
}

interface Figures {
  insert: number;
  update: number;
  updateSet: number;
  single: number;
  encode: number;
  changes: number;
  bytes: number;
  apply: number;
}

function runOnce(storage: string, engine: Engine, row: (i: number) => Row): Figures {
  const db = open(storage, engine);
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  const figures: Figures = { insert: 0, update: 0, updateSet: 0, single: 0, encode: 0, changes: 0, bytes: 0, apply: 0 };
  figures.insert = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(...row(i));
  })());
  // what an app does: one UPDATE per row, all in one transaction
  figures.update = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) update.run(i + 1, row(i)[0]);
  })());
  // one set-based statement: plain SQLite does one B-tree pass, the worst case for triggers
  figures.updateSet = time(() => db.transaction(() => db.prepare('UPDATE t SET c = c + 1').run())());
  figures.single = time(() => {
    for (let i = ROWS; i < ROWS + SINGLE; i++) insert.run(...row(i));
  });
  if (engine !== 'plain') {
    let payload: Uint8Array | null = null;
    const api = apis.get(db);
    figures.encode = time(() => {
      payload = api ? api.encodePayload() : (db.prepare(ENCODE_SQL).pluck().get() as Buffer);
    });
    figures.changes = db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get() as number;
    figures.bytes = (payload as Uint8Array | null)?.length ?? 0;
    const replica = open(storage, engine);
    const decode = replica.prepare('SELECT cloudsync_payload_decode(?)').pluck();
    // the C extension applies row by row in autocommit: give it one transaction, as we use one
    figures.apply = time(() => replica.transaction(() => decode.get(payload))());
    const count = replica.prepare('SELECT count(*) FROM t').pluck().get() as number;
    if (count !== ROWS + SINGLE) throw new Error(`${engine}: replica has ${count} rows, expected ${ROWS + SINGLE}`);
    replica.close();
  }
  db.close();
  return figures;
}

const engines: Engine[] = cExtension ? ['plain', 'ours', 'direct', 'c'] : ['plain', 'ours', 'direct'];
const lines: string[][] = [];
const wanted = args.data === 'both' ? ['uuid', 'sequential'] : [String(args.data)];
for (const data of wanted) {
  const row = datasets[data];
  if (!row) throw new Error(`unknown dataset ${data}`);
  for (const storage of ['memory', 'wal-file']) {
    // runs interleave the engines, so that the machine's slow and fast spells reach every column
    const runs = new Map<Engine, Figures[]>(engines.map((engine) => [engine, []]));
    for (let r = 0; r < RUNS; r++) for (const engine of engines) runs.get(engine)?.push(runOnce(storage, engine, row));
    const m: Record<string, Figures> = {};
    for (const engine of engines) {
      const list = runs.get(engine) ?? [];
      const pick = (key: keyof Figures) => median(list.map((r) => r[key]));
      m[engine] = { insert: pick('insert'), update: pick('update'), updateSet: pick('updateSet'), single: pick('single'), encode: pick('encode'), changes: pick('changes'), bytes: pick('bytes'), apply: pick('apply') };
    }
    const plain = m.plain as Figures;
    const ratio = (engine: Engine, key: keyof Figures) => (m[engine] ? `×${((m[engine] as Figures)[key] / plain[key]).toFixed(2)} (${(m[engine] as Figures)[key].toFixed(0)} ms)` : 'n/a');
    const rate = (engine: Engine, key: keyof Figures) => {
      const f = m[engine];
      return f ? `${Math.round(f.changes / (f[key] / 1000)).toLocaleString('en')}/s` : 'n/a';
    };
    const perChange = (engine: Engine) => (m[engine] ? `${((m[engine] as Figures).bytes / (m[engine] as Figures).changes).toFixed(2)}` : 'n/a');
    const at = `${data}, ${storage}`;
    lines.push(
      [at, `insert ${ROWS} rows, 1 tx (plain ${plain.insert.toFixed(0)} ms)`, ratio('ours', 'insert'), ratio('direct', 'insert'), ratio('c', 'insert')],
      [at, `update b of every row, 1 UPDATE per row, 1 tx (plain ${plain.update.toFixed(0)} ms)`, ratio('ours', 'update'), ratio('direct', 'update'), ratio('c', 'update')],
      [at, `update c of every row, 1 set-based UPDATE (plain ${plain.updateSet.toFixed(0)} ms)`, ratio('ours', 'updateSet'), ratio('direct', 'updateSet'), ratio('c', 'updateSet')],
      [at, `${SINGLE} single-row insert transactions (plain ${plain.single.toFixed(0)} ms)`, ratio('ours', 'single'), ratio('direct', 'single'), ratio('c', 'single')],
      [at, `encode all ${(m.ours as Figures).changes} changes into one payload, changes/s`, rate('ours', 'encode'), rate('direct', 'encode'), rate('c', 'encode')],
      [at, 'apply that payload to a fresh replica, changes/s', rate('ours', 'apply'), rate('direct', 'apply'), rate('c', 'apply')],
      [at, 'payload bytes per change', perChange('ours'), perChange('direct'), perChange('c')],
    );
  }
}
const header = ['data, storage', 'measure', 'sqlite-sync (TS)', 'TS, direct writes', cExtension ? 'C extension 1.1.4' : 'C extension (not installed)'];
printTable(`rows ${ROWS}, median of ${RUNS} runs, node ${process.version}; our encode goes through the TypeScript API, the C extension's through SQL`, header, lines);
rmSync(folder, { recursive: true, force: true });
