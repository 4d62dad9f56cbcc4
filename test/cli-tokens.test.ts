// The to-do walkthrough with user tokens, through the CLI: policies set and shown from the
// command line, tokens issued by `token create`, two users' shells syncing with SQL functions.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { temporaryFolder } from './support/databases.js';
import { STORES } from './support/stores.js';
import { runCli as cli, type ServerProcess, startServerProcess } from './support/sync-server.js';

const SCHEMA = `CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', owner TEXT);
CREATE TABLE tips (id TEXT PRIMARY KEY NOT NULL, text TEXT);
`;

for (const store of STORES) describe(`the to-do walkthrough with tokens, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let location: { location: string; remove(): Promise<void> };
  /** Where the admin commands and the server find the store: a data directory, or PostgreSQL by --store. */
  let at: string[] = [];
  let server: ServerProcess;
  const credentials: Record<string, string> = {};

  before(async () => {
    location = await store.create();
    at = store.name === 'PostgreSQL' ? ['--store', location.location] : ['--data', location.location];
    writeFileSync(folder.path('schema.sql'), SCHEMA);
    assert.equal(cli(['db', 'create', 'todos', '--schema', folder.path('schema.sql'), ...at]).status, 0);
    credentials.admin = cli(['key', 'create', '--db', 'todos', ...at]).stdout.trim();
    for (const user of ['alice', 'bob']) credentials[user] = cli(['token', 'create', '--db', 'todos', '--user', user, '--ttl', '1h', ...at]).stdout.trim();
    server = store.name === 'PostgreSQL' ? await startServerProcess(folder.path('unused'), 0, at) : await startServerProcess(location.location);
  });
  after(async () => {
    await server?.stop();
    await location?.remove();
    folder.remove();
  });

  it('sets policies from the CLI, refusing one that does not compile and warning about open tables', async () => {
    // the server opens the database first, so it must notice policies set by another process
    const opened = await fetch(`${server.url}/v1/cloudsync/todos/${'0'.repeat(32)}/0/0/check`, { method: 'POST', headers: { Authorization: `Bearer ${credentials.bob}` } });
    assert.equal(opened.status, 200);
    const bad = cli(['policy', 'set', '--db', 'todos', '--table', 'todos', '--read', 'owner = auth_user()', ...at]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /the read policy of todos does not compile(?: on PostgreSQL)?: (?:no such function: auth_user|function auth_user\(\) does not exist)/);
    const set = cli(['policy', 'set', '--db', 'todos', '--table', 'todos', '--read', 'owner = auth_userid()', '--write', 'owner = auth_userid()', ...at]);
    assert.equal(set.status, 0, set.stderr);
    assert.match(set.stdout, /todos: read owner = auth_userid\(\); write owner = auth_userid\(\)/);
    assert.match(set.stderr, /warning: no policies on tips: every token user of 'todos' may read and write all of their rows/);
    const shown = cli(['policy', 'show', '--db', 'todos', '--json', ...at]);
    assert.deepEqual(JSON.parse(shown.stdout), [{ table: 'todos', read: 'owner = auth_userid()', write: 'owner = auth_userid()' }]);
  });

  it("alice and bob each see only their own to-dos; the API key sees both", () => {
    const device = (file: string, connect: string, sql: string) => {
      const out = cli(['shell', folder.path(file)], `${SCHEMA}SELECT cloudsync_init('todos');\nSELECT cloudsync_init('tips');\n${connect}${sql}`);
      return out;
    };
    const a = device('alice.db', `SELECT cloudsync_network_init('${server.url}/todos?token=${credentials.alice}');\n`, "INSERT INTO todos VALUES ('t1', 'milk', 'alice');\nINSERT INTO tips VALUES ('p1', 'shared tip');\nSELECT cloudsync_network_sync();\n");
    assert.equal(a.status, 0, a.stderr);
    const b = device(
      'bob.db',
      `SELECT cloudsync_network_init('${server.url}/todos');\nSELECT cloudsync_network_set_token('${credentials.bob}');\n`,
      "INSERT INTO todos VALUES ('t2', 'bread', 'bob');\nSELECT cloudsync_network_sync();\nSELECT id FROM todos ORDER BY id;\nSELECT id FROM tips;\n",
    );
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /\| t2 \|/);
    assert.doesNotMatch(b.stdout, /\| t1 \|/);
    assert.match(b.stdout, /\| p1 \|/, 'the table without policies is shared');
    const admin = device('admin.db', `SELECT cloudsync_network_init('${server.url}/todos?apikey=${credentials.admin}');\n`, 'SELECT cloudsync_network_sync();\nSELECT id FROM todos ORDER BY id;\n');
    assert.equal(admin.status, 0, admin.stderr);
    assert.match(admin.stdout, /\| t1 \|[\s\S]*\| t2 \|/);
  });

  it("bob writing alice's row gets a one-line error and a record in cloudsync_refused", () => {
    const out = cli(
      ['shell', folder.path('bob.db')],
      `SELECT cloudsync_network_init('${server.url}/todos?token=${credentials.bob}');\nINSERT INTO todos VALUES ('t1', 'mine now', 'bob');\nSELECT cloudsync_network_sync();\nSELECT tbl, reason FROM cloudsync_refused;\nSELECT count(*) AS mine FROM todos WHERE id = 't1';\n`,
    );
    assert.equal(out.status, 1);
    assert.match(out.stderr, /^Error: cloudsync_network_sync: the server refused changes: todos \["t1"\]: the write policy of todos refuses this row before the change \(see cloudsync_refused\)\n$/);
    assert.match(out.stdout, /\| todos \| the write policy of todos refuses this row before the change \|/);
    assert.match(out.stdout, /\| mine \|\n\+-+\+\n\|\s+0 \|/);
  });
});
