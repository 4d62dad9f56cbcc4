// Child process for the crash test: applies a payload file to a database file, announcing the
// start on stdout, so that the parent can kill it in the middle of the apply.

import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { load } from '../../src/index.js';

const [file, payloadFile] = process.argv.slice(2) as [string, string];
const db = new Database(file);
db.pragma('journal_mode = WAL');
const sync = load(db);
const payload = readFileSync(payloadFile);
process.stdout.write('applying\n');
sync.applyPayload(payload);
process.stdout.write('applied\n');
db.close();
