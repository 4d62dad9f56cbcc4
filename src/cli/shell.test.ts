// The SQL shell driven through streams, as a script and as a terminal, and its table format.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { formatTable } from './format-table.js';
import { runShell, type ShellOptions } from './shell.js';

const folder = mkdtempSync(join(tmpdir(), 'shell-'));
after(() => rmSync(folder, { recursive: true, force: true }));

const TODOS = "CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '');";

async function shell(input: string | string[], options: Partial<ShellOptions> = {}) {
  let out = '';
  let err = '';
  const collect = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  const code = await runShell({
    file: ':memory:',
    input: Readable.from(typeof input === 'string' ? [input] : input),
    output: collect((text) => (out += text)),
    errorOutput: collect((text) => (err += text)),
    interactive: false,
    ...options,
  });
  return { code, out, err };
}

describe('formatTable', () => {
  test('borders, centered headers, right-aligned numbers and escaped values', () => {
    const table = formatTable(
      ['n', 'text', 'blob'],
      [
        [1n, 'a\nb', new Uint8Array([0, 171, 255])],
        [-12.5, null, Buffer.from('hi')],
        [9007199254740993n, 'ü😀', ''],
      ],
    );
    assert.equal(
      table,
      [
        '+------------------+------+-----------+',
        '|        n         | text |   blob    |',
        '+------------------+------+-----------+',
        "|                1 | a\\nb | X'00ABFF' |",
        "|            -12.5 |      | X'6869'   |",
        '| 9007199254740993 | ü😀   |           |',
        '+------------------+------+-----------+',
      ].join('\n'),
    );
  });

  test('a header wider than its values, long blobs in full, no rows', () => {
    assert.equal(formatTable(['count(*)'], [[3]]), ['+----------+', '| count(*) |', '+----------+', '|        3 |', '+----------+'].join('\n'));
    assert.ok(formatTable(['b'], [[new Uint8Array(40).fill(0xab)]]).includes(`X'${'AB'.repeat(40)}'`));
    assert.equal(formatTable(['a', 'bb'], []), ['+---+----+', '| a | bb |', '+---+----+', '+---+----+'].join('\n'));
  });
});

