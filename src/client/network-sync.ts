// The network client of one connection: configuration, the blocking operations behind the
// cloudsync_network_* SQL functions, their async twins, status events and automatic sync.

import type { CloudSyncEngine } from '../engine/cloudsync.js';
import { type ConnectionTarget, endpointsFor, parseConnectionString } from './connection-string.js';
import { isSameThreadServer } from './same-thread-servers.js';
import { fetchTransport } from './fetch-transport.js';
import { type AsyncTransport, type BlockingTransport, DEFAULT_TIMEOUT_MS } from './http-transport.js';
import { NetworkError } from './network-error.js';
import { Emitter } from './emitter.js';
import { type LiveOptions, LiveLink, type LiveSocketClass, type LiveState } from './live-sync.js';
import { applyPushedChanges, type CheckResult, checkChanges, type Exchange, type ProtocolContext, type SendResult, type SyncProgress, type SyncResult, sendChanges, syncChanges } from './protocol.js';
import { runAsync, runBlocking } from './run-exchange.js';
import { readWatermark, resetWatermarks } from './watermarks.js';
import { readRefusals, type RefusedChange } from './refusals.js';
import { decodePk } from '../codec/pk.js';
import { startAutoSync, type AutoSync, type AutoSyncOptions } from './auto-sync.js';

/** Options of the network client. */
export interface NetworkOptions {
  /** Timeout of every request (default 30 s). */
  timeoutMs?: number;
  /** Upload payloads are split at about this many bytes (default 5 MiB). */
  maxPayloadBytes?: number;
  /** Transports, replaceable in tests (the loaders pass their platform's). */
  transport?: AsyncTransport;
  /** The transport of the blocking SQL functions; without one they refuse (the async API still works). */
  blockingTransport?: BlockingTransport;
  /** The WebSocket class of live sync (default: the platform's global; the Node loader passes `ws`'s). */
  webSocket?: LiveSocketClass;
}

/** What a sync client is doing. */
export type SyncStatus = 'sending' | 'receiving' | 'up-to-date' | 'offline' | 'error';

/** Events: `status` (status, error?) and `progress` (SyncProgress, with bytes of the current download). */
export interface NetworkSyncEvents {
  status: [status: SyncStatus, error?: Error];
  progress: [progress: SyncProgress];
  /** Live sync's connection state (see live()). */
  live: [state: LiveState, error?: Error];
}

/** The network state of one synced connection. */
export class NetworkSync extends Emitter<NetworkSyncEvents> {
  private target: ConnectionTarget | null = null;
  private credential: string | null = null;
  private readonly timeoutMs: number;
  private readonly asyncTransport: AsyncTransport;
  private readonly syncTransport: BlockingTransport | null;
  private running: Promise<unknown> = Promise.resolve();
  private auto: AutoSync | null = null;
  private liveLink: LiveLink | null = null;
  /** Changes of the running operation so far, for progress events during a download. */
  private changesSoFar = 0;

  constructor(
    private readonly engine: CloudSyncEngine,
    private readonly options: NetworkOptions = {},
  ) {
    super();
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.asyncTransport = options.transport ?? fetchTransport;
    this.syncTransport = options.blockingTransport ?? null;
  }

  /** cloudsync_network_init: sets the server from a connection string (and its apikey or token). */
  init(connectionString: string): void {
    const target = parseConnectionString(connectionString);
    this.target = target;
    this.credential = target.credential?.value ?? null;
  }

  /** cloudsync_network_set_apikey. */
  setApiKey(key: string): void {
    this.credential = key;
    this.liveLink?.credentialChanged();
  }

  /** cloudsync_network_set_token. */
  setToken(token: string): void {
    this.credential = token;
    this.liveLink?.credentialChanged();
  }

  /** cloudsync_network_has_unsent_changes: local changes the server has not acknowledged. */
  hasUnsentChanges(): boolean {
    if (!this.engine.settings.exist()) return false;
    const since = readWatermark(this.engine, 'send');
    return this.engine.feed.count({ site: 'local', sinceDbVersion: since.dbVersion, sinceSeq: since.seq }) > 0;
  }

