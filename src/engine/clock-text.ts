// The TEXT form of a row's clocks (see row-clocks.ts), read and written through a flat numeric
// buffer: no JSON.parse and no object per cell, for the paths that run once per row (the update
// trigger, encoding, merging).
//
// | buffer slot         | holds                                              |
// |---------------------|----------------------------------------------------|
// | 4p + 0              | version of part p (0: sentinel, 1 + i: cell i); -1 when absent |
// | 4p + 1, 4p + 2, 4p + 3 | db_version, seq, site ordinal                   |

/** Numbers per part in a clock buffer. */
export const PART_SIZE = 4;

const ZERO = 48;
const NINE = 57;
const OPEN = 91; // [
const CLOSE = 93; // ]
const COMMA = 44;
const N = 110; // n of null

/** A buffer large enough for `partCount` parts, reusing `buffer` when it is. */
export function clockBuffer(buffer: Float64Array<ArrayBuffer>, partCount: number): Float64Array<ArrayBuffer> {
  return buffer.length >= partCount * PART_SIZE ? buffer : new Float64Array(Math.max(partCount * PART_SIZE, buffer.length * 2));
}

/**
 * Reads the TEXT form into `out` for `partCount` parts (parts beyond the text are absent, parts
 * beyond `partCount` are checked and ignored). Returns false when the text is not well formed:
 * `<digits>[part,…]` with at least one part, each `null` or `[n,n,n,n]` of safe non-negative
 * integers without leading zeros.
 */
export function parseClockText(text: string, partCount: number, out: Float64Array): boolean {
  const length = text.length;
  let i = 0;
  while (i < length && isDigit(text.charCodeAt(i))) i++;
  if (i === 0 || i >= length || text.charCodeAt(i) !== OPEN) return false;
  i++;
  let part = 0;
  for (;;) {
    const at = part * PART_SIZE;
    const keep = part < partCount;
    const c = text.charCodeAt(i);
    if (c === N) {
      if (text.charCodeAt(i + 1) !== 117 || text.charCodeAt(i + 2) !== 108 || text.charCodeAt(i + 3) !== 108) return false;
      i += 4;
      if (keep) out[at] = -1;
    } else if (c === OPEN) {
      i++;
      for (let field = 0; field < PART_SIZE; field++) {
        const start = i;
        let value = 0;
        for (let d = text.charCodeAt(i); isDigit(d); d = text.charCodeAt(++i)) value = value * 10 + (d - ZERO);
        const digits = i - start;
        if (digits === 0 || digits > 16 || (digits > 1 && text.charCodeAt(start) === ZERO) || value > Number.MAX_SAFE_INTEGER) return false;
        if (keep) out[at + field] = value;
        if (text.charCodeAt(i++) !== (field === PART_SIZE - 1 ? CLOSE : COMMA)) return false;
      }
    } else {
      return false;
    }
    part++;
    const next = text.charCodeAt(i++);
    if (next === CLOSE) break;
    if (next !== COMMA) return false;
  }
  if (i !== length) return false;
  for (let p = part; p < partCount; p++) out[p * PART_SIZE] = -1;
  return true;
}

/** Fills `out` with the fresh-insert form: no sentinel, every cell version 1 at `dbVersion`, seqs from `firstSeq`. */
export function freshClockParts(dbVersion: number, firstSeq: number, partCount: number, out: Float64Array): void {
  out[0] = -1;
  for (let p = 1; p < partCount; p++) {
    const at = p * PART_SIZE;
    out[at] = 1;
    out[at + 1] = dbVersion;
    out[at + 2] = firstSeq + p - 1;
    out[at + 3] = 0;
  }
}

/** Writes `partCount` parts of a buffer as the TEXT form (the newest db_version first). */
export function formatClockParts(parts: Float64Array, partCount: number): string {
  let max = 0;
  let body = '';
  for (let p = 0; p < partCount; p++) {
    const at = p * PART_SIZE;
    if (p > 0) body += ',';
    if ((parts[at] as number) < 0) {
      body += 'null';
      continue;
    }
    const dbVersion = parts[at + 1] as number;
    if (dbVersion > max) max = dbVersion;
    body += `[${parts[at] as number},${dbVersion},${parts[at + 2] as number},${parts[at + 3] as number}]`;
  }
  return `${max}[${body}]`;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}
