// The SQL objects the engine creates for a synced table: its meta table, its triggers, and the
// cloudsync_changes view over every synced table.

import { SENTINEL } from '../codec/payload.js';
import type { Connection } from './connection.js';
import { foldName, logTableName, metaTableName, quoteIdentifier as q, quoteLiteral } from './identifiers.js';
import { MERGING_TABLE_SQL } from './settings.js';
import type { PkColumn } from './table-schema.js';

/** Algorithms with a real meaning here (aws is refused, see README). */
export type Algo = 'cls' | 'gos' | 'dws';

/** The persisted layout of a synced table: key columns and the tracked columns in clock order. */
export interface TableLayout {
  name: string;
  pk: PkColumn[];
  columns: string[];
  algo: Algo;
  /** Local writes append to a log that is folded into the meta rows later (see log-fold.ts). */
  log: boolean;
}

/** Log operations (the `op` column of a log table). */
export const LOG_INSERT = 1;
export const LOG_UPDATE = 2;
export const LOG_DELETE = 3;
export const LOG_MOVE = 4;
/** The clock a log trigger gets for a merge's write: the row is not logged. */
export const LOG_SKIP = -2;

const MASK_BITS = 30;

/**
 * The first condition of every tracking trigger: no merge of this connection is writing (see
 * MERGING_TABLE_SQL). SQLite answers it without JavaScript: a merge's writes, a whole payload's
 * rows, then cost no call out of SQLite each, which in WebAssembly is most of a trigger's cost.
 * The functions the triggers call still answer "merging" for triggers made before it.
 */
const NOT_MERGING = 'NOT EXISTS (SELECT 1 FROM cloudsync_merging)';

/** The view holding the newest db_version stored in the database. */
export const MAX_VERSION_VIEW = 'cloudsync_max_version';

/**
 * (Re)creates the view that gives the newest db_version stored: the max over every meta table's
 * index and the floor kept across dropped meta tables. Triggers read it once per transaction.
 */
export function createMaxVersionView(db: Connection, layouts: readonly TableLayout[]): void {
  const parts = [
    ...layouts.map((t) => `SELECT max(db_version) AS v FROM ${q(metaTableName(t.name))}`),
    // appends come in version order (versions are taken under the write lock); -1 marks untracked writes
    ...layouts.filter((t) => t.log).map((t) => `SELECT (SELECT clock >> 30 FROM ${q(logTableName(t.name))} WHERE clock >= 0 ORDER BY rowid DESC LIMIT 1) AS v`),
    "SELECT CAST(value AS INTEGER) AS v FROM cloudsync_settings WHERE key = 'pre_alter_dbversion'",
  ];
  db.exec(`DROP VIEW IF EXISTS main.${MAX_VERSION_VIEW}; CREATE VIEW ${MAX_VERSION_VIEW} AS SELECT max(v) AS v FROM (${parts.join(' UNION ALL ')});`);
}

/** Creates the meta table and its db_version index when missing. */
export function createMetaTable(db: Connection, layout: TableLayout): void {
  const meta = metaTableName(layout.name);
  const keys = layout.pk.map((c, i) => `pk${i + 1} ${typeClause(c)} COLLATE ${q(c.collation)} NOT NULL`).join(', ');
  const keyList = layout.pk.map((_, i) => `pk${i + 1}`).join(', ');
  // db_version is derived from clocks (see row-clocks.ts), so triggers write one column.
  const dbVersion = `CASE WHEN typeof(clocks) = 'integer' THEN clocks >> 30 ELSE CAST(clocks AS INTEGER) END`;
  db.exec(`CREATE TABLE IF NOT EXISTS ${q(meta)} (${keys}, clocks NOT NULL, db_version INTEGER GENERATED ALWAYS AS (${dbVersion}) VIRTUAL, PRIMARY KEY (${keyList})) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS ${q(`${meta}_db_idx`)} ON ${q(meta)} (db_version);`);
}

/** Drops the meta table and the log table. */
export function dropMetaTable(db: Connection, table: string): void {
  db.exec(`DROP TABLE IF EXISTS ${q(metaTableName(table))}; DROP TABLE IF EXISTS ${q(logTableName(table))};`);
}

