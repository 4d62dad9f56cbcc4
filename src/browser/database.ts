// The page side of sqlite-sync in a browser: a database that lives in a dedicated worker, reached
// through an async API (SQL, the typed sync API, the network client) and change notices.

import type { Change } from '../codec/change.js';
import type { ChangeFilter } from '../engine/changes.js';
import { CloudSyncError, type CloudSyncErrorCode } from '../engine/errors.js';
import { NetworkError, type NetworkErrorCode } from '../client/network-error.js';
import type { Row, RowValue } from '../load-wasm.js';
import type { LiveOptions, LiveState } from '../client/live-sync.js';
import type { OpenOptions, WorkerEvent, WorkerFailure, WorkerResponse } from './messages.js';
import { type PageWorker, TabLink } from './tab-link.js';

export type { Row, RowValue };

// The page's Worker, typed here so that the package compiles without the DOM library.
declare const Worker: new (url: string | URL, options: { type: 'module'; name: string }) => PageWorker;

/** Options of openDatabase: the worker's options, and where its script is. */
export interface BrowserOpenOptions extends OpenOptions {
  /** The worker script (default: worker.js next to this module, as the package ships it). */
  workerUrl?: string | URL;
}

/** A listener of changed synced tables: called after local commits and after merged changes. */
export type ChangeListener = (tables: string[]) => void;

/** What the network client reports. */
export type StatusListener = (status: string, error: Error | null) => void;

/** What live sync reports. */
export type LiveListener = (state: LiveState, error: Error | null) => void;

/** A database owned by a worker of this page. */
export class BrowserDatabase {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly changeListeners = new Set<{ tables: Set<string> | null; listener: ChangeListener }>();
  private readonly statusListeners = new Set<StatusListener>();
  private readonly progressListeners = new Set<(progress: unknown) => void>();
  private readonly liveListeners = new Set<LiveListener>();
  /** The network client of this database (calls run in the worker). */
  readonly network: BrowserNetwork;

  private link: TabLink | null = null;

  /** @internal */
  constructor() {
    this.network = new BrowserNetwork((method, args) => this.call(`network.${method}`, args));
  }

  /** Runs SQL (one or more statements; `bind` applies to the first); returns the result rows. */
  exec(sql: string, bind?: readonly RowValue[]): Promise<Row[]> {
    return this.call('exec', [sql, bind]) as Promise<Row[]>;
  }

  /** Runs SQL that returns rows (the same as exec, named for reads). */
  query(sql: string, bind?: readonly RowValue[]): Promise<Row[]> {
    return this.exec(sql, bind);
  }

  /** Runs statements in one transaction: all or none; returns each statement's rows. */
  transaction(statements: readonly { sql: string; bind?: readonly RowValue[] }[]): Promise<Row[][]> {
    return this.call('batch', [statements]) as Promise<Row[][]>;
  }

  /** cloudsync_init: makes a table replicated. */
  async init(table: string, algo?: string): Promise<void> {
    await this.call('init', [table, algo]);
  }

  /** cloudsync_siteid as bytes (null before the first init). */
  siteId(): Promise<Uint8Array | null> {
    return this.call('siteId', []) as Promise<Uint8Array | null>;
  }

  /** cloudsync_db_version. */
  dbVersion(): Promise<number> {
    return this.call('dbVersion', []) as Promise<number>;
  }

  /** The tracked changes (SELECT … FROM cloudsync_changes as objects). */
  changes(filter?: ChangeFilter): Promise<Change[]> {
    return this.call('changes', [filter]) as Promise<Change[]>;
  }

  /** cloudsync_payload_encode over the filtered changes; null when there are none. */
  encodePayload(filter?: ChangeFilter): Promise<Uint8Array | null> {
    return this.call('encodePayload', [filter]) as Promise<Uint8Array | null>;
  }

  /** cloudsync_payload_decode: applies a payload atomically; returns its number of changes. */
  applyPayload(payload: Uint8Array): Promise<number> {
    return this.call('applyPayload', [payload]) as Promise<number>;
  }

  /**
   * Calls `listener` with the names of the synced tables that changed, after each local commit and
   * each merge that changed any of `tables` (all synced tables when left out); returns the unsubscribe.
   */
  subscribe(listener: ChangeListener, tables?: readonly string[]): () => void {
    const entry = { tables: tables ? new Set(tables.map((t) => t.toLowerCase())) : null, listener };
    this.changeListeners.add(entry);
    return () => this.changeListeners.delete(entry);
  }

  /** Calls `listener` on each network status (sending, receiving, up-to-date, offline, error); returns the unsubscribe. */
  onStatus(listener: StatusListener): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Calls `listener` on each state of live sync (connecting, connected, polling, offline, stopped); returns the unsubscribe. */
  onLive(listener: LiveListener): () => void {
    this.liveListeners.add(listener);
    return () => this.liveListeners.delete(listener);
  }

