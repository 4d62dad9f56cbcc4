// The in-memory context of one synced table: its layout, state and cached statements.

import type { SqlValue } from '../codec/value.js';
import type { Connection, Statement } from './connection.js';
import type { Settings } from './settings.js';
import { readTableShape } from './table-schema.js';
import { foldingCollations } from './row-keys.js';
import { foldName, metaTableName, quoteIdentifier as q } from './identifiers.js';
import type { Algo, TableLayout } from './meta-schema.js';

/** A synced table as the engine holds it while the connection is open. */
export class SyncedTable {
  private readonly columnIndex: Map<string, number>;
  /** The key columns' collations when one of them folds text (NOCASE, RTRIM), else null. */
  readonly keyCollations: string[] | null;
  /**
   * The columns the table has and its clocks do not follow, or that its clocks follow and it lacks
   * (an ALTER by a connection without sqlite-sync loaded); null when they match.
   */
  drift: string[] | null = null;
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: Connection,
    readonly layout: TableLayout,
    public enabled: boolean,
  ) {
    this.columnIndex = new Map(layout.columns.map((name, i) => [foldName(name), i]));
    layout.columns.forEach((name, i) => this.columnIndex.set(name, i));
    this.keyCollations = foldingCollations(layout.pk.map((c) => c.collation));
  }

  get name(): string {
    return this.layout.name;
  }

  get cellCount(): number {
    return this.layout.columns.length;
  }

  /** Column index by name (case-insensitive), or -1. */
  indexOf(column: string): number {
    // names usually arrive spelled as declared: an exact lookup first, folding only when it misses
    return this.columnIndex.get(column) ?? this.columnIndex.get(foldName(column)) ?? -1;
  }

  /** `pk1 = ? AND pk2 = ?` over the meta table's key columns. */
  get metaKeyMatch(): string {
    return this.layout.pk.map((_, i) => `pk${i + 1} = ?`).join(' AND ');
  }

  /** `"a" = ? AND "b" = ?` over the base table's key columns. */
  get baseKeyMatch(): string {
    return this.layout.pk.map((c) => `${q(c.name)} = ?`).join(' AND ');
  }

  /** The meta table, qualified: a TEMP table of the same name must not hide it. */
  get quotedMeta(): string {
    return `main.${q(metaTableName(this.name))}`;
  }

  /** The base table, qualified: a TEMP table of the same name must not hide it. */
  get quotedName(): string {
    return `main.${q(this.name)}`;
  }

  /** True when the table has at least one meta row. */
  hasMeta(): boolean {
    return this.statement('meta.any', () => `SELECT 1 FROM ${this.quotedMeta} LIMIT 1`).get() !== undefined;
  }

  /** The stored `clocks` of a row's meta row, or undefined when it has none. */
  storedClocks(keys: readonly SqlValue[]): SqlValue | undefined {
    const row = this.statement('meta.get', () => `SELECT clocks FROM ${this.quotedMeta} WHERE ${this.metaKeyMatch}`).get(keys);
    return row === undefined ? undefined : (row[0] ?? null);
  }

  /** A statement prepared once per table and SQL text. */
  statement(key: string, build: () => string): Statement {
    let statement = this.statements.get(key);
    if (!statement) {
      statement = this.db.prepare(build());
      this.statements.set(key, statement);
    }
    return statement;
  }
}

/** Reads the registry of synced tables (creation order), keyed by lower-cased name. */
export function loadSyncedTables(db: Connection, settings: Settings): Map<string, SyncedTable> {
  const tables = new Map<string, SyncedTable>();
  if (!settings.exist()) return tables;
  for (const name of settings.tables()) {
    let shape;
    try {
      shape = readTableShape(db, 'cloudsync', name);
    } catch {
      continue; // the table was dropped without cloudsync_cleanup: ignore its leftovers
    }
    const algo = (settings.getTable(name, 'algo') ?? 'cls') as Algo;
    const stored = settings.getTable(name, 'columns');
    const columns = stored ? (JSON.parse(stored) as string[]) : shape.columns;
    const layout: TableLayout = { name: shape.name, pk: shape.pk, columns, algo, log: settings.getTable(name, 'writes') === 'log' };
    const table = new SyncedTable(db, layout, settings.getTable(name, 'enabled') !== '0');
    const tracked = new Set(columns.map(foldName));
    const present = new Set(shape.columns.map(foldName));
    const drift = [...shape.columns.filter((c) => !tracked.has(foldName(c))), ...columns.filter((c) => !present.has(foldName(c)))];
    if (drift.length > 0) table.drift = drift;
    tables.set(foldName(shape.name), table);
  }
  return tables;
}
