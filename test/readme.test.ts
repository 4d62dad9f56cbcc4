// The README's Quick start runs as written: each TypeScript block of that section runs in a fresh
// folder (its imports pointed at this checkout), and every `console.log(…); // expected` prints
// the expected text.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { temporaryFolder } from './support/databases.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const folder = temporaryFolder();
after(() => folder.remove());

function quickStartBlocks(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'the README has a Quick start section');
  const blocks = [...readme.slice(start, end).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  assert.ok(blocks.length >= 2, 'the Quick start shows SQL and the typed API');
  return blocks;
}

const requireHere = createRequire(import.meta.url);
const imports: Record<string, string> = {
  'better-sqlite3': pathToFileURL(requireHere.resolve('better-sqlite3')).href,
  'sqlite-sync': pathToFileURL(join(root, 'src', 'index.ts')).href,
};

quickStartBlocks().forEach((block, n) => {
  test(`README Quick start, block ${n + 1}, prints what its comments say`, () => {
    const code = block.replace(/from '([^']+)'/g, (whole, name: string) => (imports[name] ? `from '${imports[name]}'` : whole));
    const expected = [...block.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => (m[1] as string).trim());
    assert.ok(expected.length > 0, 'the block says what it prints');
    const file = folder.path(`quick-start-${n + 1}.ts`);
    writeFileSync(file, code);
    const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], { cwd: folder.path(''), encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(run.status, 0, run.stderr);
    const printed = run.stdout.trim().split('\n').map((line) => line.trim().replace(/"/g, "'"));
    assert.deepEqual(printed, expected);
  });
});
