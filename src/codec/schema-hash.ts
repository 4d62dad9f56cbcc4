// The schema hash that gates payload exchange: 64-bit FNV-1a over the normalised
// group_concat(LOWER(sql)) of the augmented tables' CREATE TABLE statements.
//
// Normalisation, as derived from the reference vectors (test/fixtures/vectors/schema-hash.json):
// - statements are joined with ',' (group_concat's default) and lowered ASCII-only, quoted
//   text included (SQLite's built-in lower());
// - outside quotes: `-- …` up to the newline and `/* … */` are dropped; a run of whitespace
//   becomes one space, which is dropped at the start, at the end and before `(`, `)` or `,`
//   (a space after `(` is kept); `;` is dropped; other control characters are dropped;
// - '…' and "…" are copied verbatim, except that a doubled quote inside them ('' or "")
//   is hashed as a single quote character (vector: "we ""ird"" t" hashes as "we "ird" t").
// Unverified by any vector: comments adjoining text without whitespace join it without a space;
// backquotes and [brackets] are not quotes; bytes >= 0x80 are kept.

import { fnv1a64 } from './checksum.js';

const UTF8 = new TextEncoder();

/** Schema hash (unsigned 64-bit) of the CREATE TABLE statements (sqlite_master.sql) of the synced tables, in creation order. */
export function schemaHash(createStatements: readonly string[]): bigint {
  return fnv1a64(UTF8.encode(normalizeSchemaSql(lowerAscii(createStatements.join(',')))));
}

/** The normalised text that schemaHash hashes, for an already joined and lowered input. */
export function normalizeSchemaSql(sql: string): string {
  const out: string[] = [];
  const n = sql.length;
  let pendingSpace = false;
  let quote = '';
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (quote !== '') {
      if (c === quote) {
        if (sql[i + 1] === quote) {
          out.push(quote); // an escaped quote is hashed once and the quoted text goes on
          i += 2;
          continue;
        }
        quote = '';
      }
      out.push(c);
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const newline = sql.indexOf('\n', i + 2);
      i = newline < 0 ? n : newline;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      continue;
    }
    const code = c.charCodeAt(0);
    if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) {
      pendingSpace = out.length > 0;
      i++;
      continue;
    }
    i++;
    if (code < 0x20 || code === 0x7f || c === ';') continue;
    if (pendingSpace && c !== '(' && c !== ')' && c !== ',') out.push(' ');
    pendingSpace = false;
    if (c === "'" || c === '"') quote = c;
    out.push(c);
  }
  return out.join('');
}

/** Reinterprets an unsigned 64-bit value as signed (how SQLite stores the hash). */
export function toSignedInt64(u: bigint): bigint {
  return BigInt.asIntN(64, u);
}

/** Reinterprets a signed 64-bit value as unsigned. */
export function toUnsignedInt64(s: bigint): bigint {
  return BigInt.asUintN(64, s);
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