/** Drops the log table (empty it first: folding is the caller's job). */
export function dropLogTable(db: Connection, table: string): void {
  db.exec(`DROP TABLE IF EXISTS ${q(logTableName(table))};`);
}

/**
 * Creates the log table of a table with log-structured writes: one row per local write, in order.
 * | column       | meaning                                                           |
 * |--------------|-------------------------------------------------------------------|
 * | pk1…         | the row's key (the new key of a key change)                       |
 * | op           | LOG_INSERT, LOG_UPDATE, LOG_DELETE or LOG_MOVE                     |
 * | clock        | db_version × 2^30 + the first seq reserved; -1: a write while disabled |
 * | mask0…       | changed columns, 30 per mask (updates and key changes)            |
 * | opk1…        | the old key of a key change                                       |
 */
export function createLogTable(db: Connection, layout: TableLayout): void {
  const keys = layout.pk.map((c, i) => `pk${i + 1} ${typeClause(c)} COLLATE ${q(c.collation)} NOT NULL`).join(', ');
  const oldKeys = layout.pk.map((c, i) => `, opk${i + 1} ${typeClause(c)} COLLATE ${q(c.collation)}`).join('');
  const masks = maskCount(layout.columns.length);
  const maskColumns = Array.from({ length: masks }, (_, i) => `, mask${i} INTEGER NOT NULL DEFAULT 0`).join('');
  db.exec(`CREATE TABLE IF NOT EXISTS ${q(logTableName(layout.name))} (${keys}, op INTEGER NOT NULL, ${LOG_CLOCK_COLUMN}${maskColumns}${oldKeys});`);
}

// The clock column of a log: its CHECK lets a log trigger drop a merge's write (LOG_SKIP) by
// INSERT OR IGNORE. Logs made before it (version 0.1.0) lack it: the engine folds and re-makes them
// when it re-creates their triggers (see hasLogCheck).
const LOG_CLOCK_COLUMN = `clock INTEGER NOT NULL CHECK (clock <> ${LOG_SKIP})`;

/** True when the table's log exists with the clock CHECK that its triggers rely on (or does not exist). */
export function hasLogCheck(db: Connection, table: string): boolean {
  const row = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get([logTableName(table)]);
  return row === undefined || String(row[0]).includes(LOG_CLOCK_COLUMN);
}

/** Number of mask columns (30 columns each) for `columns` tracked columns. */
export function maskCount(columns: number): number {
  return Math.ceil(columns / MASK_BITS);
}

/** Whether `cell` is flagged in a write's change masks (30 cells per mask; `mask(k)` is the k-th). */
export function maskHas(mask: (k: number) => number, cell: number): boolean {
  return (mask(Math.floor(cell / MASK_BITS)) >> cell % MASK_BITS) % 2 !== 0;
}

/** The changed-column flags of a write from its change masks. */
export function changedColumns(cellCount: number, mask: (k: number) => number): boolean[] {
  const flags: boolean[] = [];
  for (let c = 0; c < cellCount; c++) flags.push(maskHas(mask, c));
  return flags;
}

/**
 * Names of every trigger the engine may create for a table: `cloudsync_<kind>_<table>`, no kind
 * being another kind followed by `_` (so that no two tables' names meet). `after_update_key` was
 * one (table X's key trigger was table key_X's update trigger); it is still dropped where found.
 */
function triggerNames(table: string): string[] {
  return ['after_insert', 'after_update', 'after_keychange', 'after_update_key', 'after_delete', 'before_update', 'before_delete'].map((kind) => `cloudsync_${kind}_${table}`);
}

/** Drops the table's triggers (only those on this table: an old name may belong to another table's). */
export function dropTriggers(db: Connection, table: string): void {
  const names = triggerNames(table);
  const found = db
    .prepare(`SELECT name FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE AND name IN (${names.map(() => '?').join(', ')})`)
    .all([table, ...names]);
  if (found.length > 0) db.exec(found.map((r) => `DROP TRIGGER IF EXISTS main.${q(String(r[0]))};`).join('\n'));
}

