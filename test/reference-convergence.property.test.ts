// Differential property against the C extension 1.1.4 (as in reference-interop.test.ts): C and TypeScript
// replicas that write at random and exchange payloads through a delivery that duplicates, reorders and
// batches them end with identical tables, the same as C replicas alone end with after the same ops.
//
// Replay a failure with SEED=<seed> (and PATH_FC=<path> from fast-check's report); RUNS=<n> changes the run count.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { decodePayload, encodePayload, load } from '../src/index.js';
import { rowsOf, type SyncedDb } from './support/databases.js';
import { takeDelivery } from './support/delivery.js';
import { referenceExtension, skipWithoutReference } from './support/reference-extension.js';

const extension = referenceExtension;
const skip = skipWithoutReference;

// Left out, as the C extension gets them wrong or lacks them (reference notes, section 9 and 8.2):
// primary-key changes, cloudsync_uuid, filtering cloudsync_changes by tbl, and algorithms other
// than cls (1.1.4 refuses dws and aws; its gos overwrites unconditionally, so two sites inserting
// one key swap their values and never converge). Text holding a NUL is left out too: ties compare
// text with strcmp, so 'a\0b' and 'a\0c' are equal and each site keeps its own, in C as here.
type Kind = 'c' | 'ts';
const SITES = 4;
const KEYS = ['k1', 'k2'];
// no REAL, as 1.1.4 writes it little-endian (see reference-interop.test.ts), hence bigints: better-sqlite3
// binds a number as REAL. 'a' and 'A' are one value under the NOCASE of column label.
// '😀' and 'ｚ' order one way in UTF-16 and the other in UTF-8 bytes, as ties compare them.
const VALUES: unknown[] = [
  null, 0n, 1n, 7n, -3n, 2n ** 63n - 1n, -(2n ** 63n),
  'a', 'A', 'zz', 'long text value', '', '😀', 'ｚ',
  Buffer.from([1]), Buffer.from([0, 255]), Buffer.alloc(0),
];
const TITLES = ['', 'a', 'A', 'b', 'zz', 'long text value', '😀', 'ｚ'];
const SCHEMA = [
  "CREATE TABLE todo (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, note, label TEXT COLLATE NOCASE)",
  'CREATE TABLE tags (item TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (item, tag))',
];
const TABLES = ['todo', 'tags'];
const CLOCKS = 'SELECT tbl, pk, col_name, col_value, col_version, site_id, cl FROM cloudsync_changes ORDER BY 1, 2, 3';
const ENCODE = 'SELECT cloudsync_payload_encode(tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq) FROM cloudsync_changes';

type Write =
  | { kind: 'insert'; key: string; title: number; note: number }
  | { kind: 'update'; key: string; column: 'title' | 'done' | 'note' | 'label'; value: number }
  | { kind: 'delete'; key: string }
  | { kind: 'tag'; key: string; tag: string; remove: boolean };

type Op =
  | (Write & { site: number })
  | { kind: 'txn'; site: number; writes: Write[] }
  | { kind: 'send' | 'sync'; from: number; to: number; only: 'local' | 'all' }
  | { kind: 'broadcast'; from: number; only: 'local' | 'all' }
  | { kind: 'deliver'; pick: number; duplicate: boolean; batch: number };

const site = fc.integer({ min: 0, max: SITES - 1 });
const key = fc.constantFrom(...KEYS);
const value = fc.integer({ min: 0, max: VALUES.length - 1 });
const only = fc.constantFrom('local' as const, 'all' as const);
const write: fc.Arbitrary<Write> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), key, title: fc.integer({ min: 0, max: TITLES.length - 1 }), note: value }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('update' as const), key, column: fc.constantFrom('title' as const, 'done' as const, 'note' as const, 'label' as const), value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tag' as const), key, tag: fc.constantFrom('red', 'blue'), remove: fc.boolean() }) },
);
// writes and immediate syncs weigh most, so that rows are shared before sites edit them concurrently
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(site, write).map(([s, w]): Op => ({ site: s, ...w })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('txn' as const), site, writes: fc.array(write, { minLength: 2, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: site, to: site, only }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('broadcast' as const), from: site, only }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('send' as const), from: site, to: site, only }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean(), batch: fc.integer({ min: 1, max: 3 }) }) },
);

