// Floors: what the least a tracking design must do costs on this machine, beside our engine, as
// ratios against plain SQLite in the same run. `npm run bench:floors` (options: --rows N --runs N
// --single N).
//
// Every sync engine that merges per cell and sends "the changes since version X" without scanning
// the whole table keeps, for every base row, a metadata row found by primary key, and an index by
// db_version. The rungs below add those parts one at a time, with triggers written in plain SQL
// (no JavaScript unless said), so the figures are lower bounds for any such design on this binding:
//   meta       a trigger writes one meta row (an integer) per base row, no index
//   meta+index the same with an index on the meta row's version
//   +1 js call the same, the value coming from one JavaScript function (what computing a clock costs)
//   direct     sqlite-sync with load(db, { logWrites: false }): the triggers write the meta rows
//   ours       sqlite-sync as shipped (logged writes: the triggers append to a log, folded later)
//   log        no meta row at write time: each write appends (key, version) to a log table, to be
//              folded into per-row clocks later (when syncing); the write side of a log-structured
//              design, whose fold cost moves to the read and apply paths and is not counted here
//   log+mask   the log row a per-cell merge needs (ours has this shape): key, operation, clock
//              (one JavaScript call), the changed columns as a bit mask and the old key of a key
//              change, with the update trigger skipping updates that change nothing
//   log+agg    the same row, its clock from one JavaScript aggregate in a subquery, inserted with
//              INSERT OR IGNORE: nothing in the trigger can abort the statement, so SQLite keeps no
//              statement journal for it. A scalar function call anywhere in a trigger (even abs())
//              makes every writing statement inside a transaction keep one: about 0.5 µs of a 1.2 µs
//              update per row here. See docs/design-log-writes.md, "The statement journal".
// Same table, data and steps as bench/engine.bench.ts (sequential dataset).
//
// For the read and apply paths the floor is what the binding alone costs: reading every meta row
// joined to its base row (what any encoder must read) plus LZ4 at our default level, and writing
// the replica's base and meta rows with prepared statements (what any apply must write). The SQL
// encode runs the aggregate over the cloudsync_changes view: better-sqlite3 converts its nine
// arguments (two of them Buffers) for every row.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { compressBlock, decompressBlock } from '../src/codec/compression.js';
import { decodePayloadHeader } from '../src/codec/payload.js';
import { PAYLOAD_HEADER_SIZE } from '../src/codec/payload-header.js';
import { type CloudSync, load } from '../src/index.js';
import { median, printTable, time } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '5' },
    single: { type: 'string', default: '2000' },
  },
});
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const SINGLE = Number(args.single);
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-floors-'));
const SCHEMA = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)';

type Rung = 'plain' | 'meta' | 'meta+index' | '+1 js call' | 'direct' | 'ours' | 'log' | 'log+mask' | 'log+agg';
const RUNGS: Rung[] = ['plain', 'meta', 'meta+index', '+1 js call', 'direct', 'ours', 'log', 'log+mask', 'log+agg'];
const row = (i: number): [string, string, number, number, string] => [`id${String(i).padStart(6, '0')}`, `a${i}`, i, i * 1.5, 'text'];
let counter = 0;
const apis = new WeakMap<Database.Database, CloudSync>();

