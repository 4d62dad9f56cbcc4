// The browser entry in real Chromium: databases in workers on the origin private file system,
// syncing through a real server on loopback (CORS), with a Node device on the same database;
// offline and back, reloads, the C extension's payloads, and bad input.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { SyncServer } from '../src/server/index.js';
import type * as BrowserEntry from '../src/browser/index.js';
import { temporaryFolder } from './support/databases.js';
import { OPFS_PAGE_SIZE } from '../src/load-wasm.js';
import { launchChromium, type PageServer, servePage, skipWithoutChromium } from './support/browser.js';
import { openDevice, provision, rowsOf, TODO_SCHEMA } from './support/sync-server.js';
import { createServer } from '../src/server/index.js';
import { loadVectors } from './vectors.js';

const skip = skipWithoutChromium;
if (skip) test('browser tests', { skip }, () => {});

const folder = temporaryFolder();
let browser: Browser;
let pages: PageServer;
let server: SyncServer;
let key: string;

before(async () => {
  if (skip) return;
  pages = await servePage(folder.path('web'));
  key = await provision(folder.path('server'), 'app');
  server = await createServer({ dataDir: folder.path('server'), port: 0, logger: false, corsOrigins: [pages.origin] });
  browser = await launchChromium();
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await server?.close();
  await pages?.close();
  folder.remove();
});

/** What the test page holds. */
interface PageScope {
  sqliteSync: typeof BrowserEntry;
  db: BrowserEntry.BrowserDatabase;
  notices: string[][];
}

/** Opens the test page in a context and the database `name` in it (created with the to-do schema). */
async function openPage(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(`${pages.origin}/index.html`);
  await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  await page.evaluate(
    async ({ name, schema, url, key }) => {
      const scope = globalThis as unknown as PageScope;
      scope.db = await scope.sqliteSync.openDatabase({ name, timeoutMs: 5000 });
      scope.notices = [];
      scope.db.subscribe((tables) => scope.notices.push(tables), ['todos']);
      await scope.db.exec(schema.replace('CREATE TABLE todos', 'CREATE TABLE IF NOT EXISTS todos'));
      await scope.db.network.init(url);
      await scope.db.network.setApiKey(key);
    },
    { name, schema: TODO_SCHEMA, url: `${server.url}/app`, key },
  );
  return page;
}

const rows = (page: Page) =>
  page.evaluate(async () => (await (globalThis as unknown as PageScope).db.exec('SELECT * FROM todos ORDER BY 1')).map((row) => JSON.stringify({ ...row })));
const run = (page: Page, sql: string, bind: unknown[] = []) => page.evaluate(({ sql, bind }) => (globalThis as unknown as PageScope).db.exec(sql, bind as never), { sql, bind });
const syncPage = (page: Page) => page.evaluate(() => (globalThis as unknown as PageScope).db.network.sync());