/** A replica: the C extension's connection, or ours. */
type Replica = { kind: 'c'; db: Database.Database } | ({ kind: 'ts' } & SyncedDb);

function openReplica(kind: Kind): Replica {
  const db = new Database(':memory:');
  if (kind === 'c') {
    db.loadExtension(extension as string);
    for (const sql of SCHEMA) db.exec(sql);
    for (const table of TABLES) db.prepare('SELECT cloudsync_init(?)').get(table);
    return { kind, db };
  }
  const sync = load(db);
  for (const sql of SCHEMA) db.exec(sql);
  for (const table of TABLES) sync.init(table);
  return { kind, db, sync };
}

/** The C extension 1.1.x checks its own schema hash: read it once from a payload of its own. */
let referenceHash: bigint | undefined;
function cSchemaHash(): bigint {
  if (referenceHash === undefined) {
    const probe = openReplica('c');
    probe.db.exec("INSERT INTO todo (id) VALUES ('probe')");
    referenceHash = decodePayload(probe.db.prepare(ENCODE).pluck().get() as Buffer).header.schemaHash;
    probe.db.close();
  }
  return referenceHash;
}

/** `from`'s changes (all or only its own) as a payload `to` accepts; null when there are none. */
function payloadFor(from: Replica, to: Replica, only: 'local' | 'all'): Uint8Array | null {
  if (from.kind === 'c') return from.db.prepare(only === 'local' ? `${ENCODE} WHERE site_id = cloudsync_siteid()` : ENCODE).pluck().get() as Buffer | null;
  const filter = only === 'local' ? { site: 'local' as const } : {};
  if (to.kind === 'ts') return from.sync.encodePayload(filter);
  const changes = from.sync.changes(filter);
  return changes.length === 0 ? null : encodePayload(changes, { schemaHash: cSchemaHash(), libVersion: [1, 1, 4] });
}

/** Applies payloads to a replica in one transaction. */
function apply(to: Replica, payloads: readonly Uint8Array[]): void {
  if (to.kind === 'c') {
    const decode = to.db.prepare('SELECT cloudsync_payload_decode(?)').pluck();
    to.db.transaction(() => {
      for (const p of payloads) decode.get(p);
    })();
  } else if (payloads.length === 1) {
    to.sync.applyPayload(payloads[0] as Uint8Array);
  } else {
    to.sync.applyChanges(payloads.flatMap((p) => decodePayload(p).changes));
  }
}

interface InFlight {
  to: number;
  payload: Uint8Array;
}

/** One local write, in SQL as an application would write it. */
function perform(db: Database.Database, w: Write): void {
  switch (w.kind) {
    case 'insert':
      db.prepare('INSERT OR IGNORE INTO todo (id, title, note) VALUES (?, ?, ?)').run(w.key, TITLES[w.title], VALUES[w.note]);
      break;
    case 'update': {
      const v = VALUES[w.value];
      const bound = w.column === 'title' ? (typeof v === 'string' ? v : '') : w.column === 'done' ? (v ?? 0n) : v;
      db.prepare(`UPDATE todo SET ${w.column} = ? WHERE id = ?`).run(bound, w.key);
      break;
    }
    case 'delete':
      db.prepare('DELETE FROM todo WHERE id = ?').run(w.key);
      break;
    case 'tag':
      if (w.remove) db.prepare('DELETE FROM tags WHERE item = ? AND tag = ?').run(w.key, w.tag);
      else db.prepare('INSERT OR IGNORE INTO tags VALUES (?, ?)').run(w.key, w.tag);
      break;
  }
}

