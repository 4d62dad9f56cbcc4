// Child process for the concurrent-writers test: inserts rows one autocommit statement at a
// time, or five at a time in deferred transactions (db.transaction's default BEGIN).

import Database from 'better-sqlite3';
import { load } from '../../src/index.js';

const [file, prefix, count, mode] = process.argv.slice(2) as [string, string, string, string];
const db = new Database(file);
db.pragma('busy_timeout = 10000');
load(db);
const insert = db.prepare('INSERT INTO items (id, name) VALUES (?, ?)');
if (mode === 'transaction') {
  const five = db.transaction((start: number) => {
    for (let i = start; i < start + 5; i++) insert.run(`${prefix}-${i}`, `from ${prefix}`);
  });
  for (let i = 0; i < Number(count); i += 5) five(i);
} else {
  for (let i = 0; i < Number(count); i++) insert.run(`${prefix}-${i}`, `from ${prefix}`);
}
db.close();
