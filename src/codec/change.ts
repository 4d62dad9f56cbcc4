// One change: a row of cloudsync_changes, the unit a payload carries (9 values per row).

import type { SqlValue } from './value.js';

/** Column name of the sentinel meta row whose col_version is the row's causal length. */
export const SENTINEL = '__[RIP]__';

/** One change as carried by a payload; version fields are safe non-negative integers. */
export interface Change {
  /** Table name. */
  tbl: string;
  /** Primary-key blob (see encodePk). */
  pk: Uint8Array;
  /** Column name, or SENTINEL for the row's causal-length change (a NULL on the wire decodes to it). */
  colName: string;
  colValue: SqlValue;
  colVersion: number;
  dbVersion: number;
  /** 16-byte site id of the change's origin. */
  siteId: Uint8Array;
  /** Causal length: odd = alive, even = deleted. */
  cl: number;
  seq: number;
}
