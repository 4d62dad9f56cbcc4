// useQuery: a React hook over a browser database: the rows of a query, read again whenever a
// local commit or a merged change touches the tables it names (table-level invalidation).

import { useEffect, useRef, useState } from 'react';
import type { BrowserDatabase, Row, RowValue } from '../browser/database.js';

/** What useQuery returns: the latest rows, the error of the latest read, and whether a read is running. */
export interface QueryState {
  rows: Row[];
  error: Error | null;
  loading: boolean;
}

/**
 * The rows of `sql` (with `bind`) on `db`, kept current: read again after every commit that changes
 * one of `tables` (default: any synced table). `db` may be null while it opens.
 */
export function useQuery(db: BrowserDatabase | null, sql: string, bind: readonly RowValue[] = [], tables?: readonly string[]): QueryState {
  const [state, setState] = useState<QueryState>({ rows: [], error: null, loading: true });
  const reads = useRef(0);
  // bind and tables by value: a new array with the same values is the same query
  const key = JSON.stringify([sql, bind.map((v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v)), tables ?? null]);
  useEffect(() => {
    if (db === null) return;
    let live = true;
    const read = () => {
      const n = ++reads.current;
      setState((previous) => ({ ...previous, loading: true }));
      db.query(sql, bind).then(
        (rows) => live && n === reads.current && setState({ rows, error: null, loading: false }),
        (error: unknown) => live && n === reads.current && setState((previous) => ({ rows: previous.rows, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
      );
    };
    const stop = db.subscribe(read, tables);
    read();
    return () => {
      live = false;
      stop();
    };
    // `key` stands for sql, bind and tables
  }, [db, key]);
  return state;
}