/**
 * (Re)creates the table's triggers for its layout and algorithm; a log table's also for its
 * enabled state (direct triggers ask the connection).
 */
export function createTriggers(db: Connection, layout: TableLayout, enabled: boolean): void {
  dropTriggers(db, layout.name);
  // the triggers below test it (a database whose global tables are older lacks it)
  db.exec(MERGING_TABLE_SQL);
  const t = layout.name;
  const untyped = untypedColumns(db, t);
  if (layout.log) {
    db.exec(logTriggers(layout, enabled, untyped).join('\n'));
    return;
  }
  const T = q(t);
  const lit = quoteLiteral(t);
  const meta = q(metaTableName(t));
  const keyColumns = layout.pk.map((_, i) => `pk${i + 1}`).join(', ');
  const values = (prefix: string) => layout.pk.map((c) => `${prefix}.${q(c.name)}`).join(', ');
  const match = (alias: string, prefix: string) => layout.pk.map((c, i) => `${alias}.pk${i + 1} = ${prefix}.${q(c.name)}`).join(' AND ');
  // ready takes the registry's key (lower case): it runs for every write, so it should not fold
  // case. first runs for the first write of a transaction, under the write lock, with the schema
  // and data versions; it needs the newest version stored (the view) only when another connection
  // has committed since this one looked, and then asks for the third call (see cloudsync_write_first).
  const versions = '(SELECT schema_version FROM pragma_schema_version), (SELECT data_version FROM pragma_data_version)';
  const track = `${NOT_MERGING} AND coalesce(cloudsync_write_ready(${quoteLiteral(foldName(t))}), cloudsync_write_first(-1, ${versions}), cloudsync_write_first((SELECT v FROM ${MAX_VERSION_VIEW}), ${versions})) = 1`;
  const when = `WHEN ${track}`;
  const n = layout.columns.length;
  const sql: string[] = [];

  const initial = n > 0 ? `cloudsync_fresh_clocks(${lit}, ${n})` : `cloudsync_clocks_insert(${lit}, NULL)`;
  // >= 1: the insert trigger also runs for a disabled table (ready = 2), to leave an untracked meta row
  sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_insert_${t}`)} AFTER INSERT ON ${T} WHEN ${track.replace(/= 1$/, '>= 1')} BEGIN
  INSERT INTO ${meta} (${keyColumns}, clocks) VALUES (${values('NEW')}, ${initial})
  ON CONFLICT DO UPDATE SET clocks = cloudsync_clocks_insert(${lit}, clocks);
END;`);

  if (layout.algo === 'gos') {
    db.exec([...sql, ...growOnlyGuards(t)].join('\n'));
    return;
  }

  const sameKey = sameKeyCondition(layout.pk, untyped);
  const masks = changeMasks(layout.columns, untyped);
  const maskArgs = masks.map((m) => `, ${m}`).join('');
  // No INSERT OR REPLACE here: an UPDATE OR IGNORE on the table would turn it into OR IGNORE. No
  // alias on an UPDATE's table either: ALTER TABLE (of any table) cannot resolve one in a trigger.
  const lookup = (prefix: string) => `(SELECT o.clocks FROM ${meta} AS o WHERE ${match('o', prefix)})`;
  const keyMatch = (prefix: string) => layout.pk.map((c, i) => `pk${i + 1} = ${prefix}.${q(c.name)}`).join(' AND ');
  const upsert = (prefix: string, clocksOf: (stored: string) => string) => `UPDATE ${meta} SET clocks = ${clocksOf('clocks')} WHERE ${keyMatch(prefix)};
  INSERT INTO ${meta} (${keyColumns}, clocks) SELECT ${values(prefix)}, ${clocksOf('NULL')} WHERE changes() = 0;`;
  if (n > 0) {
    const anyChange = anyColumnChanged(layout.columns, untyped);
    // Cheap native conditions first: SQLite stops at the first false one, before calling JavaScript.
    // A base row has a meta row (see cloudsync_fresh_clocks) unless a trigger of the user's wrote
    // it during a merge: the INSERT, which finds nothing to do otherwise, gives it one then.
    sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_update_${t}`)} AFTER UPDATE ON ${T} WHEN ${sameKey} AND (${anyChange}) AND ${track} BEGIN
  ${upsert('NEW', (stored) => `cloudsync_clocks_update(${lit}, ${stored}${maskArgs})`)}
END;`);
  }
  // >= 1: a key change while the table is disabled still gives the new key an untracked meta row,
  // so that every base row keeps one and the update trigger above finds it.
  sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_keychange_${t}`)} AFTER UPDATE ON ${T} WHEN NOT (${sameKey}) AND ${track.replace(/= 1$/, '>= 1')} BEGIN
  ${upsert('NEW', (stored) => `cloudsync_clocks_move(${lit}, ${lookup('OLD')}, ${stored}${maskArgs})`)}
  ${upsert('OLD', () => `cloudsync_clocks_moved_from(${lit})`)}
END;`);
  sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_delete_${t}`)} AFTER DELETE ON ${T} ${when} BEGIN
  INSERT INTO ${meta} (${keyColumns}, clocks) VALUES (${values('OLD')}, cloudsync_clocks_delete(${lit}, NULL))
  ON CONFLICT DO UPDATE SET clocks = cloudsync_clocks_delete(${lit}, clocks);
END;`);
  db.exec(sql.join('\n'));
}