describe('runShell as a script', () => {
  test('prints a query as a table', async () => {
    const { code, out, err } = await shell("SELECT 1 AS a, 'x' AS b, NULL AS c, x'0aff' AS d;\n");
    assert.equal(err, '');
    assert.equal(code, 0);
    assert.equal(
      out,
      ['+---+---+---+---------+', '| a | b | c |    d    |', '+---+---+---+---------+', "| 1 | x |   | X'0AFF' |", '+---+---+---+---------+', ''].join('\n'),
    );
  });

  test('syncs a table in a file database that keeps its rows', async () => {
    const file = join(folder, 'todos.db');
    const first = await shell([
      `${TODOS}\n`,
      "SELECT cloudsync_init('todos');\n",
      "INSERT INTO todos (id, title) VALUES (cloudsync_uuid(), 'one'), (cloudsync_uuid(), 'two');\n",
      'SELECT cloudsync_siteid() AS site;\n',
      'PRAGMA journal_mode;\n',
    ], { file });
    assert.equal(first.err, '');
    assert.equal(first.code, 0);
    assert.match(first.out, /\| cloudsync_init\('todos'\) \|\n\+-+\+\n\| +\|\n/);
    assert.match(first.out, /\| X'[0-9A-F]{32}' \|/);
    assert.match(first.out, /\| wal +\|/);
    const second = await shell("SELECT title, length(id) AS n FROM todos ORDER BY title;\nSELECT count(*) AS changes FROM cloudsync_changes;\n", { file });
    assert.equal(second.err, '');
    assert.match(second.out, /\| one   \| 36 \|\n\| two   \| 36 \|/);
    assert.match(second.out, /\|       2 \|/);
  });

  test('joins lines into statements and splits lines into statements', async () => {
    const { code, out, err } = await shell([
      'SELECT\n  1 + 1\n',
      '  AS two; SELECT 3 AS three; SELECT -- a comment\n',
      "'x;y' AS semicolon; -- trailing comment\n",
      '/* a comment on its own */\n',
      `${TODOS} CREATE TABLE log (n);\n`,
      'CREATE TRIGGER note AFTER INSERT ON todos BEGIN\n',
      '  INSERT INTO log VALUES (1);\n',
      '  INSERT INTO log VALUES (2);\n',
      'END;\n',
      "INSERT INTO todos (id) VALUES ('a'); SELECT count(*) AS logged FROM log;\n",
    ]);
    assert.equal(err, '');
    assert.equal(code, 0);
    assert.match(out, /\|   2 \|/);
    assert.match(out, /\|     3 \|/);
    assert.match(out, /\| x;y       \|/);
    assert.match(out, /\|      2 \|/);
  });

  test('reports a failing statement, runs the later ones and exits with 1', async () => {
    const { code, out, err } = await shell('SELECT missing; SELECT 2 AS later;\nSELECT cloudsync_init(\'nothing\');\nSELECT 3 AS last;\n');
    assert.equal(err, "Error: no such column: missing\nError: cloudsync_init: table nothing does not exist\n");
    assert.equal(code, 1);
    assert.match(out, /\|     2 \|/);
    assert.match(out, /\|    3 \|/);
  });

  test('runs a statement left without a semicolon at the end of input', async () => {
    assert.match((await shell('SELECT 1 AS a;\nSELECT 42 AS answer')).out, /\|     42 \|/);
    const unterminated = await shell("SELECT 'open");
    assert.match(unterminated.err, /^Error: unrecognized token/);
    assert.equal(unterminated.code, 1);
  });

  test('dot commands list user tables and their schema, and .quit stops reading', async () => {
    const { code, out, err } = await shell([
      `${TODOS}\nCREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT);\nCREATE VIEW titles AS SELECT title FROM todos;\n`,
      "SELECT cloudsync_init('todos');\n",
      '.tables\n',
      '.tables t%\n',
      '.schema todos\n',
      '.help\n',
      '.nonsense\n',
      '.quit\n',
      'SELECT 1;\n',
    ]);
    assert.equal(err, 'Error: unknown command or invalid arguments: "nonsense". Enter ".help" for help\n');
    assert.equal(code, 1);
    const listing = out.slice(out.indexOf('notes\n'));
    assert.ok(listing.startsWith(`notes\ntitles\ntodos\ntitles\ntodos\n${TODOS}\n.exit, .quit`), listing);
    assert.ok(!out.includes('| 1 |'));
  });

  test('a database that cannot be opened is one error line and exit code 1', async () => {
    const { code, err } = await shell('SELECT 1;\n', { file: join(folder, 'missing', 'x.db') });
    assert.match(err, /^Error: .+\n$/);
    assert.equal(code, 1);
  });
});

describe('runShell at a terminal', () => {
  test('prompts, keeps going after errors and exits with 0', async () => {
    const { code, out, err } = await shell(['SELECT 1\n', '  AS one;\n', 'SELECT nope;\n'], { interactive: true });
    assert.equal(code, 0);
    assert.equal(err, 'Error: no such column: nope\n');
    assert.ok(out.includes('sqlite-sync> '));
    assert.ok(out.includes('   ...> '));
    assert.match(out, /\| one \|/);
  });

  test('Ctrl-C drops the statement being typed', async () => {
    const { out, err } = await shell(['SELECT 1 AS dropped\r', 'SELECT 2 AS half\u0002\u0002\u0003', 'SELECT 3 AS kept;\r'], { interactive: true });
    assert.equal(err, '');
    assert.ok(!out.includes('| dropped |') && !out.includes('| half |'), out);
    assert.match(out, /\| kept \|/);
  });

  test('loads the history file and appends the lines entered', async () => {
    const historyFile = join(folder, 'history');
    writeFileSync(historyFile, 'SELECT 40 + 1 AS recalled;\n');
    // the up arrow recalls the newest line of the file, and Enter runs it
    const { out } = await shell(['\u001b[A\r', 'SELECT 2;\r'], { interactive: true, historyFile });
    assert.match(out, /\|       41 \|/);
    assert.equal(readFileSync(historyFile, 'utf8'), 'SELECT 40 + 1 AS recalled;\nSELECT 40 + 1 AS recalled;\nSELECT 2;\n');
  });
});
