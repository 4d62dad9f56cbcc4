// CORS: the server answers the allowed browser origins (preflight included) and no others; the
// CLI takes the origins from --cors-origin.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createServer } from '../src/server/index.js';
import { temporaryFolder } from './support/databases.js';
import { provision, startServerProcess } from './support/sync-server.js';

const folder = temporaryFolder();
after(() => folder.remove());

const preflight = (url: string, origin: string) =>
  fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' } });

test('allowed origins get CORS headers and preflights; others get none, and a 403 preflight', async () => {
  const key = await provision(folder.path('a'), 'app');
  const server = await createServer({ dataDir: folder.path('a'), port: 0, logger: false, corsOrigins: ['http://app.example:5173'] });
  try {
    const ok = await preflight(`${server.url}/v1/cloudsync/app/00112233445566778899aabbccddeeff/upload`, 'http://app.example:5173');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://app.example:5173');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /PUT/);
    const refused = await preflight(`${server.url}/v1/cloudsync/app/00112233445566778899aabbccddeeff/upload`, 'http://evil.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    // an actual request: the header for the allowed origin only, and the route still checks the key
    const get = await fetch(`${server.url}/v1/cloudsync/app/00112233445566778899aabbccddeeff/upload`, { headers: { Origin: 'http://app.example:5173', Authorization: `Bearer ${key}` } });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('access-control-allow-origin'), 'http://app.example:5173');
    assert.equal(get.headers.get('vary'), 'Origin');
    const other = await fetch(`${server.url}/health`, { headers: { Origin: 'http://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await server.close();
  }
  await assert.rejects(createServer({ dataDir: folder.path('b'), port: 0, logger: false, corsOrigins: ['http://app.example/path'] }), /not '\*' or scheme/);
});

test('serve --cors-origin opens the server to that origin; without it, no CORS at all', async () => {
  await provision(folder.path('c'), 'app');
  const open = await startServerProcess(folder.path('c'), 0, ['--cors-origin', '*', '--log-level', 'error']);
  try {
    const answer = await preflight(`${open.url}/health`, 'http://anywhere.example');
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get('access-control-allow-origin'), '*');
  } finally {
    await open.stop();
  }
  const closed = await startServerProcess(folder.path('c'), 0, ['--log-level', 'error']);
  try {
    const answer = await fetch(`${closed.url}/health`, { headers: { Origin: 'http://anywhere.example' } });
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
  } finally {
    await closed.stop();
  }
});
