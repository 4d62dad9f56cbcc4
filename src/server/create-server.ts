// createServer: the sync server over a data directory. node:http, one log line per request, and a
// shutdown that stops accepting, lets requests in flight finish, then closes the databases.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { addSameThreadServer, removeSameThreadServer } from '../client/same-thread-servers.js';
import { toHttpError } from './http-error.js';
import { openServerData, type ServerData } from './server-data.js';
import { createSyncRouter, send, type SyncContext } from './sync-routes.js';
import { CorsPolicy } from './cors.js';
import { LiveHub, type LiveOptions } from './live.js';
import { ServerMetrics } from './metrics.js';

/** Options of the sync server. */
export interface ServerOptions {
  /** The data directory (created if missing): server.db and databases/*.db. */
  dataDir?: string;
  /** Where the data lives instead: a PostgreSQL URL (`postgres://…`) or a data directory. */
  store?: string;
  /** Port to listen on (default 8091; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** The URL clients reach the server at, for the upload and download URLs it hands out (default: from the request's Host header). */
  publicUrl?: string;
  /** Largest accepted upload in bytes; larger ones get 413 (default 64 MiB). */
  maxUploadBytes?: number;
  /** Downloads are split into payloads of about this size (default 5 MiB). */
  maxPayloadBytes?: number;
  /** Hosted databases kept open at once; the least recently used is closed past it (default 2,048). */
  maxOpenDatabases?: number;
  /** How long upload and download URLs stay valid (default 10 min). */
  transferTtlMs?: number;
  /** Origins browsers may call the server from (exact `scheme://host[:port]`, or '*'); default none. */
  corsOrigins?: readonly string[];
  /** GET /metrics in the Prometheus text format (on by default); false turns it off. */
  metrics?: boolean;
  /** Live sync over WebSocket (on by default); false turns it off. */
  live?: LiveOptions | false;
  /** A pino logger, or a level for the default one writing to stdout (default 'info'); false for none. */
  logger?: Logger | pino.Level | false;
}

/** A running sync server. */
export interface SyncServer {
  /** `http://host:port` it listens at. */
  readonly url: string;
  /** Its data directory, for administration in the same process. */
  readonly data: ServerData;
  /** Its live connections (null when live sync is off). */
  readonly live: LiveHub | null;
  /** Stops accepting, waits for requests in flight, closes the databases. */
  close(): Promise<void>;
}

/** Starts a sync server; resolves once it listens. */
export async function createServer(options: ServerOptions): Promise<SyncServer> {
  // checked first: a bad origin fails before anything opens
  const cors = options.corsOrigins && options.corsOrigins.length > 0 ? new CorsPolicy(options.corsOrigins) : null;
  const logger = createLogger(options.logger ?? 'info');
  const location = options.store ?? options.dataDir;
  if (location === undefined) throw new Error('createServer: give a data directory (dataDir) or a store (a PostgreSQL URL)');
  const data = await openServerData(location, options.maxOpenDatabases === undefined ? {} : { maxOpenDatabases: options.maxOpenDatabases });
  data.store.serve?.();
  const transfers = data.store.openTransfers(Date.now, { ttlMs: options.transferTtlMs ?? 10 * 60_000 });
  const router = createSyncRouter();
  const live = options.live === false ? null : new LiveHub(data, logger, options.live ?? {});
  const context: SyncContext = {
    data,
    transfers,
    baseUrl: (request) => options.publicUrl?.replace(/\/+$/, '') ?? `http://${request.headers.host ?? `${options.host ?? '127.0.0.1'}`}`,
    maxUploadBytes: options.maxUploadBytes ?? 64 * 1024 * 1024,
    maxPayloadBytes: options.maxPayloadBytes ?? 5 * 1024 * 1024,
    logger,
    inFlight: { count: 0 },
    live,
    metrics: null,
  };
  let connections = 0;
  if (options.metrics !== false) {
    context.metrics = new ServerMetrics({ connections: () => connections, live: () => live?.connections ?? 0, databases: () => data.store.openDatabases, inFlight: () => context.inFlight.count });
  }
  const server = createHttpServer((request, response) => void handle(request, response));
  server.keepAliveTimeout = 30_000;
  live?.attach(server);
  server.on('connection', (socket) => {
    connections++;
    socket.once('close', () => connections--);
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = performance.now();
    if (cors?.handle(request, response)) return;
    const path = (request.url ?? '/').split('?')[0] as string;
    const match = router.match(request.method ?? 'GET', path);
    let route = 'unknown';
    try {
      if (!match) {
        send(response, 404, 'not found');
      } else if ('allowed' in match) {
        response.setHeader('Allow', match.allowed.join(', '));
        send(response, 405, 'method not allowed');
      } else {
        route = match.name;
        await match.handler(request, response, match.params, context);
      }
    } catch (error) {
      const failure = toHttpError(error);
      if (failure.status >= 500) logger.error({ err: error, route }, 'request failed');
      if (!response.headersSent) {
        // Do not read an oversized body only to throw it away: answer, then close the connection.
        if (failure.status === 413) response.setHeader('Connection', 'close');
        send(response, failure.status, failure.message);
      } else {
        response.destroy();
      }
    }
    const ms = performance.now() - started;
    context.metrics?.answered(route, request.method ?? 'GET', response.statusCode, ms / 1000);
    logger.info({ method: request.method, route, status: response.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  }

  const sweeper = setInterval(() => {
    transfers.sweep().catch((error: unknown) => logger.warn({ err: error }, 'sweeping transfers failed'));
    data.flushSites().catch((error: unknown) => logger.error({ err: error }, 'recording sites failed'));
  }, 5000);
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8091, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  addSameThreadServer(address.port);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let closing: Promise<void> | null = null;
  return {
    url,
    data,
    live,
    close: () => {
      live?.close();
      closing ??= shutdown(server, context, async () => {
        removeSameThreadServer(address.port);
        clearInterval(sweeper);
        await data.close();
      });
      return closing;
    },
  };
}

async function shutdown(server: Server, context: SyncContext, finish: () => Promise<void>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Requests in flight finish (an apply is synchronous, so it is never cut in half); connections
  // idle after their last answer are closed; anything still open after 10 s is cut.
  const timer = setTimeout(() => server.closeAllConnections(), 10_000);
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  await closed;
  clearTimeout(timer);
  clearInterval(idle);
  while (context.inFlight.count > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await finish();
}

function createLogger(option: Logger | pino.Level | false): Logger {
  if (option === false) return pino({ enabled: false });
  if (typeof option === 'string') return pino({ level: option, base: undefined });
  return option;
}
