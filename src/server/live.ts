// Live sync, server side: WebSocket connections per hosted database (`ws`), told of changes the
// moment an upload applies. Clients that see everything (API keys, or any user of a database
// without read policies) get the new changes pushed in one binary frame, encoded once for all of
// them; a token user under read policies gets a bare "changed" notice, and only when their own
// download would bring something, then pulls through the usual check (docs/protocol.md).

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { encodeLiveChanges, LIVE_CLOSE, type LiveHello, type LiveMessage, type LivePosition } from '../codec/live-frame.js';
import { authenticateHeader, bearerCredential, type Principal, userOf } from './auth.js';
import { HttpError, toHttpError } from './http-error.js';
import type { ServerData } from './server-data.js';
import type { Peer } from './storage/storage.js';

/** Options of live connections. */
export interface LiveOptions {
  /** Time between heartbeats: a tick to each client, a ping that a dead client fails to answer (default 25 s). */
  heartbeatMs?: number;
  /** Changes up to this size are pushed on the socket; larger ones are announced and pulled (default 1 MiB). */
  pushLimitBytes?: number;
  /** How long a new connection may take to send its hello (default 10 s). */
  helloTimeoutMs?: number;
}

/** Seq above any real one: a position past every change of its db_version. */
const PAST_VERSION = Number.MAX_SAFE_INTEGER;
/** Unread bytes a client may have queued on the server before it is dropped. */
const BACKLOG_BYTES = 8 * 1024 * 1024;
const LIVE_PATH = /^\/v1\/cloudsync\/([^/]+)\/([0-9a-fA-F]{32})\/live$/;

interface Client {
  socket: WebSocket;
  database: string;
  site: Uint8Array;
  principal: Principal;
  /** The credential it authenticated with (an API key is checked again at each heartbeat). */
  credential: string;
  alive: boolean;
  expiry: NodeJS.Timeout | null;
}

/** Counters for operations (metrics). */
export interface LiveCounters {
  pushes: number;
  notices: number;
}

/** The live connections of one server. */
export class LiveHub {
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<string, Set<Client>>();
  /** Per database: the newest position the last push ended at (what the next push starts after). */
  private readonly pushedTo = new Map<string, LivePosition>();
  /** Per database: the notices being sent now (the next upload's wait for them). */
  private readonly publishing = new Map<string, Promise<void>>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly pushLimit: number;
  private readonly helloTimeout: number;
  private closed = false;
  private readonly unwatch: () => void;
  readonly counters: LiveCounters = { pushes: 0, notices: 0 };

