// User tokens against a real server on loopback: HS256 tokens the server issues (library and CLI),
// RS256/ES256 tokens of an external identity provider (JWKS file and URL), and every refused token
// answered 401 with nothing read or applied.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { utimesSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { openServerData, type SyncServer, verifyToken } from '../src/server/index.js';
import { STORES } from './support/stores.js';
import { type SyncedDb, temporaryFolder } from './support/databases.js';
import { openDevice, provision, runCli as cli, startServer } from './support/sync-server.js';

const DB = 'todos.sqlite';
const OTHER = 'notes.sqlite';
const SITE = '0123456789abcdef0123456789abcdef';
const ISSUER = 'https://idp.test/';
const AUDIENCE = 'todo-app';

/** A key pair of the test identity provider, with its public JWK as published. */
interface IdpKey {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function idpKey(alg: 'RS256' | 'ES256', kid: string): Promise<IdpKey> {
  const pair = await generateKeyPair(alg);
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
}

/** Signs a token as an external identity provider would; a claim set to undefined is left out. */
function idpToken(key: IdpKey, claims: JWTPayload = {}, header: { kid?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = JSON.parse(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'bob', iat: now, exp: now + 600, ...claims })) as JWTPayload;
  return new SignJWT(payload).setProtectedHeader({ alg: key.jwk.alg as string, kid: key.jwk.kid as string, ...header }).sign(key.privateKey);
}

/** Signs an HS256 token with any secret; a claim set to undefined is left out. */
function hsToken(secret: Uint8Array, claims: JWTPayload): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = JSON.parse(JSON.stringify({ iss: 'sqlite-sync', aud: `sqlite-sync:${DB}`, sub: 'alice', iat: now, exp: now + 600, ...claims })) as JWTPayload;
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(secret);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

