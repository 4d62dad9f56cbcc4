// A synced table of a hosted database in PostgreSQL, as the peer's queries need it: its layout,
// quoted names, column lookup, and the key conditions that batched reads and writes share.

import { encodePk } from '../../../codec/pk.js';
import type { SqlValue } from '../../../codec/value.js';
import type { CollectedTable } from '../../../engine/changes.js';
import { fromPg, metaName, type PgColumn, type PgTableLayout, pgName, pgType, toPg } from './pg-layout.js';
import type { MergeTable } from './pg-merge.js';

/** A synced table of a hosted database, with its SQL. */
export class HostedTable implements MergeTable, CollectedTable {
  readonly name: string;
  readonly algo: PgTableLayout['algo'];
  readonly layout: { pk: PgColumn[]; columns: string[] };
  readonly columns: PgColumn[];
  readonly defaults: SqlValue[];
  readonly base: string;
  readonly meta: string;
  private readonly index = new Map<string, number>();

  constructor(schema: string, readonly shape: PgTableLayout) {
    this.name = shape.name;
    this.algo = shape.algo;
    this.columns = shape.columns;
    this.layout = { pk: shape.pk, columns: shape.columns.map((c) => c.name) };
    this.defaults = shape.columns.map((c) => c.default);
    this.base = `${pgName(schema)}.${pgName(shape.name)}`;
    this.meta = `${pgName(schema)}.${pgName(metaName(shape.name))}`;
    shape.columns.forEach((c, i) => {
      this.index.set(c.name, i);
      if (!this.index.has(c.name.toLowerCase())) this.index.set(c.name.toLowerCase(), i);
    });
  }

  get cellCount(): number {
    return this.columns.length;
  }

  indexOf(column: string): number {
    return this.index.get(column) ?? this.index.get(column.toLowerCase()) ?? -1;
  }

  /** `unnest($1::t1[], $2::t2[], …) AS k(c1, c2, …)` over the key columns, parameters from `first`. */
  keyRows(first: number, names: string[] = this.shape.pk.map((_, i) => `pk${i + 1}`)): string {
    return `unnest(${this.shape.pk.map((c, i) => `$${first + i}::${pgType(c.kind)}[]`).join(', ')}) AS k(${names.join(', ')})`;
  }

  /**
   * A condition matching the rows whose key columns (`columns`, under `alias`) are among the keys
   * in parameters $1…: `= ANY` for one key column (an index scan), a row comparison otherwise.
   */
  keyMatch(alias: string, columns: string[]): string {
    const pk = this.shape.pk;
    if (pk.length === 1) return `${alias}.${columns[0]} = ANY($1::${pgType((pk[0] as PgColumn).kind)}[])`;
    return `(${columns.map((c) => `${alias}.${c}`).join(', ')}) IN (SELECT * FROM unnest(${pk.map((c, i) => `$${i + 1}::${pgType(c.kind)}[]`).join(', ')}))`;
  }

  /** `m.pk1 = b.k1 AND …`: the meta row (alias m) of a base row (alias b). */
  get metaJoin(): string {
    return this.shape.pk.map((c, i) => `m.pk${i + 1} = b.${pgName(c.name)}`).join(' AND ');
  }

  /** One row's key values as parameters. */
  keyParams(key: readonly SqlValue[]): (string | number | Buffer | null)[] {
    return this.shape.pk.map((c, i) => toPg(key[i] ?? null, c.kind, this.name, c.name));
  }

  /** The key columns of each row as parameter arrays (one array per key column). */
  keyArrays(keys: readonly SqlValue[][]): unknown[][] {
    return this.shape.pk.map((c, i) => keys.map((key) => toPg(key[i] ?? null, c.kind, this.name, c.name)));
  }

  /** A row's key values as read from PostgreSQL. */
  keyOf(row: unknown[]): SqlValue[] {
    return this.shape.pk.map((c, i) => fromPg(row[i], c.kind));
  }
}


/** Key values as a map key (their encoded primary-key blob). */
export function keyText(key: SqlValue[]): string {
  return Buffer.from(encodePk(key)).toString('latin1');
}
