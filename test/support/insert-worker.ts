// Child process for the concurrent-writers test: inserts rows one autocommit statement at a time.

import Database from 'better-sqlite3';
import { load } from '../../src/index.js';

const [file, prefix, count] = process.argv.slice(2) as [string, string, string];
const db = new Database(file);
db.pragma('busy_timeout = 10000');
load(db);
const insert = db.prepare('INSERT INTO items (id, name) VALUES (?, ?)');
for (let i = 0; i < Number(count); i++) insert.run(`${prefix}-${i}`, `from ${prefix}`);
db.close();
