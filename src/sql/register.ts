// Registers the cloudsync_* SQL functions on a connection. A thin facade: each function calls the
// engine method of the same name; writers go through DeferredCalls (see deferred-calls.ts).

import { decodePk, encodePk } from '../codec/pk.js';
import { type Change, PayloadEncoder, SENTINEL } from '../codec/payload.js';
import type { SqlValue } from '../codec/value.js';
import { type CloudSyncEngine, LIBRARY_VERSION } from '../engine/cloudsync.js';
import { CloudSyncError } from '../engine/errors.js';
import { checkChangeFields } from '../engine/merge.js';
import type { DeferredCalls } from './deferred-calls.js';

/** The files cloudsync_payload_save and cloudsync_payload_load use (Node's file system; none in a browser). */
export interface PayloadFiles {
  read(path: string): Uint8Array;
  write(path: string, bytes: Uint8Array): void;
}

/** Registers every public cloudsync_* function of the engine on its connection (the network ones: register-network.ts). */
export function registerSqlFunctions(engine: CloudSyncEngine, deferred: DeferredCalls, files: PayloadFiles | null = null): void {
  const db = engine.db;
  const writer = (name: string, arities: readonly number[], work: (args: SqlValue[]) => SqlValue) => {
    db.registerFunction(name, (args) => {
      checkArity(name, args, arities);
      return deferred.call(name, () => rethrow(name, () => work(args)));
    });
  };
  const reader = (name: string, arities: readonly number[], work: (args: SqlValue[]) => SqlValue, deterministic = false) => {
    db.registerFunction(
      name,
      (args) => {
        checkArity(name, args, arities);
        return rethrow(name, () => work(args));
      },
      { deterministic },
    );
  };

  reader('cloudsync_version', [0], () => LIBRARY_VERSION, true);
  reader('cloudsync_siteid', [0], () => {
    const site = engine.siteId();
    if (site === null) throw new CloudSyncError('MISUSE', 'no table is synced yet; call cloudsync_init first');
    return site;
  });
  reader('cloudsync_db_version', [0], () => BigInt(engine.dbVersion()));
  // A prediction, not a reservation: a version taken here, outside the write lock, could be the one
  // another connection commits with (the first tracked write takes it, see cloudsync_log_first).
  reader('cloudsync_db_version_next', [0, 1], ([merging]) => {
    const next = engine.clock.allocated ? engine.clock.current : engine.clock.current + 1;
    return BigInt(Math.max(next, merging == null ? 0 : Number(merging)));
  });
  reader('cloudsync_seq', [0], () => BigInt(engine.clock.takeSeq()));
  reader('cloudsync_uuid', [0], () => engine.uuid());
  reader('cloudsync_is_enabled', [1], ([table]) => (table != null && engine.isEnabled(text(table)) ? 1n : 0n));
  reader('cloudsync_pk_encode', [-1], (values) => encodePk(values), true);
  reader(
    'cloudsync_pk_decode',
    [2],
    ([blob, index]) => {
      if (!(blob instanceof Uint8Array)) throw new CloudSyncError('MISUSE', 'the first argument must be a primary-key BLOB');
      const values = decodePk(blob);
      const i = Number(index);
      return i >= 1 && i <= values.length ? (values[i - 1] ?? null) : null;
    },
    true,
  );

  writer('cloudsync_init', [1, 2, 3], ([table, algo, force]) => {
    engine.init(text(table), { algo: algo == null ? 'cls' : text(algo), force: integerValue(force) !== 0 });
    return null;
  });
  writer('cloudsync_enable', [1], ([table]) => (engine.setEnabled(text(table), true), null));
  writer('cloudsync_disable', [1], ([table]) => (engine.setEnabled(text(table), false), null));
  writer('cloudsync_cleanup', [1], ([table]) => (engine.cleanup(text(table)), null));
  writer('cloudsync_terminate', [0], () => (engine.terminate(), null));
  writer('cloudsync_begin_alter', [1], ([table]) => (engine.beginAlter(text(table)), null));
  writer('cloudsync_commit_alter', [1], ([table]) => (engine.commitAlter(text(table)), null));
  writer('cloudsync_set', [2], ([key, value]) => (key === null ? null : (engine.set(text(key), value ?? null), null)));
  writer('cloudsync_set_table', [3], ([table, key, value]) => (engine.setTable(text(table), text(key), value ?? null), null));
  writer('cloudsync_set_column', [4], ([table, column, key, value]) => (engine.setTable(text(table), text(key), value ?? null, text(column)), null));
  for (const name of ['cloudsync_payload_decode', 'cloudsync_payload_apply']) {
    writer(name, [1], ([payload]) => {
      if (!(payload instanceof Uint8Array)) throw new CloudSyncError('PAYLOAD', 'the payload must be a BLOB');
      return BigInt(engine.applyPayload(payload, name));
    });
  }

  // The reference's file forms (1.1.4): this database's own changes to a file, and back. They read
  // through the engine's fast encoder, which the aggregate over cloudsync_changes cannot use.
  writer('cloudsync_payload_save', [1], ([path]) => {
    const payload = engine.feed.encodePayload({ site: 'local' });
    if (payload === null) return 0n;
    writeFile(files, 'cloudsync_payload_save', text(path), payload);
    return BigInt(payload.length);
  });
  writer('cloudsync_payload_load', [1], ([path]) => BigInt(engine.applyPayload(readFile(files, 'cloudsync_payload_load', text(path)), 'cloudsync_payload_load')));

  // INSERT INTO cloudsync_changes: the view's trigger hands each row here; one statement's rows
  // are applied together, atomically, once the statement has finished.
  let batch: Change[] | null = null;
  db.registerFunction('cloudsync_changes_insert', (args) => {
    const change = changeOf('cloudsync_changes', args);
    if (batch === null) {
      const rows: Change[] = [];
      batch = rows;
      deferred.call(
        'cloudsync_changes',
        () => {
          batch = null;
          return rethrow('cloudsync_changes', () => BigInt(engine.applyChanges(rows)));
        },
        true,
      );
    }
    batch.push(change);
    return null;
  });

  // Rows stream into one encoder: no change objects kept, no copies of the blobs.
  db.registerAggregate<PayloadEncoder | null>('cloudsync_payload_encode', {
    start: () => null,
    step: (encoder, args) => {
      const change = changeOf('cloudsync_payload_encode', args, false);
      const out = encoder ?? new PayloadEncoder({ schemaHash: engine.schemaHash() });
      out.add(change);
      return out;
    },
    result: (encoder) => (encoder === null || encoder.count === 0 ? null : encoder.finish()),
  });
}