  constructor(
    private readonly data: ServerData,
    private readonly logger: Logger,
    options: LiveOptions = {},
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, clientTracking: false, perMessageDeflate: false });
    this.pushLimit = options.pushLimitBytes ?? 1024 * 1024;
    this.helloTimeout = options.helloTimeoutMs ?? 10_000;
    this.heartbeat = setInterval(() => void this.beat().catch((error: unknown) => this.logger.error({ err: error }, 'live heartbeat failed')), options.heartbeatMs ?? 25_000);
    this.heartbeat.unref();
    this.unwatch = data.store.watch((database, before) => this.heardFromAnotherNode(database, before));
  }

  /** Another node applied an upload to `database` ('*': any database may have news). */
  private heardFromAnotherNode(database: string, before: number): void {
    if (before < 0) {
      // notices were lost with the store's connection: every client checks over HTTP (a notice
      // that depends on nobody's rows, only on when the connection came back)
      const notice = JSON.stringify({ type: 'changed' } satisfies LiveMessage);
      for (const [name, clients] of this.clients) if (database === '*' || name === database) for (const client of clients) this.deliver(client, notice);
      return;
    }
    for (const name of this.listens(database) ? [database] : []) {
      void this.data.peer(name).then(
        (peer) => peer && this.published(name, peer, before),
        (error: unknown) => this.logger.warn({ err: error, database: name }, 'live notices from another node failed'),
      );
    }
  }

  /** Connections open now. */
  get connections(): number {
    let n = 0;
    for (const set of this.clients.values()) n += set.size;
    return n;
  }

  /** True when a database has live connections (an upload then reads its stored version for them). */
  listens(database: string): boolean {
    return this.clients.has(database);
  }

  /** Takes WebSocket upgrades on `server` for `/v1/cloudsync/{database}/{site}/live`. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
  }

  /**
   * After an upload applied to `database` (`before`: its db_version before the apply): pushes the
   * new changes, or tells the token users who may see some of them. Every client is decided
   * before any frame is sent, so when a notice leaves does not depend on who else gets one.
   */
  published(database: string, peer: Peer, before: number): Promise<void> {
    // one database's notices go out in the order of its uploads
    const previous = this.publishing.get(database) ?? Promise.resolve();
    const next = previous.then(() => this.publish(database, peer, before));
    const settled = next.catch((error: unknown) => this.logger.error({ err: error, database }, 'live notices failed'));
    this.publishing.set(database, settled);
    void settled.then(() => {
      if (this.publishing.get(database) === settled) this.publishing.delete(database);
    });
    return settled;
  }

  private async publish(database: string, peer: Peer, before: number): Promise<void> {
    const clients = this.clients.get(database);
    if (!clients || clients.size === 0 || (await peer.storedVersion()) <= before) return;
    const filtered = await peer.filtersReads();
    const everything: Client[] = [];
    const told: Client[] = [];
    const since = { dbVersion: before, seq: PAST_VERSION };
    for (const client of [...clients]) {
      const user = userOf(client.principal);
      if (user === null || !filtered) everything.push(client);
      else if (await peer.hasNewsFor(user, client.site, since)) told.push(client);
    }
    let frame: Uint8Array | null = null;
    let announce = false;
    if (everything.length > 0) {
      const from = this.pushedTo.get(database) ?? null;
      const payloads = await peer.changesSince(from ?? since, this.pushLimit);
      const last = payloads[payloads.length - 1];
      if (last) {
        // the first push of a database in this process has no exact start: announced, then pulled
        if (from !== null && payloads.length === 1) frame = encodeLiveChanges({ from, to: last.last, payload: last.payload });
        else announce = true;
        this.pushedTo.set(database, last.last);
      }
    }
    const notice = JSON.stringify({ type: 'changed' } satisfies LiveMessage);
    for (const client of everything) {
      if (frame) this.deliver(client, frame);
      else if (announce) this.deliver(client, notice);
    }
    for (const client of told) this.deliver(client, notice);
  }

  /**
   * Sends a frame, unless the client has not read what it was sent before: past BACKLOG_BYTES it
   * is dropped instead (it reconnects and catches up over HTTP), so a slow reader cannot make the
   * server buffer without bound.
   */
  private deliver(client: Client, frame: Uint8Array | string): void {
    if (client.socket.bufferedAmount > BACKLOG_BYTES) {
      this.forget(client);
      client.socket.terminate();
      return;
    }
    client.socket.send(frame);
    if (typeof frame === 'string') this.counters.notices++;
    else this.counters.pushes++;
  }

  /** Closes every connection (going away) and stops the heartbeat. */
  close(): void {
    this.closed = true;
    this.unwatch();
    clearInterval(this.heartbeat);
    for (const set of this.clients.values()) for (const client of set) this.drop(client, 1001, 'server shutting down');
    this.clients.clear();
  }

  /** Closes the connections of a dropped database. */
  dropped(database: string): void {
    for (const client of this.clients.get(database) ?? []) this.drop(client, LIVE_CLOSE.notFound, `database '${database}' was dropped`);
    this.clients.delete(database);
    this.pushedTo.delete(database);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (request.url ?? '/').split('?')[0] as string;
    const match = LIVE_PATH.exec(path);
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Service Unavailable'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    if (!match) return refuse(404, 'not found');
    if (this.closed) return refuse(503, 'server shutting down');
    const database = decodeURIComponent(match[1] as string);
    const siteHex = (match[2] as string).toLowerCase();
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request, database, siteHex));
  }

  /** A new socket: waits for its hello, authenticates it like an HTTP request, then registers it. */
  private accept(socket: WebSocket, request: IncomingMessage, database: string, siteHex: string): void {
    socket.on('error', () => socket.terminate());
    const timer = setTimeout(() => socket.close(LIVE_CLOSE.protocol, 'no hello'), this.helloTimeout);
    socket.once('message', (raw: RawData, isBinary: boolean) => {
      clearTimeout(timer);
      let hello: LiveHello;
      try {
        hello = JSON.parse(isBinary ? '' : rawText(raw)) as LiveHello;
        if (hello?.type !== 'hello') throw new Error();
      } catch {
        socket.close(LIVE_CLOSE.protocol, 'the first message must be {"type":"hello"}');
        return;
      }
      const header = typeof hello.authorization === 'string' ? hello.authorization : (request.headers.authorization ?? '');
      void this.admit(socket, database, siteHex, header);
    });
  }

  private async admit(socket: WebSocket, database: string, siteHex: string, header: string): Promise<void> {
    let principal: Principal;
    try {
      principal = await authenticateHeader(header, database, this.data);
      if (!(await this.data.hasDatabase(database))) throw new HttpError(404, `database '${database}' not found`);
    } catch (error) {
      const failure = toHttpError(error);
      const code = failure.status === 404 ? LIVE_CLOSE.notFound : failure.status === 401 || failure.status === 403 ? LIVE_CLOSE.unauthorized : 1011;
      socket.close(code, failure.message.slice(0, 120));
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;
    const client: Client = { socket, database, site: Buffer.from(siteHex, 'hex'), principal, credential: bearerCredential(header) ?? '', alive: true, expiry: null };
    if (principal.kind === 'token') client.expiry = this.expireAt(client, principal.claims.exp);
    let set = this.clients.get(database);
    if (!set) this.clients.set(database, (set = new Set()));
    set.add(client);
    this.data.noteSite(database, siteHex);
    socket.on('pong', () => (client.alive = true));
    socket.on('message', () => socket.close(LIVE_CLOSE.protocol, 'nothing is expected after the hello'));
    socket.on('close', () => this.forget(client));
    socket.send(JSON.stringify({ type: 'ready' } satisfies LiveMessage));
    this.logger.debug({ database, site: siteHex, principal: principal.id }, 'live connection');
  }

  /** Closes a token user's connection when the token expires. */
  private expireAt(client: Client, exp: unknown): NodeJS.Timeout | null {
    if (typeof exp !== 'number') return null;
    const delay = Math.max(0, exp * 1000 - this.data.currentTime());
    const timer = setTimeout(() => this.drop(client, LIVE_CLOSE.unauthorized, 'token expired'), Math.min(delay, 2 ** 31 - 1));
    timer.unref();
    return timer;
  }

  /** Heartbeat: drops clients that did not answer the last ping or whose API key was revoked; pings and ticks the rest. */
  private async beat(): Promise<void> {
    const tick = JSON.stringify({ type: 'tick' } satisfies LiveMessage);
    for (const database of [...this.clients.keys()]) if (!(await this.data.hasDatabase(database))) this.dropped(database);
    for (const set of [...this.clients.values()]) {
      for (const client of [...set]) {
        if (!client.alive) {
          client.socket.terminate();
          continue;
        }
        if (client.principal.kind === 'apikey' && !(await this.data.authenticateApiKey(client.credential))) {
          this.drop(client, LIVE_CLOSE.unauthorized, 'invalid or revoked API key');
          continue;
        }
        client.alive = false;
        client.socket.ping();
        client.socket.send(tick);
      }
    }
  }

  private drop(client: Client, code: number, reason: string): void {
    this.forget(client);
    client.socket.close(code, reason);
    // a peer that does not answer the close handshake is cut after a while
    setTimeout(() => client.socket.terminate(), 5000).unref();
  }

  private forget(client: Client): void {
    if (client.expiry) clearTimeout(client.expiry);
    const set = this.clients.get(client.database);
    set?.delete(client);
    if (set?.size === 0) this.clients.delete(client.database);
  }
}

function rawText(raw: RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw as ArrayBuffer).toString('utf8');
}
