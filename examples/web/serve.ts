// `npm run demo:web`: the sync server on an embedded data directory, and the to-do page served
// on two origins (two ports), so that two browser windows are two devices with their own
// databases. Open both URLs, go offline in one, edit in both, go back online.

import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { build } from 'esbuild';
import { buildBrowser } from '../../scripts/build-browser.js';
import { createServer } from '../../src/server/index.js';

const port = Number(process.env.PORT ?? 8092);
const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-demo-web-'));
const web = join(folder, 'web');
await buildBrowser(web);
await build({ entryPoints: [join(import.meta.dirname, 'app.ts')], outfile: join(web, 'app.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning' });

const origins = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`];
const server = await createServer({ dataDir: join(folder, 'server'), port: port + 2, logger: 'warn', corsOrigins: origins });
await server.data.createDatabase('todos.sqlite', "CREATE TABLE todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0);");
const { key } = await server.data.createApiKey('todos.sqlite');

const types: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.map': 'application/json' };
const page = readFileSync(join(import.meta.dirname, 'index.html'));
for (const [i, origin] of origins.entries()) {
  const device = i === 0 ? 'device A' : 'device B';
  createHttpServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    if (path === '/' || path === '/index.html') return void response.writeHead(200, { 'Content-Type': 'text/html' }).end(page);
    if (path === '/config.json') return void response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ server: server.url, database: 'todos.sqlite', key, device }));
    if (!/^\/[\w.-]+$/.test(path)) return void response.writeHead(404).end();
    try {
      const body = readFileSync(join(web, path.slice(1)));
      response.writeHead(200, { 'Content-Type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  }).listen(port + i, '127.0.0.1');
}
console.log(`sync server on ${server.url} (data in ${folder})`);
console.log(`device A: ${origins[0]}/`);
console.log(`device B: ${origins[1]}/`);
console.log('open both in a browser; Ctrl-C stops');
