// useQuery in real Chromium with React: the list re-renders after a local write and after a
// merged payload from another device, and stops listening when unmounted.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { load } from '../src/index.js';
import { launchChromium, type PageServer, servePage, skipWithoutChromium } from './support/browser.js';
import { temporaryFolder } from './support/databases.js';

const skip = skipWithoutChromium;
const folder = temporaryFolder();
let browser: Browser;
let pages: PageServer;
const SCHEMA = "CREATE TABLE IF NOT EXISTS todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT ''); SELECT cloudsync_init('todos')";

// The app: a list of to-dos through useQuery; the page exposes the database and unmount.
const APP = `
import { createElement as h, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { openDatabase } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'browser', 'index.ts'))};
import { useQuery } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'react', 'index.ts'))};
const db = await openDatabase({ name: 'react.db', storage: 'memory' });
await db.exec(${JSON.stringify(SCHEMA)});
globalThis.renders = 0;
function List() {
  const { rows, error } = useQuery(db, 'SELECT title FROM todos ORDER BY title', [], ['todos']);
  globalThis.renders++;
  return h('ul', { id: 'list' }, error ? h('li', null, 'error: ' + error.message) : rows.map((r) => h('li', { key: r.title }, r.title)));
}
const element = document.createElement('div');
document.body.append(element);
const root = createRoot(element);
root.render(h(List));
globalThis.db = db;
globalThis.unmount = () => root.unmount();
globalThis.appReady = true;
`;

before(async () => {
  if (skip) return;
  pages = await servePage(folder.path('web'));
  await build({ stdin: { contents: APP, resolveDir: join(import.meta.dirname, '..'), loader: 'ts' }, outfile: join(folder.path('web'), 'app.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning', define: { 'process.env.NODE_ENV': '"production"' } });
  browser = await launchChromium();
});
after(async () => {
  if (skip) return;
  await browser?.close();
  await pages?.close();
  folder.remove();
});

test('useQuery keeps a React list current through local writes and merged changes', { skip, timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  page.on('pageerror', (error) => console.error('page error:', error.message));
  await page.goto(`${pages.origin}/index.html`);
  await page.addScriptTag({ url: '/app.js', type: 'module' });
  await page.waitForFunction(() => (globalThis as unknown as { appReady?: boolean }).appReady === true);
  const items = () => page.locator('#list li').allTextContents();
  type Scope = { db: { exec(sql: string, bind?: unknown[]): Promise<unknown>; applyPayload(p: Uint8Array): Promise<number> }; unmount(): void; renders: number };
  await page.evaluate(() => (globalThis as unknown as Scope).db.exec("INSERT INTO todos VALUES ('1', 'local write')"));
  await page.locator('#list li', { hasText: 'local write' }).waitFor();

  // another device's change, merged: the list shows it without any call of the app
  const other = new Database(':memory:');
  const otherSync = load(other);
  other.exec(SCHEMA.replace(' IF NOT EXISTS', ''));
  other.exec("INSERT INTO todos VALUES ('2', 'from another device')");
  const payload = [...(otherSync.encodePayload() as Uint8Array)];
  await page.evaluate((bytes) => (globalThis as unknown as Scope).db.applyPayload(new Uint8Array(bytes)), payload);
  await page.locator('#list li', { hasText: 'from another device' }).waitFor();
  assert.deepEqual(await items(), ['from another device', 'local write']);
  other.close();

  // unmounted: no more reads (renders stay where they are)
  await page.evaluate(() => (globalThis as unknown as Scope).unmount());
  const renders = await page.evaluate(() => (globalThis as unknown as Scope).renders);
  await page.evaluate(() => (globalThis as unknown as Scope).db.exec("INSERT INTO todos VALUES ('3', 'after unmount')"));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await page.evaluate(() => (globalThis as unknown as Scope).renders), renders);
  await page.close();
});