/**
 * The triggers of a table with log-structured writes: each tracked write appends one log row, its
 * clock from one JavaScript call (see cloudsync_log_take): the write's clock, with the seqs its
 * fold may use reserved (insert: cells + 1, update: cells, delete: 1, key change: 2 × cells + 2).
 * While the table is disabled its triggers are other ones, without JavaScript: inserts and key
 * changes log clock -1 (the fold gives the new key an untracked meta row when it has none).
 * Nothing in them may abort the statement (INSERT OR IGNORE; no scalar function), so that SQLite
 * needs no statement journal for it (see cloudsync_log_take). A merge's writes do not run them
 * (NOT_MERGING); in triggers made before that condition they get LOG_SKIP, which the log's CHECK
 * refuses: INSERT OR IGNORE drops them.
 */
function logTriggers(layout: TableLayout, enabled: boolean, untyped: ReadonlySet<string>): string[] {
  const t = layout.name;
  const T = q(t);
  const n = layout.columns.length;
  const log = q(logTableName(t));
  const data = '(SELECT data_version FROM pragma_data_version)';
  const clockOf = (count: string) =>
    `coalesce((SELECT cloudsync_log_take(${count})), (SELECT cloudsync_log_first(${count}, -1, ${data})), (SELECT cloudsync_log_first(${count}, (SELECT v FROM ${MAX_VERSION_VIEW}), ${data})))`;
  const keyColumns = layout.pk.map((_, i) => `pk${i + 1}`).join(', ');
  const oldKeyColumns = layout.pk.map((_, i) => `opk${i + 1}`).join(', ');
  const values = (prefix: string) => layout.pk.map((c) => `${prefix}.${q(c.name)}`).join(', ');
  const masks = changeMasks(layout.columns, untyped);
  const maskColumns = masks.map((_, i) => `, mask${i}`).join('');
  const maskValues = masks.map((m) => `, ${m}`).join('');
  const sameKey = sameKeyCondition(layout.pk, untyped);
  if (!enabled) {
    return [
      `CREATE TRIGGER main.${q(`cloudsync_after_insert_${t}`)} AFTER INSERT ON ${T} BEGIN
  INSERT OR IGNORE INTO ${log} (${keyColumns}, op, clock) VALUES (${values('NEW')}, ${LOG_INSERT}, -1);
END;`,
      ...(layout.algo === 'gos'
        ? growOnlyGuards(t)
        : [
            `CREATE TRIGGER main.${q(`cloudsync_after_update_${t}`)} AFTER UPDATE ON ${T} WHEN NOT (${sameKey}) BEGIN
  INSERT OR IGNORE INTO ${log} (${keyColumns}, op, clock, ${oldKeyColumns}) VALUES (${values('NEW')}, ${LOG_MOVE}, -1, ${values('OLD')});
END;`,
          ]),
    ];
  }
  // (Should a merge's write reach the body, it gets LOG_SKIP, which the CHECK refuses and INSERT OR IGNORE drops.)
  const append = (columns: string, row: (clock: string) => string, count: string) =>
    `INSERT OR IGNORE INTO ${log} (${columns}) VALUES (${row(clockOf(count))});`;
  const sql = [
    `CREATE TRIGGER main.${q(`cloudsync_after_insert_${t}`)} AFTER INSERT ON ${T} WHEN ${NOT_MERGING} BEGIN
  ${append(`${keyColumns}, op, clock`, (c) => `${values('NEW')}, ${LOG_INSERT}, ${c}`, String(n + 1))}
END;`,
  ];
  if (layout.algo === 'gos') return [...sql, ...growOnlyGuards(t)];
  // One trigger for updates and key changes (a second trigger would cost every update a frame).
  const changes = `${NOT_MERGING} AND (${masks.length > 0 ? `NOT (${sameKey}) OR ${anyColumnChanged(layout.columns, untyped)}` : `NOT (${sameKey})`})`;
  const op = `CASE WHEN ${sameKey} THEN ${LOG_UPDATE} ELSE ${LOG_MOVE} END`;
  const seqs = `CASE WHEN ${sameKey} THEN ${n} ELSE ${2 * n + 2} END`;
  const movedFrom = layout.pk.map((c) => `, CASE WHEN ${sameKey} THEN NULL ELSE OLD.${q(c.name)} END`).join('');
  sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_update_${t}`)} AFTER UPDATE ON ${T} WHEN ${changes} BEGIN
  ${append(`${keyColumns}, op, clock${maskColumns}, ${oldKeyColumns}`, (c) => `${values('NEW')}, ${op}, ${c}${maskValues}${movedFrom}`, seqs)}
END;`);
  sql.push(`CREATE TRIGGER main.${q(`cloudsync_after_delete_${t}`)} AFTER DELETE ON ${T} WHEN ${NOT_MERGING} BEGIN
  ${append(`${keyColumns}, op, clock`, (c) => `${values('OLD')}, ${LOG_DELETE}, ${c}`, '1')}
END;`);
  return sql;
}

