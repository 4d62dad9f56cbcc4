// Renders query results as a text table in the style of the sqlite3 CLI's `.mode table`.

/** Formats `rows` under `columns` as a `+---+` bordered table, one line per row, without a final newline. */
export function formatTable(columns: string[], rows: unknown[][]): string {
  const cells = rows.map((row) => columns.map((_, i) => formatValue(row[i])));
  const widths = columns.map((name, i) => Math.max(width(name), ...cells.map((row) => width(row[i] as string))));
  const border = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (texts: string[], align: (text: string, w: number, i: number) => string) =>
    `| ${texts.map((text, i) => align(text, widths[i] as number, i)).join(' | ')} |`;
  const header = line(columns.map(escapeText), (text, w) => center(text, w));
  const body = rows.map((row, r) =>
    line(cells[r] as string[], (text, w, i) => (isNumeric(row[i]) ? pad(text, w, 'left') : pad(text, w, 'right'))),
  );
  return [border, header, border, ...body, border].join('\n');
}

// One SQL value as a cell: NULL empty, numbers in decimal, blobs as X'…' literals.
function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'bigint' || typeof value === 'number') return String(value);
  if (typeof value === 'string') return escapeText(value);
  if (value instanceof Uint8Array) return `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex').toUpperCase()}'`;
  return escapeText(String(value));
}

// Control characters that would break the alignment are shown as escapes.
function escapeText(text: string): string {
  return text.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

function isNumeric(value: unknown): boolean {
  return typeof value === 'number' || typeof value === 'bigint';
}

// Width in code points, so a character outside the BMP counts once (East-Asian width is ignored).
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, w: number, side: 'left' | 'right'): string {
  const fill = ' '.repeat(w - width(text));
  return side === 'left' ? fill + text : text + fill;
}

// Headers are centered like sqlite3 does, the odd space going to the right.
function center(text: string, w: number): string {
  const extra = w - width(text);
  const left = Math.floor(extra / 2);
  return ' '.repeat(left) + text + ' '.repeat(extra - left);
}
