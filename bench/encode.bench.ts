// Encode benchmark: the outgoing side, beside the C extension in the same run. `npm run bench:encode`
// (options: --rows N --runs N).
//
// Table t(id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT), sequential data (keys
// id000001…, values a1…, i, i*1.5, 'text'); N rows inserted in one transaction, then column b of
// every row updated (one UPDATE per row, one transaction): 4·N changes. Then the brief's statement,
// SELECT cloudsync_payload_encode(…) FROM cloudsync_changes, right after the writes (ours folds its
// logged writes into the meta rows first) and once more with nothing new; ours also through the
// TypeScript API (encodePayload) and through the cloudsync_changes view (a statement shape the
// engine does not answer itself). 'ours-idle' lets the event loop turn after the writes, so that
// idle folding folds the log (timed), then encodes. On :memory: and on a WAL file (synchronous = NORMAL).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { type CloudSync, load } from '../src/index.js';
import { median, printTable, time } from './bench-support.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '52000' },
    runs: { type: 'string', default: '5' },
  },
});
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-bench-'));
const COLUMNS = 'tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq';
const ENCODE_SQL = `SELECT cloudsync_payload_encode(${COLUMNS}) FROM cloudsync_changes`;
/** The same rows through the view: a shape that is not the brief's statement. */
const ENCODE_VIEW_SQL = `SELECT cloudsync_payload_encode(${COLUMNS}) FROM (SELECT * FROM cloudsync_changes)`;

/** 'ours-idle': ours with an event-loop turn after the writes, in which the log folds (idle folding). */
type Engine = 'plain' | 'ours' | 'ours-idle' | 'c';

const cExtension = (() => {
  try {
    const require = createRequire(import.meta.url);
    const path = join(dirname(require.resolve('@sqliteai/sqlite-sync-linux-x86_64/package.json')), 'cloudsync');
    return existsSync(`${path}.so`) ? path : null;
  } catch {
    return null;
  }
})();

interface Figures {
  writes: number;
  first: number;
  again: number;
  typed: number;
  view: number;
  /** ours-idle: the time the idle steps took to fold the log, between the writes and the encode. */
  idle: number;
  changes: number;
  bytes: number;
}

let counter = 0;

async function runOnce(storage: string, engine: Engine): Promise<Figures> {
  const file = storage === 'memory' ? ':memory:' : join(folder, `db-${counter++}.db`);
  const db = new Database(file);
  if (file !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  let sync: CloudSync | null = null;
  if (engine === 'ours' || engine === 'ours-idle') sync = load(db);
  if (engine === 'c') db.loadExtension(cExtension as string);
  db.exec('CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c REAL, d TEXT)');
  if (engine !== 'plain') db.prepare("SELECT cloudsync_init('t')").get();
  const insert = db.prepare('INSERT INTO t (id, a, b, c, d) VALUES (?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE t SET b = ? WHERE id = ?');
  const key = (i: number) => `id${String(i).padStart(6, '0')}`;
  const figures: Figures = { writes: 0, first: 0, again: 0, typed: 0, view: 0, idle: 0, changes: 0, bytes: 0 };
  figures.writes = time(() => {
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) insert.run(key(i), `a${i}`, i, i * 1.5, 'text');
    })();
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) update.run(i + 1, key(i));
    })();
  });
  if (engine === 'ours-idle' && sync !== null) {
    const log = sync.engine.log;
    const started = performance.now();
    while (log.pending > 0) await new Promise((resolve) => setImmediate(resolve));
    figures.idle = performance.now() - started;
  }
  if (engine !== 'plain') {
    const encode = db.prepare(ENCODE_SQL).pluck();
    let payload: Buffer | null = null;
    figures.first = time(() => (payload = encode.get() as Buffer));
    figures.again = time(() => encode.get());
    figures.bytes = (payload as Buffer | null)?.length ?? 0;
    if (engine === 'ours') {
      const api = sync as CloudSync;
      figures.typed = time(() => api.encodePayload());
      const view = db.prepare(ENCODE_VIEW_SQL).pluck();
      let viewed: Buffer | null = null;
      figures.view = time(() => (viewed = view.get() as Buffer));
      if (!(viewed as Buffer | null)?.equals(payload as unknown as Buffer)) throw new Error('the view and the statement gave different payloads');
    }
    // counted last: the view's rows are garbage that would weigh on the timings after it
    figures.changes = db.prepare('SELECT count(*) FROM cloudsync_changes').pluck().get() as number;
  }
  db.close();
  return figures;
}

