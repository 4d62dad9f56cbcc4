// Multi-row INSERT statements for the last write of each merged row: a statement per 50 rows
// instead of one per row. A failing batch is replayed row by row to name the failing row.

import type { SqlValue } from '../codec/value.js';
import { quoteIdentifier as q } from './identifiers.js';
import type { SyncedTable } from './synced-table.js';

/** Identifies a buffered row in errors: its table and decoded primary key. */
export interface RowIdentity {
  table: SyncedTable;
  pk: SqlValue[];
}

/** Raised when a buffered row cannot be written; `row` is the failing one. */
export class BatchRowError extends Error {
  constructor(
    readonly row: RowIdentity,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

const MAX_ROWS = 50;
const MAX_PARAMETERS = 30000;

interface Buffer {
  table: SyncedTable;
  /** SQL prefix up to VALUES, the per-row tuple, and a suffix (upsert clause). */
  head: string;
  tuple: string;
  tail: string;
  width: number;
  params: SqlValue[];
  rows: RowIdentity[];
}

/** Buffers meta-row puts and inserts of new base rows, per table and column set. */
export class BatchedWrites {
  private readonly buffers = new Map<string, Buffer>();

  /** INSERT OR REPLACE of a meta row. */
  putMeta(table: SyncedTable, pk: SqlValue[], clocks: SqlValue): void {
    const key = `meta\u0000${table.name}`;
    let buffer = this.buffers.get(key);
    if (!buffer) {
      const keys = table.layout.pk.map((_, i) => `pk${i + 1}`).join(', ');
      buffer = this.create(key, table, `INSERT OR REPLACE INTO ${table.quotedMeta} (${keys}, clocks) VALUES `, pk.length + 1, '');
    }
    this.push(key, buffer, { table, pk }, [...pk, clocks]);
  }

  /** Upsert of a row this database did not know: its key and the given columns. */
  upsertBase(table: SyncedTable, pk: SqlValue[], columns: readonly number[], values: readonly SqlValue[]): void {
    const key = `base\u0000${table.name}\u0000${columns.join(',')}`;
    let buffer = this.buffers.get(key);
    if (!buffer) {
      const keyNames = table.layout.pk.map((c) => q(c.name));
      const names = columns.map((i) => q(table.layout.columns[i] ?? ''));
      const tail = names.length > 0 ? ` ON CONFLICT (${keyNames.join(', ')}) DO UPDATE SET ${names.map((c) => `${c} = excluded.${c}`).join(', ')}` : ' ON CONFLICT DO NOTHING';
      buffer = this.create(key, table, `INSERT INTO ${table.quotedName} (${[...keyNames, ...names].join(', ')}) VALUES `, keyNames.length + names.length, tail);
    }
    this.push(key, buffer, { table, pk }, [...pk, ...values]);
  }

  /** Writes everything buffered. */
  flush(): void {
    for (const [key, buffer] of this.buffers) this.write(key, buffer);
  }

  private create(key: string, table: SyncedTable, head: string, width: number, tail: string): Buffer {
    const buffer: Buffer = { table, head, tuple: `(${new Array(width).fill('?').join(', ')})`, tail, width, params: [], rows: [] };
    this.buffers.set(key, buffer);
    return buffer;
  }

  private push(key: string, buffer: Buffer, row: RowIdentity, params: SqlValue[]): void {
    for (const p of params) buffer.params.push(p);
    buffer.rows.push(row);
    if (buffer.rows.length >= Math.max(1, Math.min(MAX_ROWS, Math.floor(MAX_PARAMETERS / buffer.width)))) this.write(key, buffer);
  }

  private write(key: string, buffer: Buffer): void {
    const count = buffer.rows.length;
    if (count === 0) return;
    const statementFor = (n: number) =>
      buffer.table.statement(`batch:${key}:${n}`, () => `${buffer.head}${new Array(n).fill(buffer.tuple).join(', ')}${buffer.tail}`);
    try {
      statementFor(count).run(buffer.params);
    } catch (error) {
      // Find the row: each write either fails alone or is part of the transaction being rolled back.
      for (let i = 0; i < count; i++) {
        try {
          statementFor(1).run(buffer.params.slice(i * buffer.width, (i + 1) * buffer.width));
        } catch (rowError) {
          throw new BatchRowError(buffer.rows[i] as RowIdentity, rowError);
        }
      }
      throw error;
    } finally {
      buffer.params = [];
      buffer.rows = [];
    }
  }
}