test('two browser devices and a Node device converge through the server, across an offline spell', { skip, timeout: 120_000 }, async () => {
  const contextA = await browser.newContext();
  const contextB = await browser.newContext();
  const a = await openPage(contextA, 'device.db');
  const b = await openPage(contextB, 'device.db');
  const node = openDevice(folder.path('node.db'), server.url, 'app', key);
  /** Two rounds of A, B and the Node device syncing, then all three hold the same rows. */
  const syncUntilConverged = async () => {
    for (let round = 0; round < 2; round++) {
      await syncPage(a);
      await syncPage(b);
      await node.sync.network.sync();
    }
    assert.deepEqual(await rows(a), rowsOf(node));
    assert.deepEqual(await rows(b), rowsOf(node));
  };

  assert.deepEqual(await run(a, 'PRAGMA page_size'), [{ page_size: OPFS_PAGE_SIZE }], 'a new database on OPFS takes the larger pages');
  await run(a, "INSERT INTO todos (id, title) VALUES ('a1', 'from A')");
  const noticesOf = (page: Page) => page.evaluate(() => (globalThis as unknown as PageScope).notices.splice(0));
  assert.deepEqual(await noticesOf(a), [['todos']], 'a local commit is told once');
  await run(a, 'SELECT count(*) FROM todos');
  assert.deepEqual(await noticesOf(a), [], 'a read is not a change');
  await run(b, "INSERT INTO todos (id, title) VALUES ('b1', 'from B')");
  node.db.exec("INSERT INTO todos (id, title) VALUES ('n1', 'from Node')");
  await syncUntilConverged();
  assert.equal(rowsOf(node).length, 3);
  assert.ok((await noticesOf(a)).some((tables) => tables.includes('todos')), 'the page heard of the merged rows');

  // A goes offline: its sync fails with a clear error and loses nothing; both edit meanwhile
  await contextA.setOffline(true);
  await run(a, "UPDATE todos SET title = 'A offline' WHERE id = 'n1'");
  await run(a, "INSERT INTO todos (id, title) VALUES ('a2', 'written offline')");
  const failure = await a.evaluate(async () => {
    try {
      await (globalThis as unknown as PageScope).db.network.sync();
      return null;
    } catch (error) {
      const e = error as { name: string; code: string; message: string };
      return { name: e.name, code: e.code, message: e.message };
    }
  });
  assert.equal(failure?.name, 'NetworkError');
  assert.equal(failure?.code, 'OFFLINE', failure?.message);
  await run(b, "UPDATE todos SET done = 1 WHERE id = 'n1'");
  await syncPage(b);
  assert.equal(await a.evaluate(() => (globalThis as unknown as PageScope).db.network.hasUnsentChanges()), true);
  await contextA.setOffline(false);
  await syncUntilConverged();
  const n1 = JSON.parse(rowsOf(node).find((r) => r.includes('"n1"')) as string) as { title: string; done: number };
  assert.deepEqual([n1.title, n1.done], ['A offline', 1], 'both offline-era edits of n1 survive (different columns)');
  assert.equal(rowsOf(node).length, 4);

  // a reload: the rows and the sync state are still there
  const before = await rows(a);
  const version = await a.evaluate(() => (globalThis as unknown as PageScope).db.dbVersion());
  await a.evaluate(() => (globalThis as unknown as PageScope).db.close());
  await a.close();
  const again = await openPage(contextA, 'device.db');
  assert.deepEqual(await rows(again), before);
  assert.equal(await again.evaluate(() => (globalThis as unknown as PageScope).db.dbVersion()), version);
  assert.equal(await again.evaluate(() => (globalThis as unknown as PageScope).db.network.hasUnsentChanges()), false, 'nothing sent is sent again');
  const result = await syncPage(again);
  assert.deepEqual(await rows(again), rowsOf(node));
  assert.ok(result, 'a sync after the reload works');
  node.db.close();
  await contextA.close();
  await contextB.close();
});

test('the blocking cloudsync_network_* SQL functions work in the browser worker, with the errors Node gives', { skip, timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(`${pages.origin}/index.html`);
  await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  await page.evaluate(async (schema) => {
    const scope = globalThis as unknown as PageScope;
    scope.db = await scope.sqliteSync.openDatabase({ name: 'sql-network.db', timeoutMs: 3000 });
    await scope.db.exec(schema);
  }, TODO_SCHEMA);
  const node = openDevice(folder.path('sql-network-node.db'), server.url, 'app', key);
  await node.sync.network.sync();
  // configured, sent and received through SQL alone
  await run(page, 'SELECT cloudsync_network_init(?)', [`${server.url}/app`]);
  await run(page, 'SELECT cloudsync_network_set_apikey(?)', [key]);
  await run(page, "INSERT INTO todos (id, title) VALUES ('sql-1', 'sent by SQL')");
  assert.deepEqual(await run(page, 'SELECT cloudsync_network_has_unsent_changes() AS unsent'), [{ unsent: 1 }]);
  const [sent] = await run(page, 'SELECT cloudsync_network_send_changes() AS n');
  assert.ok(Number(sent?.n) > 0, `sent ${JSON.stringify(sent)}`);
  await node.sync.network.sync();
  assert.ok(rowsOf(node).some((row) => row.includes('sent by SQL')));
  node.db.exec("INSERT INTO todos (id, title) VALUES ('node-1', 'for the SQL sync')");
  await node.sync.network.sync();
  const [received] = await run(page, 'SELECT cloudsync_network_sync() AS n');
  assert.ok(Number(received?.n) > 0, `received ${JSON.stringify(received)}`);
  assert.deepEqual(await rows(page), rowsOf(node));
  // bad input: the function's name, then what Node says
  const failure = (sql: string, bind: unknown[] = []) =>
    page.evaluate(
      async ({ sql, bind }) => {
        try {
          await (globalThis as unknown as PageScope).db.exec(sql, bind as never);
          return 'no error';
        } catch (error) {
          return (error as Error).message;
        }
      },
      { sql, bind },
    );
  await run(page, 'SELECT cloudsync_network_set_apikey(?)', [`${key}x`]);
  assert.match(await failure('SELECT cloudsync_network_sync()'), /cloudsync_network_sync: .*401/);
  await run(page, 'SELECT cloudsync_network_init(?)', ['http://127.0.0.1:9/app']);
  await run(page, "INSERT INTO todos (id, title) VALUES ('sql-2', 'kept while the server is down')");
  assert.match(await failure('SELECT cloudsync_network_send_changes()'), /cloudsync_network_send_changes: .*failed/);
  assert.deepEqual(await run(page, 'SELECT cloudsync_network_has_unsent_changes() AS unsent'), [{ unsent: 1 }], 'the failed send lost nothing');
  await page.evaluate(() => (globalThis as unknown as PageScope).db.close());
  node.db.close();
  await context.close();
});