  /** cloudsync_network_send_changes, blocking. */
  sendChangesNow(): SendResult {
    return refusing(this.runNow((context) => sendChanges(context)));
  }

  /** cloudsync_network_check_changes, blocking. */
  checkChangesNow(): CheckResult {
    return this.runNow((context) => checkChanges(context));
  }

  /** cloudsync_network_sync, blocking. */
  syncNow(waitMs = 100, maxRetries = 1): SyncResult {
    return refusing(this.runNow((context) => syncChanges(context, waitMs, maxRetries)));
  }

  /** Sends the unsent local changes. */
  sendChanges(): Promise<SendResult> {
    return this.runLater((context) => sendChanges(context)).then(refusing);
  }

  /** Downloads and applies what the server has that this database has not seen. */
  checkChanges(): Promise<CheckResult> {
    return this.runLater((context) => checkChanges(context));
  }

  /** Sends, then checks (up to `maxRetries` times, `waitMs` apart, until something arrives). */
  sync(options: { waitMs?: number; maxRetries?: number } = {}): Promise<SyncResult> {
    return this.runLater((context) => syncChanges(context, options.waitMs ?? 100, options.maxRetries ?? 1)).then(refusing);
  }

  /** The changes the server's write policies refused so far (the table cloudsync_refused), oldest first. */
  refusedChanges(): (RefusedChange & { refusedAt: number })[] {
    return readRefusals(this.engine);
  }

  /** Syncs every `intervalMs`, backing off exponentially with jitter after failures. */
  startAutoSync(options: AutoSyncOptions = {}): void {
    this.stopAutoSync();
    this.auto = startAutoSync(() => this.sync(), options);
  }

  /** Stops automatic sync (a sync in flight finishes). */
  stopAutoSync(): void {
    this.auto?.stop();
    this.auto = null;
  }

  /**
   * Live sync: keeps a WebSocket to the server open, applies the changes it pushes (or checks when
   * it announces some), sends local changes right after each commit, reconnects with backoff and
   * jitter, and syncs over HTTP every `pollIntervalMs` while no socket is open. State changes are
   * the `live` event. Replaces a live sync already running.
   */
  live(options: LiveOptions = {}): LiveLink {
    this.stopLive();
    const endpoints = this.context().endpoints; // throws now when init or cloudsync_init is missing
    const socketClass = this.options.webSocket ?? ((globalThis as { WebSocket?: LiveSocketClass }).WebSocket ?? null);
    this.liveLink = new LiveLink(
      {
        socketClass,
        url: () => endpoints.live,
        authorization: () => (this.credential === null ? null : `Bearer ${this.credential}`),
        sync: () => this.sync(),
        check: (enough) => this.runLater((context) => checkChanges(context, enough)),
        send: () => this.sendChanges(),
        applyPushed: (changes) => this.runLater((context) => applyPushedChanges(context, changes)),
        hasUnsentChanges: () => this.hasUnsentChanges(),
        onCommit: (listener) => this.engine.notices.subscribe(() => listener()),
        state: (state, error) => this.emit('live', state, error),
      },
      options,
    );
    return this.liveLink;
  }

  /** Stops live sync (an operation in flight finishes). */
  stopLive(): void {
    this.liveLink?.stop();
    this.liveLink = null;
  }

  /** cloudsync_network_reset_sync_version: the next send re-sends everything, the next check downloads everything. */
  resetSyncVersion(): void {
    resetWatermarks(this.engine);
  }

  /**
   * cloudsync_network_logout: forgets the credential and empties the synced tables, their metadata
   * and the site id (without recording deletes), then tracks the same tables again under a new
   * site id, which downloads everything on its next sync. All of it or nothing.
   */
  logout(): void {
    this.credential = null;
    const engine = this.engine;
    const tables = engine.syncedTables().map((t) => ({ name: t.name, algo: t.layout.algo }));
    const db = engine.db;
    db.exec('SAVEPOINT cloudsync_logout');
    try {
      db.exec('PRAGMA defer_foreign_keys = ON');
      engine.cleanup('*');
      db.exec('DROP TABLE IF EXISTS cloudsync_refused'); // the previous user's
      for (const { name } of tables) db.exec(`DELETE FROM "${name.replaceAll('"', '""')}"`);
      for (const { name, algo } of tables) engine.init(name, { algo, force: true });
      db.exec('RELEASE cloudsync_logout');
    } catch (error) {
      db.exec('ROLLBACK TO cloudsync_logout; RELEASE cloudsync_logout');
      engine.terminate();
      throw error;
    }
  }

