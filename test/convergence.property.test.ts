// Property: replicas that write at random (insert, update, delete, primary-key change,
// re-insert) and exchange payloads through a delivery that delays, duplicates, reorders and
// batches them, end with identical tables once everything is delivered: cls, dws and gos, logged
// and direct writes, in memory and on WAL files.
//
// Replay a failure with SEED=<seed> (and PATH_FC=<path> from fast-check's report) in the environment.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { type Change, decodePayload, load } from '../src/index.js';
import { rowsOf, type SyncedDb, temporaryFolder } from './support/databases.js';
import { takeDelivery } from './support/delivery.js';

const SITES = 3;
const KEYS = ['k1', 'k2', 'k3', 'k4'];
// 'a' and 'A' (and 'zz', 'ZZ') are one value under the NOCASE of column label: replicas must still end with the same bytes
const VALUES: unknown[] = [null, 0, 1, 7, -3, 2.5, 'a', 'A', 'zz', 'ZZ', 'long text value', Buffer.from([1]), Buffer.from([0, 255])];
const SCHEMA = [
  "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done NOT NULL DEFAULT 0, note, label TEXT COLLATE NOCASE)",
  'CREATE TABLE tags (item TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (item, tag))',
];

type Op =
  | { kind: 'insert'; site: number; key: string; title: number; note: number }
  | { kind: 'update'; site: number; key: string; column: 'title' | 'done' | 'note' | 'label'; value: number }
  | { kind: 'delete'; site: number; key: string }
  | { kind: 'move'; site: number; key: string; to: string }
  | { kind: 'tag'; site: number; key: string; tag: string; remove: boolean }
  | { kind: 'send'; from: number; to: number; only: 'local' | 'all' }
  | { kind: 'deliver'; pick: number; duplicate: boolean; batch: number };

const site = fc.integer({ min: 0, max: SITES - 1 });
const key = fc.constantFrom(...KEYS);
const value = fc.integer({ min: 0, max: VALUES.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), site, key, title: value, note: value }),
  fc.record({ kind: fc.constant('update' as const), site, key, column: fc.constantFrom('title' as const, 'done' as const, 'note' as const, 'label' as const), value }),
  fc.record({ kind: fc.constant('delete' as const), site, key }),
  fc.record({ kind: fc.constant('move' as const), site, key, to: key }),
  fc.record({ kind: fc.constant('tag' as const), site, key, tag: fc.constantFrom('red', 'blue'), remove: fc.boolean() }),
  fc.record({ kind: fc.constant('send' as const), from: site, to: site, only: fc.constantFrom('local' as const, 'all' as const) }),
  fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean(), batch: fc.integer({ min: 1, max: 3 }) }),
);

type Algo = 'cls' | 'dws' | 'gos';
type Storage = 'memory' | 'wal-file';

const folder = temporaryFolder();
after(() => folder.remove());
let files = 0;

/** A replica whose tables log their local writes (the default) or write their meta rows at once. */
function openReplica(logWrites: boolean, storage: Storage): SyncedDb {
  const db = new Database(storage === 'memory' ? ':memory:' : folder.path(`replica-${files++}.db`));
  if (storage === 'wal-file') db.pragma('journal_mode = WAL');
  const sync = load(db, { logWrites });
  for (const sql of SCHEMA) db.exec(sql);
  return { db, sync };
}

interface InFlight {
  to: number;
  changes: Change[];
}