for (const store of STORES) describe(`user tokens, ${store.name} store`, { skip: store.skip }, () => {
  const folder = temporaryFolder();
  let dataDir = '';
  let removeStore: () => Promise<void> = async () => undefined;
  let server: SyncServer;
  let idp: Server;
  let idpUrl = '';
  let jwksFetches = 0;
  let rsa: IdpKey;
  let ec: IdpKey;
  let stranger: IdpKey;
  /** A device holding a row it never managed to send: every refused token is tried with it. */
  let holder: SyncedDb;

  const rowsOnServer = async (database = DB) => (await server.data.databaseStatus(database)).tables[0]?.rows;

  /** POSTs a check with a bearer token; the status and text of the answer. */
  async function check(token: string, database = DB): Promise<{ status: number; body: string }> {
    const response = await fetch(`${server.url}/v1/cloudsync/${database}/${SITE}/0/0/check`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    return { status: response.status, body: await response.text() };
  }

  /** Asserts a token opens the database (a check answers 200). */
  async function assertAccepted(token: string, database = DB): Promise<void> {
    const answer = await check(token, database);
    assert.equal(answer.status, 200, answer.body);
  }

  /** Asserts a token is refused with 401 and `reason`, and that a sync with it neither sends nor receives anything. */
  async function assertRefused(token: string, reason: string): Promise<void> {
    assert.deepEqual(await check(token), { status: 401, body: reason }, `token ${token}`);
    const before = (await rowsOnServer());
    holder.sync.network.setToken(token);
    await assert.rejects(holder.sync.network.sync(), (e: Error & { status?: number }) => e.status === 401 && e.message.endsWith(`401 ${reason}`));
    assert.equal((await rowsOnServer()), before);
    assert.equal(holder.sync.network.hasUnsentChanges(), true);
    assert.deepEqual(holder.db.prepare('SELECT id FROM todos').pluck().all(), ['held']);
  }

  function writeJwks(file: string, keys: IdpKey[]): void {
    writeFileSync(file, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  }

  before(async () => {
    ({ location: dataDir, remove: removeStore } = await store.create());
    const key = await provision(dataDir, DB);
    await provision(dataDir, OTHER);
    server = await startServer(dataDir);
    [rsa, ec, stranger] = await Promise.all([idpKey('RS256', 'rsa-1'), idpKey('ES256', 'ec-1'), idpKey('RS256', 'rsa-1')]);
    idp = createHttpServer((request, response) => {
      if (request.url !== '/jwks.json') return void response.writeHead(500).end('down');
      jwksFetches++;
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [rsa.jwk, ec.jwk] }));
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    holder = openDevice(folder.path('holder.db'), server.url, DB, key);
    holder.db.prepare("INSERT INTO todos (id, title) VALUES ('held', 'never sent')").run();
  });
  after(async () => {
    await server?.close();
    idp?.closeAllConnections();
    await new Promise((resolve) => idp?.close(resolve));
    await removeStore();
    folder.remove();
  });

  it('token create in the CLI makes the secret; the running server accepts its tokens, with the extra claims', async () => {
    const created = cli(['token', 'create', '--db', DB, '--user', 'carol', '--ttl', '15m', '--claim', 'role=admin', '--claim', 'level=5', '--claim', 'teams=["a","b"]', '--data', dataDir]);
    assert.equal(created.status, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await assertAccepted(token);
    const user = await verifyToken(server.data, DB, token);
    assert.equal(user.userId, 'carol');
    assert.deepEqual([user.claims.role, user.claims.level, user.claims.teams], ['admin', 5, ['a', 'b']]);
    assert.equal((user.claims.exp as number) - (user.claims.iat as number), 15 * 60);
    assert.equal(user.claims.aud, `sqlite-sync:${DB}`);

    const refused = cli(['token', 'create', '--db', DB, '--user', 'carol', '--claim', 'sub=root', '--data', dataDir]);
    assert.deepEqual([refused.status, refused.stderr], [1, 'sqlite-sync: reserved claim sub cannot be set\n']);
    assert.equal(cli(['token', 'create', '--db', 'missing', '--user', 'carol', '--data', dataDir]).stderr, "sqlite-sync: database 'missing' not found\n");
    assert.match(cli(['token', 'create', '--db', DB, '--user', 'carol', '--ttl', '2w', '--data', dataDir]).stderr, /--ttl.*expected a duration/);
  });

  it('a token from createToken syncs like a key; the library refuses bad options', async () => {
    const token = await server.data.createToken(DB, 'alice', { ttlSeconds: 3600, claims: { role: 'editor' } });
    await assertAccepted(token);
    const device = openDevice(folder.path('alice.db'), server.url, DB, 'sqs_unused');
    device.sync.network.setToken(token);
    device.db.prepare("INSERT INTO todos (id, title) VALUES ('a1', 'from alice')").run();
    await device.sync.network.sync();
    assert.equal(device.sync.network.hasUnsentChanges(), false);
    assert.equal((await rowsOnServer()), 1);
    assert.deepEqual(await verifyToken(server.data, DB, token).then((u) => [u.userId, u.claims.role, u.claims.iss]), ['alice', 'editor', 'sqlite-sync']);

    await assert.rejects(server.data.createToken('missing', 'alice', { ttlSeconds: 60 }), { status: 404 });
    await assert.rejects(server.data.createToken(DB, '', { ttlSeconds: 60 }), { status: 400, message: 'a token needs a user' });
    await assert.rejects(server.data.createToken(DB, 'alice', { ttlSeconds: 0 }), { status: 400 });
    await assert.rejects(server.data.createToken(DB, 'alice', { ttlSeconds: 60, claims: { exp: 1, aud: 'x' } }), { status: 400, message: 'reserved claims exp, aud cannot be set' });
  });

  it('refuses expired and not yet valid tokens, with 30 s of clock tolerance', async () => {
    const tokenAt = async (offsetMs: number, ttlSeconds: number) => {
      const shifted = await openServerData(dataDir, { now: () => Date.now() + offsetMs });
      try {
        return await shifted.createToken(DB, 'alice', { ttlSeconds });
      } finally {
        await shifted.close();
      }
    };
    await assertRefused(await tokenAt(-2 * 3600_000, 3600), 'token expired');
    await assertRefused(await tokenAt(-3660_000, 3600), 'token expired'); // 60 s past exp
    await assertAccepted(await tokenAt(-3615_000, 3600)); // 15 s past exp
    await assertRefused(await tokenAt(3600_000, 7200), 'token not yet valid');
    await assertAccepted(await tokenAt(15_000, 60)); // issued 15 s ahead
  });

  it('refuses wrong signatures, tampered payloads, other audiences, alg none and malformed tokens', async () => {
    const valid = await server.data.createToken(DB, 'alice', { ttlSeconds: 600 });
    await assertRefused(await hsToken(randomBytes(32), {}), 'invalid token signature');
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload;
    await assertRefused(`${header}.${base64url({ ...claims, sub: 'mallory' })}.${signature}`, 'invalid token signature');
    await assertRefused(`${header}.${payload}.${signature.slice(0, -4)}AAAA`, 'invalid token signature');
    await assertRefused(await server.data.createToken(OTHER, 'alice', { ttlSeconds: 600 }), 'token is for another database');
    await assertRefused(await hsToken(await server.data.tokenSecret(), { aud: 'somewhere-else' }), 'token is for another database');
    await assertRefused(await hsToken(await server.data.tokenSecret(), { iss: ISSUER }), 'wrong issuer');
    await assertRefused(await hsToken(await server.data.tokenSecret(), { sub: undefined }), 'token has no subject');
    await assertRefused(await hsToken(await server.data.tokenSecret(), { sub: '' }), 'token has no subject');
    await assertRefused(await hsToken(await server.data.tokenSecret(), { exp: undefined }), 'token has no expiry');
    await assertRefused(`${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'unsupported token algorithm');
    await assertRefused(`${base64url({ alg: 'HS512' })}.${payload}.${signature}`, 'unsupported token algorithm');
    const notJson = await new CompactSign(Buffer.from('not json')).setProtectedHeader({ alg: 'HS256' }).sign(await server.data.tokenSecret());
    for (const malformed of ['abc', 'a.b.c', notJson, `${header}.${payload}`, `${base64url([1])}.${payload}.${signature}`]) {
      await assertRefused(malformed, 'invalid token');
    }
    assert.equal((await check('')).status, 401);
    // a valid token for a database that does not exist: no hint that it does not
    assert.deepEqual(await check(valid, 'missing.sqlite'), { status: 401, body: 'invalid token' });
    assert.equal((await rowsOnServer()), 1);
  });

  it('accepts RS256 and ES256 tokens of an identity provider configured with a JWKS file (db auth in the CLI)', async () => {
    const jwks = folder.path('jwks.json');
    writeJwks(jwks, [rsa, ec]);
    await assertRefused(await idpToken(rsa), 'invalid token'); // no provider configured yet
    const set = cli(['db', 'auth', DB, '--jwks', jwks, '--issuer', ISSUER, '--audience', AUDIENCE, '--data', dataDir]);
    assert.equal(set.status, 0, set.stderr);
    assert.equal(set.stdout, `database '${DB}' accepts RS256, ES256 tokens of issuer ${ISSUER} for audience ${AUDIENCE}, keys from ${jwks}\n`);
    const shown = JSON.parse(cli(['db', 'auth', DB, '--json', '--data', dataDir]).stdout) as Record<string, unknown>;
    assert.deepEqual({ ...shown, updatedAt: 0 }, { jwks, issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256', 'ES256'], updatedAt: 0 });

    await assertAccepted(await idpToken(rsa));
    await assertAccepted(await idpToken(ec, { sub: 'erin' }));
    assert.equal((await verifyToken(server.data, DB, await idpToken(ec, { sub: 'erin', email: 'erin@example.com' }))).claims.email, 'erin@example.com');
    await assertAccepted(await idpToken(rsa, { aud: ['other', AUDIENCE] }));

    await assertRefused(await idpToken(rsa, { iss: 'https://evil.test/' }), 'wrong issuer');
    await assertRefused(await idpToken(rsa, { aud: 'other-app' }), 'wrong audience');
    await assertRefused(await idpToken(rsa, { exp: Math.floor(Date.now() / 1000) - 120 }), 'token expired');
    await assertRefused(await idpToken(rsa, { nbf: Math.floor(Date.now() / 1000) + 120 }), 'token not yet valid');
    await assertRefused(await idpToken(rsa, { sub: undefined }), 'token has no subject');
    await assertRefused(await idpToken(rsa, { exp: undefined }), 'token has no expiry');
    await assertRefused(await idpToken(stranger), 'invalid token signature'); // same kid, another key
    await assertRefused(await idpToken(stranger, {}, { kid: 'rsa-9' }), 'unknown signing key');
    // key confusion: the public key used as an HMAC secret goes to the server's own secret
    await assertRefused(await hsToken(Buffer.from(JSON.stringify(rsa.jwk)), { iss: ISSUER, aud: AUDIENCE }), 'invalid token signature');
    // the provider's tokens open only the database it is configured for
    assert.deepEqual(await check(await idpToken(rsa), OTHER), { status: 401, body: 'invalid token' });

    const only = cli(['db', 'auth', DB, '--jwks', jwks, '--issuer', ISSUER, '--audience', AUDIENCE, '--alg', 'ES256', '--data', dataDir]);
    assert.equal(only.status, 0, only.stderr);
    await assertRefused(await idpToken(rsa), 'unsupported token algorithm');
    await assertAccepted(await idpToken(ec));
  });

  it('reads a rotated JWKS file without a restart, and stops accepting tokens once cleared', async () => {
    const jwks = folder.path('jwks.json');
    const rotated = await idpKey('ES256', 'ec-2');
    await assertRefused(await idpToken(rotated), 'unknown signing key');
    writeJwks(jwks, [rotated]);
    utimesSync(jwks, new Date(), new Date(Date.now() + 5000));
    await assertAccepted(await idpToken(rotated));
    await assertRefused(await idpToken(ec), 'unknown signing key');

    const cleared = cli(['db', 'auth', DB, '--clear', '--data', dataDir]);
    assert.deepEqual([cleared.status, cleared.stdout], [0, `database '${DB}' no longer accepts external tokens\n`]);
    await assertRefused(await idpToken(rotated), 'invalid token');
    assert.match(cli(['db', 'auth', DB, '--data', dataDir]).stdout, /has no external identity provider/);
  });

  it('accepts tokens of an identity provider whose JWKS is served at a URL, fetching it once', async () => {
    await server.data.setExternalAuth(OTHER, { jwks: `${idpUrl}/jwks.json`, issuer: ISSUER, audience: AUDIENCE });
    const before = jwksFetches;
    await assertAccepted(await idpToken(rsa), OTHER);
    await assertAccepted(await idpToken(ec), OTHER);
    assert.equal(jwksFetches - before, 1);
    assert.deepEqual(await check(await idpToken(rsa, { aud: 'other-app' }), OTHER), { status: 401, body: 'wrong audience' });
    assert.deepEqual(await check(await idpToken(stranger), OTHER), { status: 401, body: 'invalid token signature' });

    // keys the server cannot fetch: the provider, not the token, is at fault
    await server.data.setExternalAuth(OTHER, { jwks: `${idpUrl}/broken`, issuer: ISSUER, audience: AUDIENCE });
    assert.deepEqual(await check(await idpToken(rsa), OTHER), { status: 503, body: 'the identity provider keys are unavailable' });
    assert.equal(await server.data.clearExternalAuth(OTHER), true);
    assert.equal(await server.data.clearExternalAuth(OTHER), false);
    assert.equal(await server.data.externalAuth(OTHER), undefined);
  });

  it('checks identity provider settings when they are set', async () => {
    const data = server.data;
    const settings = { issuer: ISSUER, audience: AUDIENCE };
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: folder.path('none.json') }), { status: 400, message: /the JWKS file .* is unusable: ENOENT/ });
    writeFileSync(folder.path('empty.json'), '{"keys": []}');
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: folder.path('empty.json') }), /at least one key/);
    writeFileSync(folder.path('junk.json'), 'not json');
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: folder.path('junk.json') }), /is unusable/);
    writeFileSync(folder.path('private.json'), JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' }] }));
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: folder.path('private.json') }), /private or secret key/);
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: 'ftp://idp.test/jwks.json' }), /must be https:\/\/ or http:\/\//);
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: `${idpUrl}/jwks.json`, issuer: ' ' }), /needs an issuer/);
    await assert.rejects(async () => data.setExternalAuth(DB, { ...settings, jwks: `${idpUrl}/jwks.json`, algorithms: [] }), /at least one algorithm/);
    await assert.rejects(async () => data.setExternalAuth('missing', { ...settings, jwks: `${idpUrl}/jwks.json` }), { status: 404 });
    assert.equal(await data.externalAuth(DB), undefined);
  });

  it('dropping a database forgets its identity provider', async () => {
    await server.data.setExternalAuth(OTHER, { jwks: `${idpUrl}/jwks.json`, issuer: ISSUER, audience: AUDIENCE });
    await server.data.dropDatabase(OTHER);
    await provision(dataDir, OTHER);
    assert.equal(await server.data.externalAuth(OTHER), undefined);
    assert.deepEqual(await check(await idpToken(rsa), OTHER), { status: 401, body: 'invalid token' });
  });
});
