// A clone of this repository must stand on its own: the documents link only to files inside it (or
// to the web), and the test fixtures the loaders read are files of the repository.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VECTORS_FOLDER } from './vectors.js';

const ROOT = resolve(import.meta.dirname, '..');

/** The Markdown files a reader of the repository opens: the README, docs/ and the fixtures' notes. */
function documents(): string[] {
  const inDocs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), join(ROOT, 'test', 'fixtures', 'vectors', 'README.md'), ...inDocs];
}

/** The relative link targets of a Markdown text, without their #fragment. */
function relativeLinks(markdown: string): string[] {
  const targets: string[] = [];
  for (const match of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    targets.push(target.split('#')[0]!);
  }
  return targets;
}

test('relativeLinks finds relative targets and leaves web links and anchors alone', () => {
  const text = 'See [a](docs/a.md#x), [web](https://example.org/b), [here](#top) and [up](../shared/c.md).';
  assert.deepEqual(relativeLinks(text), ['docs/a.md', '../shared/c.md']);
});

test('every relative link in the documents names a file inside the repository', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of documents()) {
    for (const target of relativeLinks(readFileSync(file, 'utf8'))) {
      checked++;
      const path = resolve(dirname(file), target);
      const where = `${relative(ROOT, file)} → ${target}`;
      if (relative(ROOT, path).startsWith('..')) broken.push(`${where} (outside the repository)`);
      else if (!existsSync(path)) broken.push(`${where} (missing)`);
    }
  }
  assert.ok(checked > 10, `only ${checked} links found: the link pattern no longer matches the documents`);
  assert.deepEqual(broken, []);
});

test('the golden vectors are read from the repository', () => {
  const folder = fileURLToPath(VECTORS_FOLDER);
  assert.equal(relative(ROOT, folder), join('test', 'fixtures', 'vectors'));
  for (const name of ['values', 'schema-hash', 'payloads', 'scenarios']) assert.ok(existsSync(join(folder, `${name}.json`)), `${name}.json is in ${folder}`);
});