function runScenario(algo: Algo, ops: readonly Op[], logWrites: boolean, storage: Storage): void {
  const replicas: SyncedDb[] = [];
  for (let i = 0; i < SITES; i++) {
    const replica = openReplica(logWrites, storage);
    replica.sync.init('*', { algo });
    replicas.push(replica);
  }
  const inFlight: InFlight[] = [];
  const at = (i: number) => replicas[i] as SyncedDb;
  const write = (i: number, sql: string, ...params: unknown[]) => {
    try {
      at(i).db.prepare(sql).run(...params);
    } catch (error) {
      // delete-wins refuses re-inserting a deleted key, grow-only any local update or delete: the write just does not happen
      if (!(algo === 'dws' && /delete-wins/.test(String(error))) && !(algo === 'gos' && /operation is not allowed/.test(String(error)))) throw error;
    }
  };
  const send = (from: number, to: number, only: 'local' | 'all') => {
    const payload = at(from).sync.encodePayload(only === 'local' ? { site: 'local' } : {});
    if (payload !== null && from !== to) inFlight.push({ to, changes: decodePayload(payload).changes });
  };
  for (const o of ops) {
    switch (o.kind) {
      case 'insert':
        write(o.site, 'INSERT OR IGNORE INTO todo (id, title, note) VALUES (?, ?, ?)', o.key, String(VALUES[o.title]), VALUES[o.note]);
        break;
      case 'update':
        write(o.site, `UPDATE todo SET ${o.column} = ? WHERE id = ?`, o.column === 'title' || o.column === 'label' ? String(VALUES[o.value]) : (VALUES[o.value] ?? 0), o.key);
        break;
      case 'delete':
        write(o.site, 'DELETE FROM todo WHERE id = ?', o.key);
        break;
      case 'move':
        write(o.site, 'UPDATE OR IGNORE todo SET id = ? WHERE id = ?', o.to, o.key);
        break;
      case 'tag':
        if (o.remove) write(o.site, 'DELETE FROM tags WHERE item = ? AND tag = ?', o.key, o.tag);
        else write(o.site, 'INSERT OR IGNORE INTO tags VALUES (?, ?)', o.key, o.tag);
        break;
      case 'send':
        send(o.from, o.to, o.only);
        break;
      case 'deliver': {
        // `batch` payloads for one replica, applied as one
        const taken = takeDelivery(inFlight, o.pick, o.batch, o.duplicate);
        if (taken.length > 0) at((taken[0] as InFlight).to).sync.applyChanges(taken.flatMap((p) => p.changes));
        break;
      }
    }
  }
  // deliver what is still in flight, newest first, then two all-to-all rounds in which every
  // replica encodes before any applies (sequential rounds would hide an order-dependent merge)
  for (const p of inFlight.reverse()) at(p.to).sync.applyChanges(p.changes);
  for (let round = 0; round < 2; round++) {
    const payloads = replicas.map((r) => r.sync.encodePayload());
    for (let from = 0; from < SITES; from++) {
      for (let to = 0; to < SITES; to++) {
        const payload = payloads[from];
        if (from !== to && payload) at(to).sync.applyPayload(payload);
      }
    }
  }
  // A key whose causal length is even (deleted) has no row, on every replica.
  for (const { db } of replicas) {
    const ghosts = db
      .prepare(
        `SELECT count(*) FROM cloudsync_changes AS c JOIN todo AS b ON b.id = cloudsync_pk_decode(c.pk, 1)
         WHERE c.tbl = 'todo' AND c.col_name = '__[RIP]__' AND c.cl % 2 = 0`,
      )
      .pluck()
      .get();
    assert.equal(ghosts, 0, 'a deleted key still has a row');
  }
  for (const table of ['todo', 'tags']) {
    const expected = rowsOf(at(0).db, table);
    for (let i = 1; i < SITES; i++) assert.deepEqual(rowsOf(at(i).db, table), expected, `replica ${i} differs from replica 0 in ${table}`);
  }
  for (const r of replicas) r.db.close();
}

// [algorithm, logged writes, storage, runs]: WAL files are slower, so fewer runs there
const variants: [Algo, boolean, Storage, number][] = [
  ['cls', true, 'memory', 150],
  ['dws', false, 'memory', 100],
  ['cls', false, 'memory', 100],
  ['gos', true, 'memory', 100],
  ['cls', true, 'wal-file', 60],
];
for (const [algo, logWrites, storage, runs] of variants) {
  test(`replicas converge under random writes and an unreliable delivery (${algo}${logWrites ? '' : ', direct writes'}${storage === 'memory' ? '' : ', WAL files'})`, (t) => {
    const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Date.now() % 2 ** 31;
    const path = process.env.PATH_FC;
    const numRuns = Number(process.env.RUNS ?? runs);
    t.diagnostic(`seed ${seed} (replay with SEED=${seed})`);
    fc.assert(
      fc.property(fc.array(op, { minLength: 5, maxLength: 60 }), (ops) => runScenario(algo, ops, logWrites, storage)),
      { seed, numRuns, ...(path ? { path } : {}) },
    );
  });
}
