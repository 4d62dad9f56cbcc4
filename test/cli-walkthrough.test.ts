// The brief's walkthrough word for word through the CLI: `sqlite-sync serve`, `db create`,
// `key create`, then two devices in `sqlite-sync shell` syncing with the blocking SQL functions.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { temporaryFolder } from './support/databases.js';
import { STORES } from './support/stores.js';
import { runCli as cli, type ServerProcess, startServerProcess } from './support/sync-server.js';

const SCHEMA = `CREATE TABLE IF NOT EXISTS my_data (
    id TEXT PRIMARY KEY NOT NULL,
    value TEXT
);
`;

for (const store of STORES) describe(`the CLI walkthrough, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let location: { location: string; remove(): Promise<void> };
  /** Where the admin commands and the server find the store: a data directory, or PostgreSQL by --store. */
  let at: string[] = [];
  let server: ServerProcess;
  let key = '';

  before(async () => {
    location = await store.create();
    at = store.name === 'PostgreSQL' ? ['--store', location.location] : ['--data', location.location];
    writeFileSync(folder.path('schema.sql'), SCHEMA);
    const created = cli(['db', 'create', 'demo.sqlite', '--schema', folder.path('schema.sql'), ...at]);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /created database 'demo.sqlite' with tables my_data/);
    const made = cli(['key', 'create', '--db', 'demo.sqlite', ...at]);
    assert.equal(made.status, 0, made.stderr);
    key = made.stdout.trim();
    assert.match(key, /^sqs_[A-Za-z0-9_-]{43}$/);
    server = store.name === 'PostgreSQL' ? await startServerProcess(folder.path('unused'), 0, at) : await startServerProcess(location.location);
  });
  after(async () => {
    await server?.stop();
    await location?.remove();
    folder.remove();
  });

  it('device A inserts and syncs; device B initialises the same table and pulls it', () => {
    const connect = `SELECT cloudsync_network_init('${server.url}/demo.sqlite');\nSELECT cloudsync_network_set_apikey('${key}');\n`;
    const deviceA = cli(
      ['shell', folder.path('a.db')],
      `${SCHEMA}SELECT cloudsync_init('my_data');\nINSERT INTO my_data (id, value) VALUES (cloudsync_uuid(), 'Hello from device A!');\n${connect}SELECT cloudsync_network_sync() AS received;\n`,
    );
    assert.equal(deviceA.status, 0, deviceA.stderr);
    assert.equal(deviceA.stderr, '');
    const deviceB = cli(['shell', folder.path('b.db')], `${SCHEMA}SELECT cloudsync_init('my_data');\n${connect}SELECT cloudsync_network_sync() AS received;\nSELECT value FROM my_data;\n`);
    assert.equal(deviceB.status, 0, deviceB.stderr);
    assert.match(deviceB.stdout, /\| received \|\n\+-+\+\n\|\s+1 \|/);
    assert.match(deviceB.stdout, /\| Hello from device A! \|/);
  });

  it('keeps a shared to-do list in step between the two devices', () => {
    const connect = `SELECT cloudsync_network_init('${server.url}/demo.sqlite?apikey=${key}');\n`;
    const a = cli(['shell', folder.path('a.db')], `${connect}UPDATE my_data SET value = 'edited on A';\nINSERT INTO my_data VALUES ('a2', 'second from A');\nSELECT cloudsync_network_sync();\n`);
    assert.equal(a.status, 0, a.stderr);
    const b = cli(['shell', folder.path('b.db')], `${connect}INSERT INTO my_data VALUES ('b1', 'from B');\nSELECT cloudsync_network_sync();\nSELECT id, value FROM my_data ORDER BY value;\n`);
    assert.equal(b.status, 0, b.stderr);
    const again = cli(['shell', folder.path('a.db')], `${connect}SELECT cloudsync_network_sync();\nSELECT cloudsync_network_has_unsent_changes() AS unsent;\nSELECT id, value FROM my_data ORDER BY value;\n`);
    assert.equal(again.status, 0, again.stderr);
    const table = (out: string) => out.slice(out.search(/\|\s+id\s+\|\s+value\s+\|/));
    assert.match(table(b.stdout), /edited on A[\s\S]*from B[\s\S]*second from A/);
    assert.equal(table(again.stdout), table(b.stdout));
    assert.match(again.stdout, /\| unsent \|\n\+-+\+\n\|\s+0 \|/);
  });

  it('reports a wrong key as a one-line error and keeps the change queued', () => {
    const out = cli(
      ['shell', folder.path('a.db')],
      `SELECT cloudsync_network_init('${server.url}/demo.sqlite');\nSELECT cloudsync_network_set_apikey('sqs_wrong');\nINSERT INTO my_data VALUES ('a3', 'queued');\nSELECT cloudsync_network_sync();\nSELECT cloudsync_network_has_unsent_changes() AS unsent;\n`,
    );
    assert.equal(out.status, 1);
    assert.match(out.stderr, /^Error: cloudsync_network_sync: GET .*\/upload: 401 invalid or revoked API key\n$/);
    assert.match(out.stdout, /\| unsent \|\n\+-+\+\n\|\s+1 \|/);
  });

  it('shows the database status and logs one line per request', async () => {
    const status = cli(['db', 'status', 'demo.sqlite', ...at, '--json']);
    assert.equal(status.status, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as { tables: { name: string; rows: number }[]; activeKeys: number };
    assert.deepEqual(parsed.tables.map((t) => [t.name, t.rows]), [['my_data', 3]]);
    assert.equal(parsed.activeKeys, 1);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the server's log lines arrive (the CLI calls above block)
    const lines = server.log().trim().split('\n').map((line) => JSON.parse(line) as { msg: string; route: string; status: number });
    assert.ok(lines.length >= 10);
    assert.ok(lines.every((l) => l.msg === 'request'));
    assert.ok(lines.some((l) => l.route.endsWith('/check') && l.status === 200));
    assert.ok(lines.some((l) => l.status === 401));
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.equal(await server.stop('SIGTERM'), 0);
  });

  it('lists, revokes and drops from the CLI, and reports errors in one line with status 1', () => {
    const keys = cli(['key', 'list', '--db', 'demo.sqlite', ...at]);
    assert.equal(keys.status, 0, keys.stderr);
    const id = /\| ([0-9a-f-]{36}) \| demo\.sqlite/.exec(keys.stdout)?.[1];
    assert.ok(id, keys.stdout);
    assert.ok(!keys.stdout.includes(key));
    assert.equal(cli(['key', 'revoke', id, ...at]).status, 0);
    assert.match(cli(['key', 'list', ...at]).stdout, /\| 20\d\d-[^|]+\|\s*$/m); // a revoked date
    assert.match(cli(['db', 'list', ...at]).stdout, /\| demo\.sqlite \|/);
    assert.equal(cli(['db', 'drop', 'demo.sqlite', ...at]).status, 0);
    assert.equal(cli(['db', 'list', ...at, '--json']).stdout.trim(), '[]');
    const failed = cli(['db', 'drop', 'demo.sqlite', ...at]);
    assert.equal(failed.status, 1);
    assert.equal(failed.stderr, "sqlite-sync: database 'demo.sqlite' not found\n");
  });
});
