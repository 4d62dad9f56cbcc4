// Names of prepared statements, for the queries every request makes: PostgreSQL parses and plans
// a named statement once per connection. It keeps 63 bytes of a name, so the name is a digest of
// the text (one text, one name, on every connection).

import { createHash } from 'node:crypto';

const names = new Map<string, string>();

/** The statement name of a query text. */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `q${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 100_000) names.set(text, name);
  }
  return name;
}