  /** Calls `listener` with the progress of each sync; returns the unsubscribe. */
  onProgress(listener: (progress: unknown) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** True when this tab runs the database (other tabs of the origin reach it through this one). */
  get ownsDatabase(): boolean {
    return this.link?.owns ?? false;
  }

  /** How many requests of this tab went again to a new owner tab, the last one having closed before answering. */
  get resentRequests(): number {
    return this.link?.resent ?? 0;
  }

  /** Closes this tab's use of the database; when it owned it, another tab that has it open takes over. */
  async close(): Promise<void> {
    try {
      if (this.link?.owns) await this.call('close', []);
    } finally {
      this.link?.close();
      this.link = null;
      this.failAll(new Error('the database is closed'));
    }
  }

  /** @internal */
  attach(link: TabLink): void {
    this.link = link;
  }

  /** @internal */
  lose(ids: number[], message: string): void {
    for (const id of ids) {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      waiting?.reject(Object.assign(new Error(message), { name: 'OwnerClosedError', code: 'OWNER_CLOSED' }));
    }
  }

  /** @internal */
  call(method: string, args: readonly unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.link === null) return reject(new Error('the database is closed'));
      this.pending.set(id, { resolve, reject });
      this.link.send({ id, method, args: [...args] });
    });
  }

  /** @internal */
  receive(message: WorkerResponse | WorkerEvent): void {
    if ('id' in message) {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (!waiting) return;
      if ('error' in message) waiting.reject(errorOf(message.error));
      else waiting.resolve(message.result);
      return;
    }
    if (message.event === 'changed') {
      for (const { tables, listener } of this.changeListeners) {
        const hit = tables === null ? message.tables : message.tables.filter((t) => tables.has(t.toLowerCase()));
        if (hit.length > 0) listener(hit);
      }
    } else if (message.event === 'status') {
      for (const listener of this.statusListeners) listener(message.status, message.error ? errorOf(message.error) : null);
    } else if (message.event === 'live') {
      for (const listener of this.liveListeners) listener(message.state as LiveState, message.error ? errorOf(message.error) : null);
    } else {
      for (const listener of this.progressListeners) listener(message.progress);
    }
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

/** The network client of a browser database: the methods of sync.network, async. */
export class BrowserNetwork {
  /** @internal */
  constructor(private readonly call: (method: string, args: unknown[]) => Promise<unknown>) {}

  /** Points the client at `serverUrl/database` (cloudsync_network_init). */
  async init(url: string): Promise<void> {
    await this.call('init', [url]);
  }
  /** Authenticates with an API key. */
  async setApiKey(key: string): Promise<void> {
    await this.call('setApiKey', [key]);
  }
  /** Authenticates with a user token (JWT). */
  async setToken(token: string): Promise<void> {
    await this.call('setToken', [token]);
  }
  /** Sends local changes, then receives others' (cloudsync_network_sync). */
  sync(options?: { waitMs?: number; maxRetries?: number }): Promise<{ sent: number; received: number }> {
    return this.call('sync', [options]) as Promise<{ sent: number; received: number }>;
  }
  /** Sends local changes only. */
  sendChanges(): Promise<unknown> {
    return this.call('sendChanges', []);
  }
  /** Receives others' changes only. */
  checkChanges(): Promise<unknown> {
    return this.call('checkChanges', []);
  }
  /** True when local changes wait to be sent. */
  hasUnsentChanges(): Promise<boolean> {
    return this.call('hasUnsentChanges', []) as Promise<boolean>;
  }
  /** Syncs on an interval, with backoff while offline. */
  async startAutoSync(options?: { intervalMs?: number }): Promise<void> {
    await this.call('startAutoSync', [options]);
  }
  /** Stops automatic sync. */
  async stopAutoSync(): Promise<void> {
    await this.call('stopAutoSync', []);
  }
  /**
   * Live sync: a WebSocket to the server brings other devices' changes at once, local commits are
   * sent right away, and it reconnects (polling meanwhile) on its own; see onLive for its state.
   */
  async live(options?: LiveOptions): Promise<void> {
    await this.call('live', [options]);
  }
  /** Stops live sync. */
  async stopLive(): Promise<void> {
    await this.call('stopLive', []);
  }
}

function errorOf(failure: WorkerFailure): Error {
  if (failure.name === 'CloudSyncError' && failure.code) return new CloudSyncError(failure.code as CloudSyncErrorCode, failure.message);
  if (failure.name === 'NetworkError' && failure.code) return new NetworkError(failure.code as NetworkErrorCode, failure.message, failure.status ?? undefined);
  const error = new Error(failure.message);
  error.name = failure.name;
  return error;
}

/**
 * Opens (or creates) a database. With OPFS storage, the first tab of the origin to open `name`
 * runs it in a dedicated worker and the others reach it through that tab; when it closes, one of
 * them takes over (see tab-link.ts). Resolves once the database can be used.
 */
export async function openDatabase(options: BrowserOpenOptions = {}): Promise<BrowserDatabase> {
  const { workerUrl, ...open } = options;
  const database = new BrowserDatabase();
  const start = () => new Worker(workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'sqlite-sync' });
  const link = await TabLink.connect(open.name ?? 'app.db', (open.storage ?? 'opfs') === 'opfs', start, { id: 0, method: 'open', args: [open] }, (message) => database.receive(message), (ids, message) => database.lose(ids, message));
  database.attach(link);
  return database;
}
