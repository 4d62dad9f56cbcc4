// Collects every *.test.ts under src/ and test/ and runs them with node's test runner through tsx.
// Node 20 neither expands globs nor discovers .ts files by itself, hence this script.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startPostgres } from './postgres.mjs';

const roots = ['src', 'test'];
const filter = process.argv.slice(2);
const files = roots
  .flatMap((root) => readdirSync(root, { recursive: true }).map((f) => join(root, String(f))))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
// one PostgreSQL for the whole run (each test file makes its own database in it)
const env = { ...process.env };
let postgres = null;
if (!env.SQLITE_SYNC_TEST_PG) {
  const started = await startPostgres();
  if (started.skip) env.SQLITE_SYNC_TEST_PG_SKIP = started.skip;
  else {
    postgres = started;
    env.SQLITE_SYNC_TEST_PG = started.url;
  }
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  { stdio: 'inherit', env },
);
postgres?.stop();
process.exit(result.status ?? 1);