const engines: Engine[] = cExtension ? ['plain', 'ours', 'ours-idle', 'c'] : ['plain', 'ours', 'ours-idle'];
const lines: string[][] = [];
for (const storage of ['memory', 'wal-file']) {
  const runs = new Map<Engine, Figures[]>(engines.map((engine) => [engine, []]));
  for (let r = 0; r < RUNS; r++) for (const engine of engines) runs.get(engine)?.push(await runOnce(storage, engine));
  const m = new Map<Engine, Figures>();
  for (const [engine, list] of runs) {
    const pick = (key: keyof Figures) => median(list.map((f) => f[key]));
    m.set(engine, { writes: pick('writes'), first: pick('first'), again: pick('again'), typed: pick('typed'), view: pick('view'), idle: pick('idle'), changes: pick('changes'), bytes: pick('bytes') });
  }
  const plain = m.get('plain') as Figures;
  const ms = (engine: Engine, value: (f: Figures) => number) => {
    const f = m.get(engine);
    return f ? `${value(f).toFixed(0)} ms` : 'n/a';
  };
  const rate = (engine: Engine, key: 'first' | 'again' | 'typed' | 'view') => {
    const f = m.get(engine);
    if (f && engine === 'ours-idle') f.changes = (m.get('ours') as Figures).changes;
    if (!f || f[key] === 0) return 'n/a';
    return `${f[key].toFixed(0)} ms, ${Math.round(f.changes / (f[key] / 1000)).toLocaleString('en')}/s`;
  };
  const changes = (m.get('ours') as Figures).changes;
  lines.push(
    [storage, `writes: insert ${ROWS} rows + update b of each (plain ${plain.writes.toFixed(0)} ms)`, ms('ours', (f) => f.writes) + ` ×${((m.get('ours') as Figures).writes / plain.writes).toFixed(2)}`, m.has('c') ? `${ms('c', (f) => f.writes)} ×${((m.get('c') as Figures).writes / plain.writes).toFixed(2)}` : 'n/a'],
    [storage, `SQL encode of ${changes} changes right after the writes`, rate('ours', 'first'), rate('c', 'first')],
    [storage, 'SQL encode again, nothing new', rate('ours', 'again'), rate('c', 'again')],
    [storage, 'writes + first SQL encode', ms('ours', (f) => f.writes + f.first), ms('c', (f) => f.writes + f.first)],
    [storage, 'idle folding after the writes (between event-loop tasks)', ms('ours-idle', (f) => f.idle), 'n/a'],
    [storage, 'SQL encode after idle folding', rate('ours-idle', 'first'), rate('c', 'first')],
    [storage, 'writes + idle folding + SQL encode', ms('ours-idle', (f) => f.writes + f.idle + f.first), ms('c', (f) => f.writes + f.first)],
    [storage, 'typed encodePayload(), nothing new', rate('ours', 'typed'), 'n/a'],
    [storage, 'SQL encode through the view (another statement shape)', rate('ours', 'view'), 'n/a'],
    [storage, 'payload bytes per change', ((m.get('ours') as Figures).bytes / changes).toFixed(2), m.has('c') ? ((m.get('c') as Figures).bytes / (m.get('c') as Figures).changes).toFixed(2) : 'n/a'],
  );
}
printTable(`rows ${ROWS}, median of ${RUNS} runs, node ${process.version}`, ['storage', 'measure', 'sqlite-sync (TS)', cExtension ? 'C extension 1.1.4' : 'C extension (not installed)'], lines);
rmSync(folder, { recursive: true, force: true });
