// The client's two watermarks, kept in cloudsync_settings under the reference's keys:
// send_dbversion/send_seq (the last local change the server acknowledged) and
// check_dbversion/check_seq (the last server change applied here, in the server's numbering).

import type { CloudSyncEngine } from '../engine/cloudsync.js';

/** A position in a database's change order. */
export interface Position {
  dbVersion: number;
  seq: number;
}

/** Which watermark. */
export type WatermarkKind = 'send' | 'check';

/** Reads a watermark; missing keys read as 0, as in the reference. */
export function readWatermark(engine: CloudSyncEngine, kind: WatermarkKind): Position {
  if (!engine.settings.exist()) return { dbVersion: 0, seq: 0 };
  return { dbVersion: readInteger(engine, `${kind}_dbversion`), seq: readInteger(engine, `${kind}_seq`) };
}

/** Writes a watermark inside the caller's transaction. */
export function writeWatermark(engine: CloudSyncEngine, kind: WatermarkKind, position: Position): void {
  engine.settings.set(`${kind}_dbversion`, String(position.dbVersion));
  engine.settings.set(`${kind}_seq`, String(position.seq));
}

/** Writes a watermark in a transaction of its own (both keys or neither). */
export function saveWatermark(engine: CloudSyncEngine, kind: WatermarkKind, position: Position): void {
  engine.setAll({ [`${kind}_dbversion`]: String(position.dbVersion), [`${kind}_seq`]: String(position.seq) });
}

/** Sets all four watermarks to 0: the next send re-sends everything, the next check downloads everything. */
export function resetWatermarks(engine: CloudSyncEngine): void {
  engine.setAll({ send_dbversion: '0', send_seq: '0', check_dbversion: '0', check_seq: '0' });
}

/** True when `a` comes after `b`. */
export function isAfter(a: Position, b: Position): boolean {
  return a.dbVersion > b.dbVersion || (a.dbVersion === b.dbVersion && a.seq > b.seq);
}

function readInteger(engine: CloudSyncEngine, key: string): number {
  const value = Number(engine.settings.get(key) ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}