/** The triggers of a grow-only table that refuse local updates and deletes (merges may still write). */
function growOnlyGuards(table: string): string[] {
  return ['UPDATE', 'DELETE'].map(
    (op) => `CREATE TRIGGER main.${q(`cloudsync_before_${op.toLowerCase()}_${table}`)} BEFORE ${op} ON ${q(table)} WHEN cloudsync_is_sync(${quoteLiteral(table)}) = 0 BEGIN
  SELECT RAISE(ABORT, ${quoteLiteral(`Error: ${op} operation is not allowed on table ${table}.`)});
END;`,
  );
}

/** (Re)creates the temporary cloudsync_changes view over the given tables, with its INSERT trigger. */
export function createChangesView(db: Connection, layouts: readonly TableLayout[]): void {
  const branches = layouts.map(changesBranch);
  const body =
    branches.length > 0
      ? branches.join('\nUNION ALL\n')
      : 'SELECT NULL AS tbl, NULL AS pk, NULL AS col_name, NULL AS col_value, NULL AS col_version, NULL AS db_version, NULL AS site_id, NULL AS cl, NULL AS seq WHERE 0';
  const refuse = `SELECT RAISE(ABORT, 'Only INSERT and SELECT statements are allowed against the cloudsync_changes table');`;
  db.exec(`DROP VIEW IF EXISTS temp.cloudsync_changes;
CREATE TEMP VIEW cloudsync_changes AS SELECT tbl, pk, col_name, col_value, col_version, db_version, site_id, cl, seq FROM (
${body}
) ORDER BY db_version, seq;
CREATE TEMP TRIGGER cloudsync_changes_insert INSTEAD OF INSERT ON cloudsync_changes BEGIN
  SELECT cloudsync_changes_insert(NEW.tbl, NEW.pk, NEW.col_name, NEW.col_value, NEW.col_version, NEW.db_version, NEW.site_id, NEW.cl, NEW.seq);
END;
CREATE TEMP TRIGGER cloudsync_changes_update INSTEAD OF UPDATE ON cloudsync_changes BEGIN ${refuse} END;
CREATE TEMP TRIGGER cloudsync_changes_delete INSTEAD OF DELETE ON cloudsync_changes BEGIN ${refuse} END;`);
}