function open(storage: string, rung: Rung): Database.Database {
  const db = new Database(storage === 'memory' ? ':memory:' : join(folder, `db-${counter++}.db`));
  if (storage !== 'memory') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.exec(SCHEMA);
  if (rung === 'ours' || rung === 'direct') {
    apis.set(db, load(db, { logWrites: rung === 'ours' }));
    db.prepare("SELECT cloudsync_init('t')").get();
    return db;
  }
  if (rung === 'plain') return db;
  let next = 0;
  db.function('next_clock', () => ++next);
  // an aggregate without a result function: one JavaScript call per group (the step)
  db.aggregate('next_clock_agg', { start: 0, step: () => ++next });
  if (rung === 'log+mask' || rung === 'log+agg') {
    const changed = ['a', 'b', 'c', 'd'].map((c) => `NEW.${c} IS NOT OLD.${c} COLLATE BINARY`);
    const mask = changed.map((c, i) => `((${c}) << ${i})`).join(' | ');
    const same = 'NEW.id IS OLD.id';
    const [insert, clock] = rung === 'log+agg' ? ['INSERT OR IGNORE', '(SELECT next_clock_agg())'] : ['INSERT', 'next_clock()'];
    db.exec(`CREATE TABLE log (pk1 TEXT NOT NULL, op INTEGER NOT NULL, clock INTEGER NOT NULL, mask0 INTEGER NOT NULL DEFAULT 0, opk1 TEXT);
      CREATE TRIGGER log_insert AFTER INSERT ON t BEGIN ${insert} INTO log (pk1, op, clock) VALUES (NEW.id, 1, ${clock}); END;
      CREATE TRIGGER log_update AFTER UPDATE ON t WHEN NOT (${same}) OR ${changed.join(' OR ')} BEGIN
        ${insert} INTO log VALUES (NEW.id, CASE WHEN ${same} THEN 2 ELSE 4 END, ${clock}, ${mask}, CASE WHEN ${same} THEN NULL ELSE OLD.id END);
      END;`);
    return db;
  }
  if (rung === 'log') {
    db.exec(`CREATE TABLE log (pk TEXT NOT NULL, v INTEGER NOT NULL);
      CREATE TRIGGER log_insert AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.id, next_clock()); END;
      CREATE TRIGGER log_update AFTER UPDATE ON t BEGIN INSERT INTO log VALUES (NEW.id, next_clock()); END;`);
    return db;
  }
  const value = rung === '+1 js call' ? 'next_clock()' : '1';
  const update = rung === '+1 js call' ? 'next_clock()' : 'v + 1';
  db.exec(`CREATE TABLE m (pk TEXT PRIMARY KEY NOT NULL, v INTEGER NOT NULL) WITHOUT ROWID;
    ${rung === 'meta' ? '' : 'CREATE INDEX m_v ON m (v);'}
    CREATE TRIGGER m_insert AFTER INSERT ON t BEGIN INSERT INTO m VALUES (NEW.id, ${value}); END;
    CREATE TRIGGER m_update AFTER UPDATE ON t BEGIN UPDATE m SET v = ${update} WHERE pk = NEW.id; END;`);
  return db;
}

interface Figures {
  insert: number;
  update: number;
  single: number;
}

function runOnce(storage: string, rung: Rung): Figures {
  const db = open(storage, rung);
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  const figures = { insert: 0, update: 0, single: 0 };
  figures.insert = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(...row(i));
  })());
  figures.update = time(() => db.transaction(() => {
    for (let i = 0; i < ROWS; i++) update.run(i + 1, row(i)[0]);
  })());
  figures.single = time(() => {
    for (let i = ROWS; i < ROWS + SINGLE; i++) insert.run(...row(i));
  });
  db.close();
  return figures;
}

interface PathFigures {
  changes: number;
  fetch: number;
  compress: number;
  encode: number;
  encodeSql: number;
  write: number;
  apply: number;
}

