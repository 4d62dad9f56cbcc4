// `npm run demo:web` as a person uses it: two windows (two origins, two devices) of the to-do
// page in Chromium; a to-do added in one shows in the other; added while offline, it waits, then
// arrives once the window is back online.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, skipWithoutChromium } from './support/browser.js';
import { freePort } from './support/sync-server.js';

test('the web demo: two devices, an offline spell, converged', { skip: skipWithoutChromium, timeout: 120_000 }, async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'examples', 'web', 'serve.ts')], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const browser = await launchChromium();
  let a: Page | undefined;
  let b: Page | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start: ${output}`)), 60_000);
      child.stdout.on('data', () => {
        if (output.includes('Ctrl-C')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const urls = [...output.matchAll(/device [AB]: (\S+)/g)].map((m) => m[1] as string);
    assert.equal(urls.length, 2, output);
    a = await (await browser.newContext()).newPage();
    b = await (await browser.newContext()).newPage();
    for (const page of [a, b]) page.on('pageerror', (error) => console.error('page error:', error.message));
    for (const page of [a, b]) page.on('console', (message) => message.type() === 'error' && console.error('console:', message.text()));
    await a.goto(urls[0] as string);
    await b.goto(urls[1] as string);
    // ready once the first render wrote whether changes wait to be sent
    for (const page of [a, b]) await page.locator('#unsent', { hasText: 'sent' }).waitFor({ timeout: 20_000 });
    const items = (page: Page) => page.locator('#list li span').allTextContents();
    await a.fill('#title', 'water the plants');
    await a.press('#title', 'Enter');
    await b.locator('#list li span', { hasText: 'water the plants' }).waitFor({ timeout: 20_000 });
    assert.deepEqual(await items(b as Page), ['water the plants']);

    await a.check('#offline');
    await a.fill('#title', 'call grandma');
    await a.press('#title', 'Enter');
    await a.locator('#list li span', { hasText: 'call grandma' }).waitFor({ timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 4000)); // two auto-sync intervals of B
    assert.deepEqual(await items(b as Page), ['water the plants'], 'nothing leaves an offline device');
    assert.match((await a.textContent('#unsent')) ?? '', /waiting/);
    await a.uncheck('#offline');
    await b.locator('#list li span', { hasText: 'call grandma' }).waitFor({ timeout: 20_000 });
    assert.deepEqual(await items(b as Page), ['call grandma', 'water the plants']);
    assert.deepEqual(await items(a as Page), await items(b as Page));
  } catch (error) {
    const state = async (page: Page | undefined) => (page ? `status "${await page.textContent('#status')}", list "${await page.textContent('#list')}"` : '');
    throw Object.assign(error as Error, { message: `${(error as Error).message}; A: ${await state(a)}; B: ${await state(b)}; demo output: ${output}` });
  } finally {
    await browser.close();
    child.kill('SIGTERM');
  }
});
