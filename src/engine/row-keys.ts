// Which row of its table a change belongs to, when the key columns compare under NOCASE or RTRIM:
// 'abc' and 'ABC' are one row to SQLite, so they must be one row when a merge groups changes.

import type { Change } from '../codec/change.js';
import { decodePk, encodePk } from '../codec/pk.js';
import type { SqlValue } from '../codec/value.js';

/** The bytes that identify a change's row in its table, or null when they are its pk bytes. */
export type RowKeyOf = (change: Change) => Uint8Array | null;

/** A text key as a built-in collation compares it: NOCASE folds ASCII letters, RTRIM ignores trailing spaces. */
export function collateText(text: string, collation: string): string {
  if (collation === 'NOCASE') return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (collation === 'RTRIM') return text.replace(/ +$/, '');
  return text;
}

/** A text naming one row: a table name and the bytes that identify the row (a Map key). */
export function rowId(tbl: string, key: Uint8Array): string {
  return `${tbl}\u0000${Array.from(key).join(',')}`;
}

/** A table name as SQLite compares it (ASCII letters without case), for grouping changes by table. */
export class TableNames {
  private raw = '';
  private folded = '';

  /** `name` folded; the last name is remembered, since changes come table by table. */
  fold(name: string): string {
    if (name !== this.raw) {
      this.raw = name;
      this.folded = collateText(name, 'NOCASE');
    }
    return this.folded;
  }
}

/** The key collations that fold text (upper-cased names), or null when every key column compares bytes (other collations: as bytes). */
export function foldingCollations(collations: readonly string[]): string[] | null {
  const names = collations.map((c) => c.toUpperCase());
  return names.some((c) => c === 'NOCASE' || c === 'RTRIM') ? names : null;
}

/** Key values with every text replaced by its collated form: equal for keys SQLite sees as one. */
export function collatedKey(values: readonly SqlValue[], collations: readonly string[]): SqlValue[] {
  return values.map((value, i) => (typeof value === 'string' ? collateText(value, collations[i] ?? 'BINARY') : value));
}

/** collatedKey on a pk blob. */
export function collatedPk(pk: Uint8Array, collations: readonly string[]): Uint8Array {
  return encodePk(collatedKey(decodePk(pk), collations));
}
