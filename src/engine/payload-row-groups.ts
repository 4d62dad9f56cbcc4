// Groups the changes of a payload by row (table and primary key) while the payload is read once,
// keeping only numbers: where each change starts in the body and which row it belongs to. Merging
// then decodes the changes of one row again, together, when it reaches that row, so decoded
// changes die young instead of all living until the end of a large apply.

import { type Change, PayloadRows } from '../codec/payload.js';
import { CloudSyncError, unexpected } from './errors.js';
import { type RowKeyOf, rowId, TableNames } from './row-keys.js';

/**
 * Reads a payload once: verifies it whole (a CodecError becomes a PAYLOAD error of `fn`), passes
 * every change to `check` (which throws to refuse it; a malformed payload is reported as such even
 * when an earlier change was refused) and to `onChange`, and groups the changes by row.
 */
export function groupPayloadRows(
  payload: Uint8Array,
  fn: string,
  check: (change: Change) => void,
  onChange?: (change: Change) => void,
  rowKeyOf?: RowKeyOf,
): { count: number; groups: PayloadRowGroups } {
  let refused: unknown = null;
  let result: { count: number; groups: PayloadRowGroups };
  try {
    const rows = new PayloadRows(payload);
    const count = rows.header.nrows;
    const groups = new PayloadRowGroups(rows, count, rowKeyOf);
    for (let i = 0; i < count; i++) {
      const offset = rows.offset;
      const change = rows.read();
      if (refused === null) {
        try {
          check(change);
        } catch (error) {
          refused = error;
        }
      }
      groups.add(offset, change);
      onChange?.(change);
    }
    rows.finish();
    result = { count, groups };
  } catch (error) {
    throw new CloudSyncError('PAYLOAD', `${fn}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (refused !== null) throw refused;
  return result;
}

/**
 * The rows of one payload, grouped by table and primary key in order of first appearance. Keys
 * for which `rowKeyOf` gives bytes (keys under NOCASE or RTRIM) are grouped by those bytes.
 */
export class PayloadRowGroups {
  private readonly offsets: Uint32Array;
  private readonly groupOf: Int32Array;
  private changes = 0;
  private groups = 0;
  // per group: the primary key's bytes in the body, and the table (an index into `tables`)
  private pkStart = new Int32Array(1024);
  private pkLength = new Int32Array(1024);
  private tableOf = new Int32Array(1024);
  private readonly tables: string[] = [];
  // first group with a given hash; later groups with the same hash are chained
  private readonly byHash = new Map<number, number>();
  private sameHash = new Int32Array(1024);
  private lastGroup = -1;
  private lastPk: Uint8Array | null = null;
  private lastTable = '';
  // groups of rows identified by collated keys (rowKeyOf), by table and key
  private readonly collated = new Map<string, number>();
  // table names as SQLite compares them: 'Tags' and 'tags' are one table
  private readonly names = new TableNames();

  constructor(
    private readonly rows: PayloadRows,
    capacity: number,
    private readonly rowKeyOf?: RowKeyOf,
  ) {
    this.offsets = new Uint32Array(capacity);
    this.groupOf = new Int32Array(capacity);
  }

  /** Records the change just read from `offset` of the body. */
  add(offset: number, change: Change): void {
    const index = this.changes++;
    this.offsets[index] = offset;
    this.groupOf[index] = this.groupFor(change);
  }

  /** The changes of each row, decoded again, rows in order of first appearance, changes in payload order. */
  *changesByRow(): Generator<Change[]> {
    const groups = this.groups;
    const starts = new Uint32Array(groups + 1);
    for (let i = 0; i < this.changes; i++) {
      const at = (this.groupOf[i] as number) + 1;
      starts[at] = (starts[at] as number) + 1;
    }
    for (let g = 0; g < groups; g++) starts[g + 1] = (starts[g + 1] as number) + (starts[g] as number);
    const next = starts.slice(0, groups);
    const order = new Uint32Array(this.changes);
    for (let i = 0; i < this.changes; i++) {
      const g = this.groupOf[i] as number;
      order[next[g] as number] = i;
      next[g] = (next[g] as number) + 1;
    }
    for (let g = 0; g < groups; g++) {
      const group: Change[] = [];
      for (let k = starts[g] as number; k < (starts[g + 1] as number); k++) group.push(this.rows.read(this.offsets[order[k] as number] as number));
      yield group;
    }
  }

  /** Each row's table (folded) and primary key bytes, in order of first appearance; nothing is decoded. */
  *rowKeys(): Generator<{ table: string; pk: Uint8Array }> {
    const body = this.rows.body;
    for (let g = 0; g < this.groups; g++) {
      const start = this.pkStart[g] as number;
      yield { table: this.tables[this.tableOf[g] as number] as string, pk: body.subarray(start, start + (this.pkLength[g] as number)) };
    }
  }

  private groupFor(change: Change): number {
    const pk = change.pk;
    if (this.lastGroup >= 0 && (pk === this.lastPk || this.samePk(this.lastGroup, pk)) && change.tbl === this.lastTable) return this.lastGroup;
    const key = this.rowKeyOf?.(change) ?? null;
    const tbl = this.names.fold(change.tbl);
    let group: number;
    if (key !== null) {
      const id = rowId(tbl, key);
      group = this.collated.get(id) ?? -1;
      if (group < 0) this.collated.set(id, (group = this.newGroup(change, tbl, null)));
    } else {
      const hash = rowHashOf(tbl, pk);
      group = this.byHash.get(hash) ?? -1;
      while (group >= 0 && !(this.samePk(group, pk) && this.tables[this.tableOf[group] as number] === tbl)) group = this.sameHash[group] as number;
      if (group < 0) group = this.newGroup(change, tbl, hash);
    }
    this.lastGroup = group;
    this.lastPk = pk;
    this.lastTable = change.tbl;
    return group;
  }

  /** A new group for `change`'s row in table `tbl` (folded); `hash` null: found through `collated`, not by hash. */
  private newGroup(change: Change, tbl: string, hash: number | null): number {
    const body = this.rows.body;
    const pk = change.pk;
    if (pk.buffer !== body.buffer) unexpected('a decoded primary key is not a view into its payload body');
    const group = this.groups++;
    if (group === this.pkStart.length) this.grow();
    this.pkStart[group] = pk.byteOffset - body.byteOffset;
    this.pkLength[group] = pk.length;
    let table = this.tables.indexOf(tbl);
    if (table < 0) table = this.tables.push(tbl) - 1;
    this.tableOf[group] = table;
    if (hash !== null) {
      this.sameHash[group] = this.byHash.get(hash) ?? -1;
      this.byHash.set(hash, group);
    }
    return group;
  }

  private samePk(group: number, pk: Uint8Array): boolean {
    const length = this.pkLength[group] as number;
    if (length !== pk.length) return false;
    const body = this.rows.body;
    const start = this.pkStart[group] as number;
    for (let i = 0; i < length; i++) if (body[start + i] !== pk[i]) return false;
    return true;
  }

  private grow(): void {
    const size = this.pkStart.length * 2;
    const grown = (from: Int32Array) => {
      const to = new Int32Array(size);
      to.set(from);
      return to;
    };
    this.pkStart = grown(this.pkStart);
    this.pkLength = grown(this.pkLength);
    this.tableOf = grown(this.tableOf);
    this.sameHash = grown(this.sameHash);
  }
}

/** FNV-1a over the bytes that identify a row and its table's name, cut to 30 bits (a small integer: a cheap Map key). */
export function rowHashOf(tbl: string, key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ (key[i] as number), 0x01000193);
  for (let i = 0; i < tbl.length; i++) h = Math.imul(h ^ tbl.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}