/** Every table's rows (with `clocks`, also every change's clock), bigints as text, for comparing whole databases. */
function contents(db: Database.Database, clocks = false): string {
  const state: unknown[] = TABLES.map((t) => rowsOf(db, t));
  if (clocks) state.push(db.prepare(CLOCKS).safeIntegers(true).raw(true).all());
  return JSON.stringify(state, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** Runs the ops on replicas of the given kinds, checks that they converge, and returns their common tables. */
function runScenario(kinds: readonly Kind[], ops: readonly Op[]): string {
  const replicas = kinds.map(openReplica);
  const at = (i: number) => replicas[i] as Replica;
  const inFlight: InFlight[] = [];
  try {
    for (const o of ops) {
      switch (o.kind) {
        case 'insert':
        case 'update':
        case 'delete':
        case 'tag':
          perform(at(o.site).db, o);
          break;
        case 'txn': {
          const { db } = at(o.site);
          db.transaction(() => {
            for (const w of o.writes) perform(db, w);
          })();
          break;
        }
        case 'send':
        case 'sync': {
          // sync applies at once, send leaves the payload in flight
          if (o.from === o.to) break;
          const payload = payloadFor(at(o.from), at(o.to), o.only);
          if (payload !== null && o.kind === 'sync') apply(at(o.to), [payload]);
          else if (payload !== null) inFlight.push({ to: o.to, payload });
          break;
        }
        case 'broadcast':
          // to every other replica at once
          for (let to = 0; to < SITES; to++) {
            const payload = to === o.from ? null : payloadFor(at(o.from), at(to), o.only);
            if (payload !== null) apply(at(to), [payload]);
          }
          break;
        case 'deliver': {
          // `batch` payloads for one replica, applied together
          const taken = takeDelivery(inFlight, o.pick, o.batch, o.duplicate);
          if (taken.length > 0) apply(at((taken[0] as InFlight).to), taken.map((p) => p.payload));
          break;
        }
      }
    }
    // deliver what is still in flight, newest first, then all-to-all rounds in which every replica
    // encodes before any applies, until a round changes no row and no clock
    for (const p of inFlight.reverse()) apply(at(p.to), [p.payload]);
    const everything = () => replicas.map((r) => contents(r.db, true)).join();
    for (let round = 0, before = everything(); round < 8; round++) {
      const payloads = replicas.map((from) => replicas.map((to) => (from === to ? null : payloadFor(from, to, 'all'))));
      replicas.forEach((to, i) => {
        for (const row of payloads) if (row?.[i]) apply(to, [row[i] as Uint8Array]);
      });
      const now = everything();
      if (now === before) break;
      before = now;
    }
    const expected = contents(at(0).db);
    for (let i = 1; i < replicas.length; i++) {
      assert.equal(contents(at(i).db), expected, `replica ${i} (${at(i).kind}) differs from replica 0 (${at(0).kind}), replicas ${kinds.join(', ')}`);
    }
    return expected;
  } finally {
    for (const r of replicas) r.db.close();
  }
}

// Which replicas run our engine (at least one): the others run the C extension.
const kinds = fc
  .array(fc.constantFrom<Kind>('c', 'ts'), { minLength: SITES, maxLength: SITES })
  .filter((k) => k.includes('ts'));

test('C extension and TypeScript replicas converge, to the tables of C replicas alone, under random writes and an unreliable delivery', { skip }, (t) => {
  const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Date.now() % 2 ** 31;
  const path = process.env.PATH_FC;
  const numRuns = Number(process.env.RUNS ?? 200);
  t.diagnostic(`seed ${seed} (replay with SEED=${seed})`);
  const onlyC = new Array<Kind>(SITES).fill('c');
  fc.assert(
    fc.property(kinds, fc.array(op, { minLength: 5, maxLength: 80 }), (mixed, ops) => {
      // the same ops on C replicas alone are the oracle: a merge of ours that differs but still
      // converges (its result spreading with a higher clock) shows here
      assert.equal(runScenario(mixed, ops), runScenario(onlyC, ops), `replicas ${mixed.join(', ')} end unlike C replicas alone`);
    }),
    { seed, numRuns, ...(path ? { path } : {}) },
  );
});
