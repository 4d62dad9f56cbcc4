// Helpers for browser tests: Debian's Chromium driven by playwright-core, and a static server on
// loopback that serves the built browser entry and a blank page that imports it.

import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { buildBrowser } from '../../scripts/build-browser.js';

/** Where Chromium is, or null (the browser tests then skip, saying so). */
export const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => path && existsSync(path)) ?? null;

/** The reason browser tests skip, or false when they can run. */
export const skipWithoutChromium: string | false = CHROMIUM === null ? 'Chromium is not installed (apt-get install chromium; .ci/run does it)' : false;

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM as string,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.map': 'application/json' };

/** The page every browser test opens: it imports the entry and exposes it as `window.sqliteSync`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>sqlite-sync test</title>
<script type="module">import * as sqliteSync from './index.js'; window.sqliteSync = sqliteSync; window.ready = true;</script>`;

/** A static server of the built browser entry. */
export interface PageServer {
  /** Its origin, `http://127.0.0.1:port`. */
  origin: string;
  close(): Promise<void>;
}

/** Builds the browser entry into `folder` and serves it with the test page at /index.html. */
export async function servePage(folder: string): Promise<PageServer> {
  await buildBrowser(folder);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    if (path === '/' || path === '/index.html') {
      response.writeHead(200, { 'Content-Type': 'text/html' });
      response.end(PAGE);
      return;
    }
    const file = join(folder, path.replace(/^\/+/, ''));
    if (!/^\/[\w.-]+$/.test(path) || !existsSync(file)) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
