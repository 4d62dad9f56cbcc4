// Finds the ALTER TABLE statements in SQL text (the table each one alters and whether it renames
// the table), so that a synced table is not altered outside cloudsync_begin_alter/commit_alter.

import type { AlterStatement } from '../engine/alter-state.js';

const NAME = String.raw`(?:"(?:[^"]|"")*"|\x60(?:[^\x60]|\x60\x60)*\x60|\[[^\]]*\]|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)`;
const ALTER = new RegExp(
  String.raw`\bALTER\s+TABLE\s+(${NAME})(?:\s*\.\s*(${NAME}))?\s+(?:(RENAME\s+TO\b)|RENAME\s+(?:COLUMN\s+)?(${NAME})\s+TO\s+(${NAME}))?`,
  'gi',
);

/** True when the text may hold an ALTER TABLE (a cheap test before alterStatements). */
export function mayAlter(sql: string): boolean {
  return /\balter\s+table\b/i.test(sql);
}

/** The ALTER TABLE statements of `sql` (a match inside a string literal or comment counts too: that only costs a check). */
export function alterStatements(sql: string): AlterStatement[] {
  const found: AlterStatement[] = [];
  for (const m of sql.matchAll(ALTER)) {
    const first = unquote(m[1] as string);
    const second = m[2] === undefined ? null : unquote(m[2]);
    const renamesColumn = m[4] === undefined || m[5] === undefined ? null : { from: unquote(m[4]), to: unquote(m[5]) };
    found.push({ schema: second === null ? null : first, table: second ?? first, renamesTable: m[3] !== undefined, renamesColumn });
  }
  return found;
}

function unquote(name: string): string {
  const open = name[0];
  if (open === '"') return name.slice(1, -1).replaceAll('""', '"');
  if (open === '`') return name.slice(1, -1).replaceAll('``', '`');
  if (open === '[') return name.slice(1, -1);
  return name;
}