test('live sync in the browser: a Node write shows in the page without a sync call, and a page write reaches Node', { skip, timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const page = await openPage(context, 'live.db');
  const node = openDevice(folder.path('node-live.db'), server.url, 'app', key);
  try {
    await page.evaluate(async () => {
      const scope = globalThis as unknown as PageScope & { states: string[] };
      scope.states = [];
      scope.db.onLive((state) => scope.states.push(state));
      await scope.db.network.live();
    });
    await page.waitForFunction(() => (globalThis as unknown as { states: string[] }).states.includes('connected'));
    node.sync.network.live();
    await new Promise<void>((resolve) => node.sync.network.on('live', (state) => state === 'connected' && resolve()));
    node.db.prepare("INSERT INTO todos (id, title) VALUES ('live-n', 'from Node, live')").run();
    await page.waitForFunction(
      async () => (await (globalThis as unknown as PageScope).db.exec("SELECT title FROM todos WHERE id = 'live-n'")).length === 1,
      undefined,
      { timeout: 10_000, polling: 20 },
    );
    await run(page, "INSERT INTO todos (id, title) VALUES ('live-b', 'from the page, live')");
    const deadline = Date.now() + 10_000;
    while (!rowsOf(node).some((r) => r.includes('live-b'))) {
      assert.ok(Date.now() < deadline, 'the page write reached the Node device');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await page.evaluate(() => (globalThis as unknown as PageScope).db.network.stopLive());
    const states = await page.evaluate(() => (globalThis as unknown as { states: string[] }).states);
    assert.deepEqual(states, ['connecting', 'connected', 'stopped']);
  } finally {
    node.sync.network.stopLive();
    node.db.close();
    await context.close();
  }
});

test('live sync goes on across a hand-over: the new owner tab sets the session up again (server, key, live)', { skip, timeout: 90_000 }, async () => {
  const context = await browser.newContext();
  const first = await openPage(context, 'live-tabs.db');
  const second = await openPage(context, 'live-tabs.db');
  const node = openDevice(folder.path('node-live-tabs.db'), server.url, 'app', key);
  const shows = (page: Page, id: string) =>
    page.waitForFunction(async (id) => (await (globalThis as unknown as PageScope).db.exec('SELECT 1 FROM todos WHERE id = ?', [id])).length === 1, id, { timeout: 15_000, polling: 50 });
  try {
    await first.evaluate(() => (globalThis as unknown as PageScope).db.network.live());
    node.db.prepare("INSERT INTO todos (id, title) VALUES ('before-handover', 'from Node')").run();
    await node.sync.network.sync();
    await shows(second, 'before-handover');
    await first.close();
    // the second tab owns the database now; it never asked for live sync itself
    await second.waitForFunction(() => (globalThis as unknown as PageScope).db.ownsDatabase === true, undefined, { timeout: 15_000 });
    node.db.prepare("INSERT INTO todos (id, title) VALUES ('after-handover', 'from Node, later')").run();
    await node.sync.network.sync();
    await shows(second, 'after-handover');
    await run(second, "INSERT INTO todos (id, title) VALUES ('from-new-owner', 'sent on commit')");
    const deadline = Date.now() + 15_000;
    for (;;) {
      await node.sync.network.sync();
      if (rowsOf(node).some((r) => r.includes('from-new-owner'))) break;
      assert.ok(Date.now() < deadline, 'the new owner sent its write without a sync call');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    node.db.close();
    await context.close();
  }
});

test('in the browser, the C extension payloads apply and bad input fails with the errors Node gives', { skip, timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  // tsx names the functions inside the code handed to evaluate() through an __name helper
  await context.addInitScript('globalThis.__name = (fn) => fn');
  const page = await context.newPage();
  await page.goto(`${pages.origin}/index.html`);
  await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
  const vectors = loadVectors<{ name: string; schema: string[]; payload: string }[]>('payloads');
  const applied = await page.evaluate(async (vectors) => {
    const scope = globalThis as unknown as PageScope;
    const fromHex = (hex: string) => new Uint8Array(hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
    const out: { name: string; count: number; rows: number }[] = [];
    for (const vector of vectors) {
      const db = await scope.sqliteSync.openDatabase({ name: `${vector.name}.db`, storage: 'memory' });
      for (const sql of vector.schema) await db.exec(sql);
      for (const sql of vector.schema) await db.init(/CREATE TABLE (\w+)/i.exec(sql)?.[1] as string);
      const count = await db.applyPayload(fromHex(vector.payload));
      const table = /CREATE TABLE (\w+)/i.exec(vector.schema[0] as string)?.[1] as string;
      const rows = (await db.exec(`SELECT count(*) AS n FROM ${table}`))[0]?.n as number;
      out.push({ name: vector.name, count, rows });
      await db.close();
    }
    return out;
  }, vectors);
  assert.equal(applied.length, vectors.length);
  for (const result of applied) assert.ok(result.count > 0 && result.rows > 0, `${result.name}: ${result.count} changes, ${result.rows} rows`);

  const errors = await page.evaluate(
    async ({ url, key }) => {
      const scope = globalThis as unknown as PageScope;
      const db = await scope.sqliteSync.openDatabase({ name: 'errors.db', storage: 'memory', timeoutMs: 3000 });
      await db.exec("CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0, owner TEXT); SELECT cloudsync_init('todos')");
      const caught = async (work: () => Promise<unknown>) => {
        try {
          await work();
          return 'no error';
        } catch (error) {
          const e = error as { name: string; code?: string; message: string };
          return `${e.name} ${e.code ?? ''}: ${e.message}`;
        }
      };
      const malformed = await caught(() => db.applyPayload(new Uint8Array([1, 2, 3])));
      const viaSql = await caught(() => db.exec('SELECT cloudsync_payload_decode(?)', [new Uint8Array([1, 2, 3])]));
      const unknownTable = await caught(() => db.init('missing'));
      await db.network.init(url);
      await db.network.setApiKey(`${key}x`);
      const wrongKey = await caught(() => db.network.sync());
      await db.network.init('http://127.0.0.1:9/app');
      const serverDown = await caught(() => db.network.sync());
      await db.close();
      return { malformed, viaSql, unknownTable, wrongKey, serverDown };
    },
    { url: `${server.url}/app`, key },
  );
  // the same messages as in Node
  const { default: Database } = await import('better-sqlite3');
  const { load } = await import('../src/index.js');
  const nodeDb = new Database(':memory:');
  load(nodeDb);
  nodeDb.exec("CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT); SELECT cloudsync_init('todos')");
  let nodeMessage = '';
  try {
    nodeDb.prepare('SELECT cloudsync_payload_decode(?)').get(new Uint8Array([1, 2, 3]));
  } catch (error) {
    nodeMessage = `${(error as Error).name} ${(error as { code: string }).code}: ${(error as Error).message}`;
  }
  nodeDb.close();
  assert.equal(errors.viaSql, nodeMessage);
  assert.match(errors.malformed, /^CloudSyncError PAYLOAD: applyPayload: /);
  assert.match(errors.unknownTable, /^CloudSyncError \w+: cloudsync_init: /);
  assert.match(errors.wrongKey, /^NetworkError HTTP: .*401/);
  assert.match(errors.serverDown, /^NetworkError OFFLINE: /);
  await context.close();
});

test('several tabs on one database: one owns it, the others reach it; closing the owner hands over, unanswered requests go to the new owner and run once', { skip, timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  // tsx names the functions inside the code handed to evaluate() through an __name helper
  await context.addInitScript('globalThis.__name = (fn) => fn');
  const first = await openPage(context, 'shared.db');
  const second = await openPage(context, 'shared.db');
  const owns = (page: Page) => page.evaluate(() => (globalThis as unknown as PageScope).db.ownsDatabase);
  assert.equal(await owns(first), true);
  assert.equal(await owns(second), false);
  await run(first, "INSERT INTO todos (id, title) VALUES ('t1', 'from the first tab')");
  await run(second, "INSERT INTO todos (id, title) VALUES ('t2', 'from the second tab')");
  assert.deepEqual(await rows(first), await rows(second));
  assert.equal((await rows(second)).length, 2);
  const heard = (page: Page) => page.evaluate(() => (globalThis as unknown as PageScope).notices.splice(0));
  assert.ok((await heard(first)).some((t) => t.includes('todos')), 'the owner hears the other tab’s write');
  assert.ok((await heard(second)).some((t) => t.includes('todos')), 'the other tab hears the owner’s write');

  // the second tab writes on and on, several writes in flight at once; the first (the owner)
  // closes in the middle. Each write is an INSERT of a new key, so a write run twice would fail
  // (UNIQUE), and a counter counts the runs.
  await run(second, 'CREATE TABLE runs (n INTEGER NOT NULL); INSERT INTO runs VALUES (0)');
  await second.evaluate(() => {
    const scope = globalThis as unknown as PageScope & { writes: Promise<{ id: string; ok: boolean; error: string | null }[]> };
    const write = async (id: string) => {
      try {
        await scope.db.transaction([
          { sql: 'INSERT INTO todos (id, title) VALUES (?, ?)', bind: [id, 'written on'] },
          { sql: 'UPDATE runs SET n = n + 1' },
        ]);
        return { id, ok: true, error: null };
      } catch (error) {
        return { id, ok: false, error: `${(error as { code?: string }).code ?? ''} ${String(error)}` };
      }
    };
    scope.writes = (async () => {
      const out: { id: string; ok: boolean; error: string | null }[] = [];
      for (let i = 0; i < 60; i += 3) {
        out.push(...(await Promise.all([write(`w${i}`), write(`w${i + 1}`), write(`w${i + 2}`)])));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      return out;
    })();
  });
  await new Promise((resolve) => setTimeout(resolve, 250));
  await first.close();
  const writes = await second.evaluate(() => (globalThis as unknown as { writes: Promise<{ id: string; ok: boolean; error: string | null }[]> }).writes);
  assert.equal(await owns(second), true, 'the second tab took over');
  const present = new Set((await second.evaluate(async () => (await (globalThis as unknown as PageScope).db.exec('SELECT id FROM todos')).map((r) => String(r.id)))));
  assert.deepEqual(writes.filter((w) => !w.ok), [], 'no write failed, none ran twice');
  for (const write of writes) assert.ok(present.has(write.id), `${write.id} was acknowledged, so it is there`);
  assert.deepEqual(await run(second, 'SELECT n FROM runs'), [{ n: 60 }], 'each write ran once');
  const resent = await second.evaluate(() => (globalThis as unknown as PageScope).db.resentRequests);
  console.log(`hand-over: ${resent} requests sent again to the new owner`);
  assert.ok(present.has('t1') && present.has('t2'));
  // and the new owner persists them: a third tab sees the same rows
  const third = await openPage(context, 'shared.db');
  assert.equal(await owns(third), false);
  assert.deepEqual(await rows(third), await rows(second));
  await context.close();
});