/**
 * The rows of one table in cloudsync_changes, computed by SQLite alone (json_each over the clocks).
 * Each branch reads a meta row and its base row once in a subquery (LIMIT -1 keeps SQLite from
 * flattening it, which would encode the key and parse the clocks again for every cell), then
 * expands it into one row per cell.
 */
function changesBranch(layout: TableLayout): string {
  const n = layout.columns.length;
  const meta = `main.${q(metaTableName(layout.name))}`;
  const tbl = quoteLiteral(layout.name);
  const pk = `cloudsync_pk_encode(${layout.pk.map((_, i) => `m.pk${i + 1}`).join(', ')})`;
  const join = layout.pk.map((c, i) => `b.${q(c.name)} = m.pk${i + 1}`).join(' AND ');
  const present = `b.${q(layout.pk[0]?.name ?? '')} IS NOT NULL`;
  // cell i is number i + 1 in the JSON array (0 is the sentinel); its base value is column v<i+1>
  const values = layout.columns.map((name, i) => `, b.${q(name)} AS v${i + 1}`).join('');
  const valueOf = (number: string) => (n > 0 ? `CASE ${number} ${layout.columns.map((_, i) => `WHEN ${i + 1} THEN r.v${i + 1}`).join(' ')} END` : 'NULL');
  const nameOf = (number: string, sentinel: boolean) =>
    `CASE ${number} ${sentinel ? `WHEN 0 THEN ${quoteLiteral(SENTINEL)} ` : ''}${layout.columns.map((name, i) => `WHEN ${i + 1} THEN ${quoteLiteral(name)}`).join(' ')} END`;
  const site = (ordinal: string) => `(SELECT s.site_id FROM cloudsync_site_id AS s WHERE s.rowid = ${ordinal})`;
  const json = "substr(m.clocks, instr(m.clocks, '['))";
  const numbers = Array.from({ length: n }, (_, i) => `(${i + 1})`).join(', ');
  const fresh =
    n === 0
      ? []
      : [
          `SELECT ${tbl} AS tbl, r.pk AS pk, ${nameOf('c.column1', false)} AS col_name, ${valueOf('c.column1')} AS col_value, 1 AS col_version, r.db_version AS db_version,
  ${site('0')} AS site_id, 1 AS cl, r.first + c.column1 - 1 AS seq
FROM (SELECT ${pk} AS pk, m.db_version AS db_version, m.clocks & 1073741823 AS first${values}
  FROM ${meta} AS m CROSS JOIN main.${q(layout.name)} AS b ON ${join} WHERE typeof(m.clocks) = 'integer' LIMIT -1) AS r
CROSS JOIN (VALUES ${numbers}) AS c`,
        ];
  const stored = `SELECT ${tbl} AS tbl, r.pk AS pk, ${nameOf('j.key', true)} AS col_name, ${valueOf('j.key')} AS col_value, j.value ->> 0 AS col_version, j.value ->> 1 AS db_version,
  ${site('j.value ->> 3')} AS site_id, r.cl AS cl, j.value ->> 2 AS seq
FROM (SELECT ${pk} AS pk, ${json} AS json, coalesce(${json} -> '$[0]' ->> 0, 1) AS cl, ${present} AS present${values}
  FROM ${meta} AS m LEFT JOIN main.${q(layout.name)} AS b ON ${join} WHERE typeof(m.clocks) = 'text' LIMIT -1) AS r
CROSS JOIN json_each(r.json) AS j
WHERE j.type = 'array' AND j.key <= ${n} AND (j.key = 0 OR r.present)`;
  return [...fresh, stored].join('\nUNION ALL\n');
}