  /** cloudsync_network_cleanup: forgets the server and the credential. */
  cleanup(): void {
    this.stopAutoSync();
    this.stopLive();
    this.target = null;
    this.credential = null;
  }

  private context(): ProtocolContext {
    if (this.target === null) throw new NetworkError('CONFIG', 'call cloudsync_network_init first');
    const site = this.engine.siteId();
    if (site === null) throw new NetworkError('CONFIG', 'no table is synced yet; call cloudsync_init first');
    const context: ProtocolContext = {
      engine: this.engine,
      endpoints: endpointsFor(this.target, site),
      credential: this.credential,
      onProgress: (progress) => {
        this.changesSoFar = progress.changes;
        this.emit('progress', progress);
      },
    };
    if (this.options.maxPayloadBytes !== undefined) context.maxPayloadBytes = this.options.maxPayloadBytes;
    return context;
  }

  private runNow<T>(exchange: (context: ProtocolContext) => Exchange<T>): T {
    if (this.target && isSameThreadServer(this.target.origin)) {
      throw new NetworkError('CONFIG', `the server at ${this.target.origin} runs in this thread, which these blocking calls would stop before it can answer; use the async API (sync.network.sync()) or run the server in another process`);
    }
    const transport = this.syncTransport;
    if (transport === null) {
      throw new NetworkError('CONFIG', 'the blocking network functions are not available on this platform; use the async API (sync.network.sync())');
    }
    return this.report(() =>
      runBlocking(exchange(this.context()), transport, { timeoutMs: this.timeoutMs, onRequest: (phase) => this.emit('status', phase) }),
    );
  }

  private runLater<T>(exchange: (context: ProtocolContext) => Exchange<T>): Promise<T> {
    // One operation at a time: a second call waits for the first.
    const run = this.running.then(
      () =>
        this.reportAsync(() => {
          this.changesSoFar = 0;
          return runAsync(exchange(this.context()), this.asyncTransport, {
            timeoutMs: this.timeoutMs,
            onRequest: (phase) => this.emit('status', phase),
            onBytes: (phase, bytes) => this.emit('progress', { phase, changes: this.changesSoFar, bytes }),
          });
        }),
    );
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Emits the final status of an operation: up-to-date, or offline/error with the error. */
  private settle(error?: unknown): void {
    if (error === undefined) this.emit('status', 'up-to-date');
    else this.emit('status', statusOf(error), error instanceof Error ? error : new Error(String(error)));
  }

  private report<T>(work: () => T): T {
    try {
      const result = work();
      this.settle();
      return result;
    } catch (error) {
      this.settle(error);
      throw error;
    }
  }

  private async reportAsync<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.settle();
      return result;
    } catch (error) {
      this.settle(error);
      throw error;
    }
  }
}

/**
 * Throws when the server refused changes: after the whole operation, so what was accepted is
 * applied, the refused rows are back in line with the server, and the watermark has moved.
 */
function refusing<T extends SendResult | SyncResult>(result: T): T {
  const refused = 'sent' in result ? result.sent.refused : result.refused;
  if (refused.length === 0) return result;
  const first = refused[0] as RefusedChange;
  const more = refused.length > 1 ? ` (and ${refused.length - 1} more; see cloudsync_refused)` : ' (see cloudsync_refused)';
  const key = JSON.stringify(decodePk(first.pk), (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  const error = new NetworkError('REFUSED', `the server refused changes: ${first.table} ${key}: ${first.reason}${more}`);
  throw Object.assign(error, { refused });
}

function statusOf(error: unknown): SyncStatus {
  return error instanceof NetworkError && (error.code === 'OFFLINE' || error.code === 'TIMEOUT') ? 'offline' : 'error';
}
