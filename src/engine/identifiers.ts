// Quoting of SQL identifiers and string literals for the SQL the engine generates.

/** Quotes an identifier: "name" with embedded quotes doubled. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal: 'text' with embedded quotes doubled. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The name of a table's meta table. */
export function metaTableName(table: string): string {
  return `${table}_cloudsync`;
}

/** The name of a table's log of local writes (tables with log-structured writes). */
export function logTableName(table: string): string {
  return `${table}_cloudsync_log`;
}

/** An identifier as SQLite compares names: ASCII letters without case, every other character as is ('Été' and 'été' are two tables). */
export function foldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}