function noFiles(fn: string): CloudSyncError {
  return new CloudSyncError('UNSUPPORTED', `${fn}: there is no file system here; encode with cloudsync_payload_encode and store the BLOB yourself`);
}

function writeFile(files: PayloadFiles | null, fn: string, path: string, bytes: Uint8Array): void {
  if (files === null) throw noFiles(fn);
  try {
    files.write(path, bytes);
  } catch (error) {
    throw new CloudSyncError('IO', `${fn}: cannot write ${path}: ${(error as Error).message}`);
  }
}

function readFile(files: PayloadFiles | null, fn: string, path: string): Uint8Array {
  if (files === null) throw noFiles(fn);
  try {
    return files.read(path);
  } catch (error) {
    throw new CloudSyncError('IO', `${fn}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Builds a change from the nine columns of cloudsync_changes; `keep`: copy the blobs, for a change that outlives the call. */
function changeOf(fn: string, args: SqlValue[], keep = true): Change {
  if (args.length !== 9) throw new CloudSyncError('MISUSE', `${fn}: expects the 9 columns of cloudsync_changes, got ${args.length}`);
  const [tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq] = args;
  if (typeof tbl !== 'string' || !(pk instanceof Uint8Array) || !(siteId instanceof Uint8Array)) {
    throw new CloudSyncError('MISUSE', `${fn}: tbl must be TEXT, pk and site_id BLOBs`);
  }
  const change: Change = {
    tbl,
    pk: keep ? Uint8Array.from(pk) : pk,
    colName: colName == null ? SENTINEL : text(colName),
    colValue: colValue ?? null,
    colVersion: integer(fn, colVersion),
    dbVersion: integer(fn, dbVersion),
    siteId: keep ? Uint8Array.from(siteId) : siteId,
    cl: integer(fn, cl),
    seq: integer(fn, seq),
  };
  checkChangeFields(fn, change);
  return change;
}

function integer(fn: string, value: SqlValue | undefined): number {
  if (typeof value !== 'bigint' && typeof value !== 'number') throw new CloudSyncError('MISUSE', `${fn}: versions must be INTEGER`);
  // a REAL or a bigint past 2^53 stays inexact: checkChangeFields refuses it
  return typeof value === 'bigint' && (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) ? Number.NaN : Number(value);
}

/** An argument as SQLite's sqlite3_value_int reads it: NULL and text without a leading number are 0. */
function integerValue(value: SqlValue | undefined): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'bigint') return Number(value);
  const n = typeof value === 'number' ? value : Number.parseFloat(value instanceof Uint8Array ? new TextDecoder().decode(value) : value);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** A TEXT argument (a BLOB is read as UTF-8); NULL is refused. */
export function text(value: SqlValue | undefined): string {
  if (value === null || value === undefined) throw new CloudSyncError('MISUSE', 'a NULL argument was given');
  return value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);
}

/** Refuses a call with a number of arguments the function does not take (-1: any). */
export function checkArity(name: string, args: readonly SqlValue[], arities: readonly number[]): void {
  if (arities.includes(-1) || arities.includes(args.length)) return;
  throw new CloudSyncError('MISUSE', `${name}: wrong number of arguments (${args.length}); expected ${arities.join(' or ')}`);
}

/** Makes every error message start with the SQL function's name. */
export function rethrow<T>(name: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith(name)) throw error;
    const code = error instanceof CloudSyncError ? error.code : 'MISUSE';
    throw new CloudSyncError(code, `${name}: ${message.replace(/^cloudsync\w*: /, '')}`, { cause: error });
  }
}
