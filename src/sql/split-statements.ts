// Splits a string of SQL into single statements, respecting quotes, comments and the
// BEGIN…END body of CREATE TRIGGER.

/** Returns the statements of `sql` (without their trailing semicolons), skipping empty ones. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let depth = 0;
  let words: string[] = [];
  let i = 0;
  const flush = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (text !== '' && !/^(--[^\n]*\n?|\/\*[\s\S]*?\*\/|\s)*$/.test(text)) statements.push(text);
    start = end + 1;
    depth = 0;
    words = [];
  };
  while (i < sql.length) {
    const ch = sql[i] as string;
    if (ch === "'" || ch === '"' || ch === '`') {
      const close = sql.indexOf(ch, i + 1);
      i = close < 0 ? sql.length : close + 1;
      // a doubled quote continues the same literal
      while (i < sql.length && sql[i] === ch) {
        const next = sql.indexOf(ch, i + 1);
        i = next < 0 ? sql.length : next + 1;
      }
      continue;
    }
    if (ch === '[') {
      const close = sql.indexOf(']', i + 1);
      i = close < 0 ? sql.length : close + 1;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j] as string)) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (words.length < 4) words.push(word);
      const isTrigger = words[0] === 'CREATE' && words.includes('TRIGGER');
      if (isTrigger && (word === 'BEGIN' || word === 'CASE')) depth++;
      else if (isTrigger && word === 'END' && depth > 0) depth--;
      i = j;
      continue;
    }
    if (ch === ';' && depth === 0) flush(i);
    i++;
  }
  flush(sql.length);
  return statements;
}
