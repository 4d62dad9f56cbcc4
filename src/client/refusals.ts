// Changes the server's write policies refused: recorded in `cloudsync_refused` of the device's
// database, and the refused rows brought back in line with the server, in one transaction.
//
// | column     | meaning                                              |
// |------------|------------------------------------------------------|
// | id         | order of arrival                                     |
// | tbl, pk    | the row (pk as cloudsync_pk_encode gives it)         |
// | db_version | the local transaction the change belonged to         |
// | reason     | the server's reason                                  |
// | refused_at | when the server answered (ms since 1970)             |

import { forEachPayloadChange, type Change, SENTINEL } from '../codec/payload.js';
import type { CloudSyncEngine } from '../engine/cloudsync.js';
import { NetworkError } from './network-error.js';
import { byteKey, fromBase64 } from '../codec/bytes.js';

/** One refused change, as the server reports it. */
export interface RefusedChange {
  table: string;
  pk: Uint8Array;
  dbVersion: number;
  reason: string;
}

/** What the server answers to an upload when its policies refused some changes. */
interface RefusalAnswer {
  refused: { table: string; pk: string; dbVersion: number; reason: string }[];
  restore: string | null;
}

const TABLE_SQL = `CREATE TABLE IF NOT EXISTS cloudsync_refused (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk BLOB NOT NULL,
  db_version INTEGER NOT NULL, reason TEXT NOT NULL, refused_at INTEGER NOT NULL)`;

/** Parses a non-empty answer to an upload notification. */
export function parseRefusals(body: string): { refused: RefusedChange[]; restore: Uint8Array | null } {
  let answer: RefusalAnswer;
  try {
    answer = JSON.parse(body) as RefusalAnswer;
    if (!Array.isArray(answer.refused)) throw new Error('no refused list');
  } catch {
    throw new NetworkError('PROTOCOL', `the server answered the upload with an unexpected body: '${body.slice(0, 80)}'`);
  }
  return {
    refused: answer.refused.map((r) => ({ table: String(r.table), pk: fromBase64(String(r.pk)), dbVersion: Number(r.dbVersion), reason: String(r.reason) })),
    restore: typeof answer.restore === 'string' ? fromBase64(answer.restore) : null,
  };
}

/**
 * Takes the refused rows off this database (no delete is recorded), puts back the server's version
 * of those the user may read, and records the refusals, all in one transaction.
 */
export function settleRefusals(engine: CloudSyncEngine, refused: readonly RefusedChange[], restore: Uint8Array | null, now: number): void {
  const site = engine.siteId() ?? new Uint8Array(16);
  const seen = new Set<string>();
  const changes: Change[] = [];
  for (const r of refused) {
    const key = `${r.table}\u0000${byteKey(r.pk)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // causal length 0: the removal marker (see merge.ts)
    changes.push({ tbl: r.table, pk: r.pk, colName: SENTINEL, colValue: null, colVersion: 0, dbVersion: 0, siteId: site, cl: 0, seq: 0 });
  }
  if (restore) forEachPayloadChange(restore, (change) => changes.push(change));
  engine.db.exec(TABLE_SQL);
  engine.applyChanges(changes, 'cloudsync_network_send_changes', () => {
    const insert = engine.db.prepare('INSERT INTO cloudsync_refused (tbl, pk, db_version, reason, refused_at) VALUES (?, ?, ?, ?, ?)');
    for (const r of refused) insert.run([r.table, r.pk, BigInt(r.dbVersion), r.reason, BigInt(now)]);
  });
}

/** The refusals recorded so far, oldest first. */
export function readRefusals(engine: CloudSyncEngine): (RefusedChange & { refusedAt: number })[] {
  engine.db.exec(TABLE_SQL);
  return engine.db
    .prepare('SELECT tbl, pk, db_version, reason, refused_at FROM cloudsync_refused ORDER BY id')
    .all()
    .map(([tbl, pk, dbVersion, reason, at]) => ({ table: String(tbl), pk: Uint8Array.from(pk as Uint8Array), dbVersion: Number(dbVersion), reason: String(reason), refusedAt: Number(at) }));
}
