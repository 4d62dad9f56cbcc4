// The SQL shell of `sqlite-sync shell FILE`: reads statements and dot commands line by line, runs
// them on a better-sqlite3 connection with sqlite-sync loaded, and prints results as tables.

import { appendFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { load } from '../load.js';
import { splitStatements } from '../sql/split-statements.js';
import { formatTable } from './format-table.js';

/** Options of runShell. */
export interface ShellOptions {
  /** The database file, or ':memory:'. */
  file: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Where `Error: …` lines go. */
  errorOutput: NodeJS.WritableStream;
  /** A person at a terminal: prompts, line editing and history; otherwise a script whose failures set the exit code. */
  interactive: boolean;
  /** The file that keeps the line history between interactive sessions. */
  historyFile?: string;
}

const PROMPT = 'sqlite-sync> ';
const CONTINUATION_PROMPT = '   ...> ';
const HISTORY_SIZE = 1000;
const HELP = `.exit, .quit      Leave the shell
.help             Show this message
.schema ?TABLE?   Show the CREATE statements of user tables (a LIKE pattern selects some)
.tables ?TABLE?   List user tables and views (a LIKE pattern selects some)
`;

/** Runs the shell until `.quit` or the end of input; resolves to 1 when a script had a failure, else 0. */
export async function runShell(options: ShellOptions): Promise<number> {
  const { output, interactive } = options;
  let failed = false;
  const fail = (error: unknown) => {
    options.errorOutput.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    failed = true;
  };
  let db: Database.Database;
  try {
    db = openDatabase(options.file);
  } catch (error) {
    fail(error);
    return 1;
  }
  const historyFile = interactive ? options.historyFile : undefined;
  const history = historyFile === undefined ? [] : readHistory(historyFile);
  const rl = createInterface({ input: options.input, output, terminal: interactive, historySize: HISTORY_SIZE, history, prompt: PROMPT });
  const entered: string[] = [];
  let buffer = '';
  const prompt = () => {
    rl.setPrompt(buffer === '' ? PROMPT : CONTINUATION_PROMPT);
    rl.prompt();
  };
  const execute = (sql: string) => {
    for (const statement of splitStatements(sql)) {
      try {
        runStatement(db, statement, output);
      } catch (error) {
        fail(error);
      }
    }
  };
  // Ctrl-C drops the statement being typed instead of leaving the shell, as sqlite3 does.
  rl.on('SIGINT', () => {
    buffer = '';
    output.write('^C\n');
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    prompt();
  });
  // Lines are handled as readline emits them, not through its async iterator (which queues them),
  // so that Ctrl-C sees the statement exactly as far as it was typed.
  let quit = false;
  rl.on('line', (line) => {
    if (quit) return;
    if (interactive && line.trim() !== '') entered.push(line);
    if (buffer === '' && line.trimStart().startsWith('.')) {
      try {
        quit = runDotCommand(db, line.trim(), output) === 'quit';
      } catch (error) {
        fail(error);
      }
      if (quit) return rl.close();
    } else {
      buffer = buffer === '' ? line : `${buffer}\n${line}`;
      if (isComplete(buffer)) {
        execute(buffer);
        buffer = '';
      }
    }
    if (interactive) prompt();
  });
  const closed = new Promise((resolve) => rl.once('close', resolve));
  if (interactive) prompt();
  await closed;
  // sqlite3 runs an unterminated last statement at the end of input
  execute(buffer);
  if (historyFile !== undefined) appendHistory(historyFile, entered);
  db.close();
  return failed && !interactive ? 1 : 0;
}

function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  try {
    if (!db.memory) db.pragma('journal_mode = WAL');
    load(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

// Prints the rows of a query (nothing when there are none); other statements print nothing, like sqlite3.
function runStatement(db: Database.Database, sql: string, output: NodeJS.WritableStream): void {
  const statement = db.prepare(sql).safeIntegers(true);
  if (!statement.reader) {
    statement.run();
    return;
  }
  const rows = statement.raw(true).all() as unknown[][];
  if (rows.length === 0) return;
  output.write(`${formatTable(statement.columns().map((column) => column.name), rows)}\n`);
}

// A buffer is complete when it ends outside any quote, comment or trigger body, after a semicolon
// or with nothing but comments. The splitter tells: a sentinel appended on a line of its own comes
// back as a statement of its own only then (it is swallowed by an open literal, comment or body).
const SENTINEL = '\u0000';
const LEADING_COMMENTS = /^(?:--[^\n]*\n|\/\*[\s\S]*?\*\/|\s)*/;
function isComplete(sql: string): boolean {
  const last = splitStatements(`${sql}\n${SENTINEL}`).at(-1) ?? '';
  return last.replace(LEADING_COMMENTS, '') === SENTINEL;
}

// Hides the tables, views, indexes and triggers that SQLite and sqlite-sync own.
const isUserObject = (column: string) =>
  ['sqlite\\_%', 'cloudsync\\_%', '%\\_cloudsync', '%\\_cloudsync\\_log'].map((internal) => `${column} NOT LIKE '${internal}' ESCAPE '\\'`).join(' AND ');

function runDotCommand(db: Database.Database, line: string, output: NodeJS.WritableStream): 'quit' | undefined {
  const [command = '', ...args] = [...line.slice(1).matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
  const pattern = args[0] ?? '%';
  if ((command === 'quit' || command === 'exit') && args.length <= 1) return 'quit';
  if (command === 'help' && args.length === 0) {
    output.write(HELP);
  } else if (command === 'tables' && args.length <= 1) {
    const names = db
      .prepare(`SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND ${isUserObject('name')} AND name LIKE ? ORDER BY name`)
      .pluck()
      .all(pattern) as string[];
    output.write(names.map((name) => `${name}\n`).join(''));
  } else if (command === 'schema' && args.length <= 1) {
    const statements = db
      .prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND ${isUserObject('name')} AND ${isUserObject('tbl_name')} AND (name LIKE ? OR tbl_name LIKE ?) ORDER BY rowid`)
      .pluck()
      .all(pattern, pattern) as string[];
    output.write(statements.map((sql) => `${sql};\n`).join(''));
  } else {
    throw new Error(`unknown command or invalid arguments: "${command}". Enter ".help" for help`);
  }
  return undefined;
}

// readline wants the newest line first; the file keeps them oldest first, one a line.
function readHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function appendHistory(file: string, lines: string[]): void {
  if (lines.length === 0) return;
  try {
    appendFileSync(file, lines.map((line) => `${line}\n`).join(''));
  } catch {
    // a history that cannot be written is not worth an error
  }
}
