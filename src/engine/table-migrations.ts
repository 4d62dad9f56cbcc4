// Bulk rewrites of a table's meta rows: the backfill of rows written before cloudsync_init, and
// the move of clocks to a new column list after ALTER TABLE.

import type { Clock } from './clock.js';
import type { Connection } from './connection.js';
import { foldName, quoteIdentifier as q, quoteLiteral } from './identifiers.js';
import { type CellClock, readRowClocks, UNTRACKED, writeRowClocks } from './row-clocks.js';
import type { SyncedTable } from './synced-table.js';

/** Gives every base row without a tracked meta row a fresh-insert clock; returns how many it gave. */
export function backfillMeta(db: Connection, table: SyncedTable): number {
  const keys = table.layout.pk.map((c) => `b.${q(c.name)}`).join(', ');
  const match = table.layout.pk.map((c, i) => `m.pk${i + 1} = b.${q(c.name)}`).join(' AND ');
  const n = table.cellCount;
  const clocks = n > 0 ? `cloudsync_fresh_clocks(${quoteLiteral(table.name)}, ${n})` : `cloudsync_clocks_insert(${quoteLiteral(table.name)}, NULL)`;
  return db
    .prepare(
      `INSERT OR REPLACE INTO ${table.quotedMeta} (${table.layout.pk.map((_, i) => `pk${i + 1}`).join(', ')}, clocks)
       SELECT ${keys}, ${clocks} FROM ${table.quotedName} AS b
       WHERE NOT EXISTS (SELECT 1 FROM ${table.quotedMeta} AS m WHERE ${match} AND m.clocks IS NOT ${quoteLiteral(UNTRACKED)})`,
    )
    .run();
}

/**
 * Gives the cells that live rows lack (written while the table was disabled) a clock at version
 * 1, as the reference's backfill does; returns how many rows it changed.
 */
export function fillMissingCells(db: Connection, clock: Clock, table: SyncedTable): number {
  const keyCount = table.layout.pk.length;
  const keyColumns = table.layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ');
  const join = table.layout.pk.map((c, i) => `b.${q(c.name)} = m.pk${i + 1}`).join(' AND ');
  const rows = db.prepare(`SELECT ${keyColumns}, m.clocks FROM ${table.quotedMeta} AS m JOIN ${table.quotedName} AS b ON ${join} WHERE typeof(m.clocks) = 'text'`).all();
  const put = db.prepare(`UPDATE ${table.quotedMeta} SET clocks = ? WHERE ${table.metaKeyMatch}`);
  let changed = 0;
  for (const row of rows) {
    const clocks = readRowClocks(row[keyCount], table.cellCount);
    if ((clocks.sentinel?.version ?? 1) % 2 === 0 || clocks.cells.every((c) => c !== null)) continue;
    const dbVersion = clock.localVersion();
    const cells = clocks.cells.map((cell): CellClock => cell ?? { version: 1, dbVersion, seq: clock.takeSeq(), site: 0 });
    put.run([writeRowClocks({ sentinel: clocks.sentinel, cells }), ...row.slice(0, keyCount)]);
    changed++;
  }
  return changed;
}

/**
 * Rewrites every meta row of `table` for the column list `columns`: kept columns keep their
 * clocks, renamed ones too (`renamedFrom`: a new column's name before the ALTER, folded, when it
 * was renamed), new columns get version 1 at a new local version for every live row, dropped
 * columns lose theirs, and meta rows of rows that are gone (not deleted through sync) are removed.
 */
export function migrateClocks(db: Connection, clock: Clock, table: SyncedTable, columns: readonly string[], renamedFrom: (column: string) => string | undefined = () => undefined): void {
  const oldColumns = table.layout.columns.map(foldName);
  const newColumns = columns.map(foldName);
  const from = newColumns.map((c) => {
    const kept = oldColumns.indexOf(c);
    if (kept >= 0) return kept;
    // a rename that happened: the old name is gone from the new columns
    const old = renamedFrom(c);
    return old === undefined || newColumns.includes(old) ? -1 : oldColumns.indexOf(old);
  });
  const keyCount = table.layout.pk.length;
  const keyColumns = table.layout.pk.map((_, i) => `pk${i + 1}`).join(', ');
  const rows = db.prepare(`SELECT ${keyColumns}, clocks FROM ${table.quotedMeta}`).all();
  const dbVersion = from.some((i) => i < 0) ? clock.localVersion() : 0;
  const baseExists = db.prepare(`SELECT 1 FROM ${table.quotedName} WHERE ${table.baseKeyMatch}`);
  const put = db.prepare(`INSERT OR REPLACE INTO ${table.quotedMeta} (${keyColumns}, clocks) VALUES (${'?, '.repeat(keyCount)}?)`);
  const remove = db.prepare(`DELETE FROM ${table.quotedMeta} WHERE ${table.metaKeyMatch}`);
  for (const row of rows) {
    const key = row.slice(0, keyCount);
    const old = readRowClocks(row[keyCount], table.cellCount);
    const alive = baseExists.get(key) !== undefined;
    const deleted = old.sentinel !== null && old.sentinel.version % 2 === 0;
    if (!alive && !deleted) {
      remove.run(key); // meta of a row that no longer exists (the reference compacts these too)
      continue;
    }
    const cells = from.map((i): CellClock | null => {
      if (i >= 0) return old.cells[i] ?? null;
      return alive ? { version: 1, dbVersion, seq: clock.takeSeq(), site: 0 } : null;
    });
    const clocks = { sentinel: old.sentinel, cells };
    put.run([...key, writeRowClocks(clocks)]);
  }
}
