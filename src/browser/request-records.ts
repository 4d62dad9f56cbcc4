// Exactly-once SQL for the other tabs: a write that another tab asked for is recorded in the same
// transaction, with its answer, so that when the owner tab closes before answering, the request
// sent again to the next owner is answered from the record instead of running twice.
//
// | column | meaning                                                   |
// |--------|-----------------------------------------------------------|
// | key    | the asking tab's id and its request id, `tab:id`          |
// | result | the answer, as JSON (bigint and bytes tagged, see below)  |
// | at     | when it ran (ms since 1970); records older than a day go  |

import type { Row, RowValue } from '../load-wasm.js';

/** What recording needs of the database: SQL through the engine's own statement path. */
export interface RecordingDatabase {
  exec(sql: string, bind?: readonly RowValue[]): Row[];
}

const KEEP_MS = 24 * 60 * 60 * 1000;

// SQL that opens or ends a transaction itself cannot run inside the record's savepoint.
const TRANSACTION_CONTROL = /\b(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

/** True when `sql` can run under a record (false: it controls transactions itself). */
export function canRecord(sqlTexts: readonly string[]): boolean {
  return sqlTexts.every((sql) => !TRANSACTION_CONTROL.test(sql));
}

/** The SQL texts of a worker request that runs SQL (`exec`, `batch`), or null for any other method. */
export function sqlOf(request: { method: string; args: readonly unknown[] }): string[] | null {
  if (request.method === 'exec') return [String(request.args[0])];
  if (request.method === 'batch') return (request.args[0] as { sql: string }[]).map((statement) => statement.sql);
  return null;
}

/** The records of one database, made on the first recorded request. */
export class RequestRecords {
  private ready = false;

  constructor(
    private readonly db: RecordingDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `work` once for `key`: the answer of an earlier run that committed, else `work` inside a
   * savepoint that also records its answer when it changed the database (a read records nothing).
   */
  runOnce<T>(key: string, work: () => T): T {
    this.prepare();
    const done = this.db.exec('SELECT result FROM cloudsync_tab_requests WHERE key = ?', [key])[0];
    if (done) return decodeResult(String(done.result)) as T;
    const changes = () => Number(this.db.exec('SELECT total_changes() AS n')[0]?.n);
    this.db.exec('SAVEPOINT cloudsync_tab_request');
    try {
      const before = changes();
      const result = work();
      if (changes() !== before) this.db.exec('INSERT INTO cloudsync_tab_requests (key, result, at) VALUES (?, ?, ?)', [key, encodeResult(result), this.now()]);
      this.db.exec('RELEASE cloudsync_tab_request');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK TO cloudsync_tab_request; RELEASE cloudsync_tab_request');
      throw error;
    }
  }

  private prepare(): void {
    if (this.ready) return;
    this.db.exec('CREATE TABLE IF NOT EXISTS cloudsync_tab_requests (key TEXT PRIMARY KEY NOT NULL, result TEXT NOT NULL, at INTEGER NOT NULL)');
    this.db.exec('DELETE FROM cloudsync_tab_requests WHERE at < ?', [this.now() - KEEP_MS]);
    this.ready = true;
  }
}

/** JSON of an answer: bigint as {"$bigint": "…"}, bytes as {"$bytes": [..]}. */
export function encodeResult(value: unknown): string {
  return JSON.stringify(value ?? null, (_, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v instanceof Uint8Array ? { $bytes: [...v] } : v));
}

/** The answer from its JSON. */
export function decodeResult(text: string): unknown {
  return JSON.parse(text, (_, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const tagged = v as { $bigint?: string; $bytes?: number[] };
      if (typeof tagged.$bigint === 'string') return BigInt(tagged.$bigint);
      if (Array.isArray(tagged.$bytes)) return Uint8Array.from(tagged.$bytes);
    }
    return v;
  });
}