/** The read and apply paths on a WAL file or in memory: the binding's share against ours. */
function runPaths(storage: string): PathFigures {
  const db = open(storage, 'ours');
  const api = apis.get(db) as CloudSync;
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(...row(i));
  })();
  const update = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) update.run(i + 1, row(i)[0]);
  })();
  const changes = db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get() as number;
  const read = db.prepare('SELECT m.pk1, m.clocks, b.id IS NOT NULL, b.a, b.b, b.c, b.d FROM t_cloudsync AS m LEFT JOIN t AS b ON b.id = m.pk1 WHERE m.db_version >= 0 ORDER BY m.db_version').raw(true);
  read.safeIntegers(true);
  const fetch = time(() => {
    for (const values of read.iterate()) void values;
  });
  let payload: Uint8Array | null = null;
  const encode = time(() => (payload = api.encodePayload()));
  const encodeSql = time(() => db.prepare(`SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes`).pluck().get());
  const header = decodePayloadHeader(payload as unknown as Uint8Array);
  const body = decompressBlock((payload as unknown as Uint8Array).subarray(PAYLOAD_HEADER_SIZE), header.expandedSize);
  const compress = time(() => compressBlock(body));
  const rows = db.prepare('SELECT id, a, b, c, d FROM t').raw(true).all() as unknown[][];
  const metaRows = db.prepare('SELECT pk1, clocks FROM t_cloudsync').raw(true).all() as unknown[][];
  db.close();
  const target = open(storage, 'plain');
  target.exec('CREATE TABLE m (pk TEXT PRIMARY KEY NOT NULL, v NOT NULL) WITHOUT ROWID; CREATE INDEX m_v ON m (CAST(v AS INTEGER));');
  const putBase = target.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?)');
  const putMeta = target.prepare('INSERT INTO m VALUES (?, ?)');
  const write = time(() => target.transaction(() => {
    for (const r of rows) putBase.run(...r);
    for (const r of metaRows) putMeta.run(...r);
  })());
  target.close();
  const replica = open(storage, 'ours');
  const decode = replica.prepare('SELECT cloudsync_payload_decode(?)').pluck();
  const apply = time(() => replica.transaction(() => decode.get(payload))());
  replica.close();
  return { changes, fetch, compress, encode, encodeSql, write, apply };
}

const lines: string[][] = [];
for (const storage of ['memory', 'wal-file']) {
  const runs = new Map<Rung, Figures[]>(RUNGS.map((r) => [r, []]));
  // interleaved, so that a slow spell of the machine hits every rung alike
  for (let run = 0; run < RUNS; run++) for (const rung of RUNGS) runs.get(rung)?.push(runOnce(storage, rung));
  const pick = (rung: Rung, key: keyof Figures) => median((runs.get(rung) ?? []).map((f) => f[key]));
  const measures: [keyof Figures, string][] = [
    ['insert', `insert ${ROWS} rows, 1 tx`],
    ['update', 'update b of every row, 1 UPDATE per row, 1 tx'],
    ['single', `${SINGLE} single-row insert transactions`],
  ];
  for (const [key, label] of measures) {
    const plain = pick('plain', key);
    lines.push([storage, `${label} (plain ${plain.toFixed(0)} ms)`, ...RUNGS.slice(1).map((rung) => `×${(pick(rung, key) / plain).toFixed(2)}`)]);
  }
}
const pathLines: string[][] = [];
for (const storage of ['memory', 'wal-file']) {
  const runs = Array.from({ length: RUNS }, () => runPaths(storage));
  const pick = (key: keyof PathFigures) => median(runs.map((f) => f[key]));
  const rate = (ms: number) => `${Math.round(pick('changes') / (ms / 1000)).toLocaleString('en')}/s`;
  pathLines.push(
    [storage, `encode ${pick('changes')} changes (TypeScript API)`, `${rate(pick('fetch') + pick('compress'))} (read ${pick('fetch').toFixed(0)} ms + LZ4 ${pick('compress').toFixed(0)} ms)`, rate(pick('encode'))],
    [storage, 'encode them through SQL (aggregate over cloudsync_changes)', '', rate(pick('encodeSql'))],
    [storage, 'apply them to a fresh replica', `${rate(pick('write'))} (base + meta rows, prepared inserts)`, rate(pick('apply'))],
  );
}
printTable(`rows ${ROWS}, median of ${RUNS} interleaved runs, node ${process.version}`, ['storage', 'measure', ...RUNGS.slice(1)], lines);
printTable('', ['storage', 'measure', 'binding alone (ceiling)', 'ours'], pathLines);
rmSync(folder, { recursive: true, force: true });