/** The bit masks of the changed columns, 30 columns per mask (`NEW` against `OLD`, type included). */
function changeMasks(columns: readonly string[], untyped: ReadonlySet<string>): string[] {
  const masks: string[] = [];
  for (let start = 0; start < columns.length; start += MASK_BITS) {
    masks.push(columns.slice(start, start + MASK_BITS).map((name, i) => `(${columnChanged(name, untyped)} << ${i})`).join(' | '));
  }
  return masks;
}

/** True when any column changed: a logical OR, which stops at the first changed column (the masks compute every bit). */
function anyColumnChanged(columns: readonly string[], untyped: ReadonlySet<string>): string {
  return `(${columns.map((name) => columnChanged(name, untyped)).join(' OR ')})`;
}

/**
 * A column changed: another value byte for byte (COLLATE BINARY: under the column's NOCASE, 'a'
 * to 'A' would be no change, and peers would keep the old case), or, in a column without type
 * affinity, the same number as another type (1 and 1.0 compare equal; any other affinity stores
 * equal numbers as one type, so typeof() would only cost time there).
 */
function columnChanged(name: string, untyped: ReadonlySet<string>): string {
  const c = q(name);
  return untyped.has(foldName(name)) ? `(NEW.${c} IS NOT OLD.${c} COLLATE BINARY OR typeof(NEW.${c}) <> typeof(OLD.${c}))` : `(NEW.${c} IS NOT OLD.${c} COLLATE BINARY)`;
}

/**
 * The key did not change: the same row as SQLite sees it, under the key columns' own collations
 * (a NOCASE key changed only in case stays the same row); typeof() only for untyped columns.
 */
function sameKeyCondition(pk: readonly PkColumn[], untyped: ReadonlySet<string>): string {
  return pk
    .map((c) => {
      const k = q(c.name);
      return untyped.has(foldName(c.name)) ? `(NEW.${k} IS OLD.${k} AND typeof(NEW.${k}) = typeof(OLD.${k}))` : `NEW.${k} IS OLD.${k}`;
    })
    .join(' AND ');
}

/** The columns of `table` whose declared type gives them no affinity (BLOB), lower-cased. */
function untypedColumns(db: Connection, table: string): Set<string> {
  const rows = db.prepare(`SELECT name, type FROM pragma_table_xinfo(${quoteLiteral(table)}, 'main')`).all();
  return new Set(rows.filter((r) => hasNoAffinity(String(r[1] ?? ''))).map((r) => foldName(String(r[0]))));
}

/** SQLite's affinity rules (datatype3.html, 3.1): BLOB affinity is a type naming none of the others. */
function hasNoAffinity(declared: string): boolean {
  const type = declared.toUpperCase();
  if (/INT|CHAR|CLOB|TEXT/.test(type)) return false;
  if (type === '' || type.includes('BLOB')) return true;
  return false;
}

function typeClause(column: PkColumn): string {
  return column.type === '' ? '' : column.type.replace(/[^A-Za-z0-9_ (),]/g, '');
}

/**
 * A pattern matching cloudsync_changes and every view that reads it, directly or through another
 * such view: temp views only (cloudsync_changes is one, and a view of another schema cannot read
 * temp objects). Names are matched as text, case-insensitively: a view whose name only contains
 * another's costs a needless fold, never a missed one.
 */
export function changesReaders(db: Connection): RegExp {
  const views = db
    .prepare("SELECT name, sql FROM sqlite_temp_schema WHERE type = 'view'")
    .all()
    .map((r) => ({ name: String(r[0]).toLowerCase(), sql: String(r[1] ?? '').toLowerCase() }));
  const names = new Set(['cloudsync_changes']);
  for (let grown = true; grown; ) {
    grown = false;
    for (const view of views) {
      if (names.has(view.name) || ![...names].some((name) => view.sql.includes(name))) continue;
      names.add(view.name);
      grown = true;
    }
  }
  return new RegExp([...names].map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'i');
}
