// The sync protocol v1, server side (docs/protocol.md): upload slots, applying uploads, and checks
// that answer with a download URL of a payload prepared at once.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { authenticate, userOf } from './auth.js';
import type { AppliedUpload } from './storage/storage.js';
import { HttpError } from './http-error.js';
import { readBody } from './request-body.js';
import { Router } from './router.js';
import type { LiveHub } from './live.js';
import type { ServerData } from './server-data.js';
import type { Transfers } from './transfers.js';
import type { ServerMetrics } from './metrics.js';

/** What every handler gets. */
export interface SyncContext {
  data: ServerData;
  transfers: Transfers;
  /** The URL clients reach this server at (for upload and download URLs). */
  baseUrl(request: IncomingMessage): string;
  maxUploadBytes: number;
  maxPayloadBytes: number;
  logger: Logger;
  /** Counts applies in flight (shutdown waits for them). */
  inFlight: { count: number };
  /** Live connections, told after each upload that applied. */
  live: LiveHub | null;
  /** What GET /metrics reports (null: no metrics). */
  metrics: ServerMetrics | null;
}

const SITE_ID = /^[0-9a-f]{32}$/;

/** The routes of the sync protocol. */
export function createSyncRouter(): Router<SyncContext> {
  return new Router<SyncContext>()
    .add('GET', '/metrics', async (_request, response, _params, context) => {
      if (!context.metrics) throw new HttpError(404, 'metrics are off (serve --no-metrics)');
      const body = await context.metrics.registry.metrics();
      response.writeHead(200, { 'Content-Type': context.metrics.registry.contentType, 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    })
    .add('GET', '/health', async (_request, response, _params, context) => ((await context.data.store.reachable()) ? send(response, 200, 'ok') : send(response, 503, 'the store is unreachable')))
    .add('GET', '/v1/cloudsync/:database/:site/upload', async (request, response, params, context) => {
      const { database, site } = siteOf(params);
      const principal = await authenticate(request, database, context.data);
      if (!(await context.data.hasDatabase(database))) throw new HttpError(404, `database '${database}' not found`);
      context.data.noteSite(database, site);
      const token = await context.transfers.openUpload({ database, site, principal: principal.id });
      send(response, 200, `${context.baseUrl(request)}/v1/transfer/${token}`);
    })
    .add('PUT', '/v1/transfer/:token', async (request, response, params, context) => {
      const token = params.token as string;
      await context.transfers.checkUploadable(token, Number(request.headers['content-length'] ?? 0) || 0);
      const body = await readBody(request, context.maxUploadBytes);
      await context.transfers.fillUpload(token, body);
      send(response, 200, '');
    })
    .add('POST', '/v1/cloudsync/:database/:site/upload', async (request, response, params, context) => {
      const { database, site } = siteOf(params);
      const principal = await authenticate(request, database, context.data);
      const token = uploadTokenOf(await readBody(request, 64 * 1024));
      const peer = await context.data.peer(database);
      if (!peer) throw new HttpError(404, `database '${database}' not found`);
      let outcome: AppliedUpload | null = null;
      context.inFlight.count++;
      try {
        await context.transfers.consumeUpload(token, { database, site, principal: principal.id }, async (payload) => {
          const applied = await peer.apply(payload, userOf(principal));
          outcome = applied;
          context.logger.debug({ database, site, changes: applied.changes, refused: applied.refused.length, bytes: payload.length }, 'upload applied');
        });
      } finally {
        context.inFlight.count--;
      }
      const result = outcome as AppliedUpload | null; // set inside the callback
      if (result !== null) {
        context.metrics?.uploads.inc();
        context.metrics?.changesApplied.inc(result.changes);
        context.metrics?.refusedChanges.inc(result.refused.length);
      }
      // decided once applied: a device may connect while the upload applies, its catch-up pull answered before the commit
      if (result !== null && result.changes > 0 && context.live?.listens(database)) void context.live.published(database, peer, result.before);
      if (result === null || result.refused.length === 0) return send(response, 200, '');
      // Applied, except what the policies refused: the client records these and restores the rows.
      const body = JSON.stringify({
        refused: result.refused.map((r) => ({ table: r.table, pk: Buffer.from(r.pk).toString('base64'), dbVersion: r.dbVersion, reason: r.reason })),
        restore: result.restore ? Buffer.from(result.restore).toString('base64') : null,
      });
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
    })
    .add('POST', '/v1/cloudsync/:database/:site/:dbVersion/:seq/check', async (request, response, params, context) => {
      const { database, site } = siteOf(params);
      const principal = await authenticate(request, database, context.data);
      const since = { dbVersion: counter(params.dbVersion), seq: counter(params.seq) };
      const peer = await context.data.peer(database);
      if (!peer) throw new HttpError(404, `database '${database}' not found`);
      context.data.noteSite(database, site, since.dbVersion);
      const keyAt = (at: { dbVersion: number; seq: number }) => `${database}/${site}/${principal.id}/${at.dbVersion}/${at.seq}`;
      let payload = context.transfers.takeFollowUp(keyAt(since), keyAt);
      if (!payload) {
        const [first, ...rest] = await peer.download(Buffer.from(site, 'hex'), since, context.maxPayloadBytes, userOf(principal));
        if (!first) return send(response, 200, '');
        payload = first.payload;
        context.transfers.putFollowUps(keyAt(first.last), rest);
      }
      const token = await context.transfers.putDownload(payload);
      context.metrics?.downloads.inc();
      send(response, 200, `${context.baseUrl(request)}/v1/transfer/${token}`);
    })
    .add('GET', '/v1/transfer/:token', async (_request, response, params, context) => {
      const payload = await context.transfers.getDownload(params.token as string);
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': payload.length });
      response.end(payload);
    });
}

/** Answers with a text/plain body. */
export function send(response: ServerResponse, status: number, text: string): void {
  const body = Buffer.from(text, 'utf8');
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  response.end(body);
}

function siteOf(params: Record<string, string>): { database: string; site: string } {
  const site = (params.site ?? '').toLowerCase();
  if (!SITE_ID.test(site)) throw new HttpError(400, 'the site id must be 32 hexadecimal digits');
  return { database: params.database ?? '', site };
}

function counter(text: string | undefined): number {
  if (text === undefined || !/^\d{1,15}$/.test(text)) throw new HttpError(400, 'db_version and seq must be non-negative integers');
  return Number(text);
}

function uploadTokenOf(body: Buffer): string {
  let url: unknown;
  try {
    url = (JSON.parse(body.toString('utf8')) as { url?: unknown }).url;
  } catch {
    throw new HttpError(400, 'the body must be JSON: {"url": "<upload URL>"}');
  }
  const match = typeof url === 'string' ? /\/v1\/transfer\/([0-9a-f]{32})(?:[?#].*)?$/.exec(url) : null;
  if (!match) throw new HttpError(400, 'the url is not an upload URL of this server');
  return match[1] as string;
}
