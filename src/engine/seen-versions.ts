// What one connection last saw of its database's versions, to notice other connections' work:
// PRAGMA data_version moves only when another connection commits, PRAGMA schema_version with any
// schema change. The engine reads them before the state they validate, so that a commit of
// another connection meanwhile leaves them older than the state (the next look catches up again),
// never the other way round. A memory database has no other connection: nothing ever moves.

import type { Connection, Statement } from './connection.js';

/** The data and schema versions a connection last saw, and the tests the engine makes with them. */
export class SeenVersions {
  private data = -1;
  private schema = -1;
  private dataStatement: Statement | null = null;
  private schemaStatement: Statement | null = null;

  constructor(private readonly db: Connection) {}

  /** PRAGMA data_version, now. */
  readData(): number {
    this.dataStatement ??= this.db.prepare('PRAGMA data_version');
    return Number(this.dataStatement.get()?.[0] ?? 0);
  }

  /** PRAGMA schema_version, now. */
  readSchema(): number {
    this.schemaStatement ??= this.db.prepare('PRAGMA schema_version');
    return Number(this.schemaStatement.get()?.[0] ?? 0);
  }

  /** Records versions read before the state they validate (the schema version: unchanged when omitted). */
  see(data: number, schema = this.schema): void {
    this.data = data;
    this.schema = schema;
  }

  /** Records the schema version now: after this connection's own schema change, inside its transaction. */
  seeSchema(): void {
    this.schema = this.readSchema();
  }

  /** Forgets the data version seen: the next look catches up whatever it finds. */
  forgetData(): void {
    this.data = -1;
  }

  /** The data version now when another connection committed since it was seen, else null. */
  dataMoved(): number | null {
    if (this.db.isMemory) return null;
    const data = this.readData();
    return data === this.data ? null : data;
  }

  /** True when the schema version now is not the one seen. */
  schemaMoved(): boolean {
    return this.readSchema() !== this.schema;
  }

  /** True when `data` (PRAGMA data_version read by the caller) says another connection committed since. */
  othersCommitted(data: number): boolean {
    return !this.db.isMemory && data !== this.data;
  }

  /**
   * True when the tables may have changed under this connection: `schema` is not the version seen,
   * and another connection committed since (`data` moved). A new schema version with the same data
   * version is this connection's own DDL (another connection's commit would have moved the data
   * version), which it adopts.
   */
  staleSchema(schema: number, data: number): boolean {
    if (this.db.isMemory || schema === this.schema) return false;
    if (data !== this.data) return true;
    this.schema = schema;
    return false;
  }
}
