// How a page reaches its database when several tabs of one origin open it: one tab owns it (a
// Web Lock per database name) and runs the worker; the others send their requests to the owner
// over a BroadcastChannel and hear its events. When the owner closes, its lock passes to a waiting
// tab, which starts a worker on the same files and announces itself; requests that the closed
// owner had not answered are sent again to the new one. Another tab's SQL runs once however often
// it is sent (the owner records it with its answer, see request-records.ts); the other requests
// may run again, which they bear (a merge, a sync, a read, a setting). Only SQL that opens or
// ends a transaction itself fails with OWNER_CLOSED then (it may or may not have run). The network session (the
// server URL, the credential, automatic and live sync) is known to every tab and set up again in
// the new owner's worker, so syncing goes on across the hand-over.

import type { WorkerEvent, WorkerRequest, WorkerResponse } from './messages.js';
import { canRecord, sqlOf } from './request-records.js';

/** What the page's database receives: answers to its requests, and events. */
export type Receive = (message: WorkerResponse | WorkerEvent) => void;

// The browser objects this file uses, typed here so that the package compiles without the DOM library.
export interface PageWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  onmessage: ((event: { data: WorkerResponse | WorkerEvent }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
}
interface Channel {
  postMessage(message: TabMessage): void;
  close(): void;
  onmessage: ((event: { data: TabMessage }) => void) | null;
}
interface Locks {
  request(name: string, options: { ifAvailable: boolean }, work: (lock: object | null) => Promise<unknown>): Promise<unknown>;
  request(name: string, work: (lock: object | null) => Promise<unknown>): Promise<unknown>;
}
declare const Worker: new (url: string | URL, options: { type: 'module'; name: string }) => PageWorker;
declare const BroadcastChannel: new (name: string) => Channel;
declare const navigator: { locks?: Locks };

/** Messages between the tabs of one database. */
type TabMessage =
  | { type: 'hello' }
  | { type: 'owner'; owner: string; session: WorkerRequest[] }
  | { type: 'session'; session: WorkerRequest[] }
  | { type: 'request'; tab: string; request: WorkerRequest }
  | { type: 'response'; tab: string; response: WorkerResponse }
  | { type: 'event'; event: WorkerEvent };

const OWNER_CLOSED = 'the tab that owned the database closed before answering; the request may or may not have run (SQL that controls its own transaction is not sent again)';

/**
 * The requests that make up the network session, by the part of it they set or clear;
 * the session is replayed in this order.
 */
const SESSION: Record<string, { part: string; clears: boolean }> = {
  'network.init': { part: 'server', clears: false },
  'network.setApiKey': { part: 'credential', clears: false },
  'network.setToken': { part: 'credential', clears: false },
  'network.startAutoSync': { part: 'auto', clears: false },
  'network.stopAutoSync': { part: 'auto', clears: true },
  'network.live': { part: 'live', clears: false },
  'network.stopLive': { part: 'live', clears: true },
};
const SESSION_ORDER = ['server', 'credential', 'auto', 'live'];

/** An asker of the worker that is no page: a request of the session replayed by a new owner. */
const REPLAY = '';

/** One tab's link to the database: the worker itself when this tab owns it, else the owner tab. */
export class TabLink {
  private readonly tab = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  private worker: PageWorker | null = null;
  private owner: string | null = null;
  private readonly channel: Channel | null;
  /** Requests waiting for an owner to be known. */
  private queue: WorkerRequest[] = [];
  /** Requests sent to the owner tab, not answered yet, by id. */
  private readonly remote = new Map<number, WorkerRequest>();
  /** How many requests went to a new owner because the last one closed before answering. */
  resent = 0;
  /** Requests in the worker: its id → who asked (null: this tab) and their id. */
  private readonly inWorker = new Map<number, { tab: string | null; id: number; request: WorkerRequest }>();
  /** The network session, by part (see SESSION), as the owner last told it. */
  private session = new Map<string, WorkerRequest>();
  private nextWorkerId = 1;
  private release: () => void = () => {};
  private closed = false;

  private constructor(
    private readonly lockName: string | null,
    private readonly startWorker: () => PageWorker,
    private readonly openRequest: WorkerRequest,
    private readonly receive: Receive,
    private readonly lost: (ids: number[], message: string) => void,
  ) {
    this.channel = lockName !== null && typeof BroadcastChannel === 'function' ? new BroadcastChannel(lockName) : null;
    if (this.channel) this.channel.onmessage = (event) => this.fromTab(event.data);
  }

  /**
   * Connects to the database `name`: owns it when no other tab does (opening it in a new worker
   * with `openRequest`), else reaches the owner. `shared` false: a database of this tab alone.
   */
  static async connect(name: string, shared: boolean, startWorker: () => PageWorker, openRequest: WorkerRequest, receive: Receive, lost: (ids: number[], message: string) => void): Promise<TabLink> {
    const locks = typeof navigator === 'object' ? navigator.locks : undefined;
    const link = new TabLink(shared && locks ? `sqlite-sync:${name}` : null, startWorker, openRequest, receive, lost);
    if (link.lockName === null || !locks) {
      await link.own();
      return link;
    }
    const owned = await new Promise<boolean>((resolve, reject) => {
      void locks
        .request(link.lockName as string, { ifAvailable: true }, async (lock) => {
          if (lock === null) return resolve(false);
          await link.own().then(() => resolve(true), reject);
          await link.held();
        })
        .catch(reject);
    });
    if (!owned) {
      // wait in line to take over when the owner closes; meanwhile, ask who owns it
      void locks.request(link.lockName as string, async () => {
        if (link.closed) return;
        await link.own();
        await link.held();
      });
      link.channel?.postMessage({ type: 'hello' });
    }
    return link;
  }

  /** True when this tab runs the database. */
  get owns(): boolean {
    return this.worker !== null;
  }

  /** Sends a request of this tab. */
  send(request: WorkerRequest): void {
    if (this.worker) this.toWorker(null, request);
    else if (this.owner !== null) {
      this.remote.set(request.id, request);
      this.channel?.postMessage({ type: 'request', tab: this.tab, request });
    } else this.queue.push(request);
  }

  /** Stops: the owner ends its worker (another tab takes over); a follower just leaves. */
  close(): void {
    this.closed = true;
    this.worker?.terminate();
    this.worker = null;
    this.channel?.close();
    this.release();
  }

  private held(): Promise<void> {
    return new Promise((resolve) => (this.release = resolve));
  }

  /** Becomes the owner: starts the worker, opens the database (retrying while the last owner's worker lets go of the files). */
  private async own(): Promise<void> {
    let failure: unknown = null;
    for (let attempt = 0; attempt < 20; attempt++) {
      const worker = this.startWorker();
      try {
        await this.open(worker);
        failure = null;
        break;
      } catch (error) {
        worker.terminate();
        failure = error;
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      }
    }
    if (failure !== null) throw failure;
    // what was sent to the previous owner will not be answered by it: this worker answers now,
    // after the session (below), under the same keys (see toWorker)
    const unanswered = this.takeUnanswered();
    this.owner = this.tab;
    // the session goes on here: set up again before any request that may rely on it
    for (const part of SESSION_ORDER) {
      const request = this.session.get(part);
      if (request) this.toWorker(REPLAY, request);
    }
    this.channel?.postMessage({ type: 'owner', owner: this.tab, session: [...this.session.values()] });
    for (const request of unanswered) this.toWorker(this.tab, request);
    const queued = this.queue;
    this.queue = [];
    for (const request of queued) this.toWorker(null, request);
  }

  private open(worker: PageWorker): Promise<void> {
    return new Promise((resolve, reject) => {
      worker.onerror = (event) => reject(new Error(`sqlite-sync worker failed: ${event.message ?? 'it could not start'}`));
      worker.onmessage = (event) => {
        const message = event.data;
        if ('id' in message && message.id === 0) {
          if ('error' in message) return reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
          this.worker = worker;
          worker.onmessage = (next) => this.fromWorker(next.data);
          worker.onerror = null;
          resolve();
        }
      };
      worker.postMessage({ ...this.openRequest, id: 0 });
    });
  }

  private toWorker(tab: string | null, request: WorkerRequest): void {
    const id = this.nextWorkerId++;
    this.inWorker.set(id, { tab, id: request.id, request });
    // another tab's request (or this tab's own, sent again after the owner it went to closed) is
    // keyed by who asked, so that its SQL runs once whichever owner it reaches
    const once = tab !== null && tab !== REPLAY ? `${tab}:${request.id}` : undefined;
    this.worker?.postMessage({ ...request, id, ...(once === undefined ? {} : { once }) });
  }

  private fromWorker(message: WorkerResponse | WorkerEvent): void {
    if (!('id' in message)) {
      this.receive(message);
      this.channel?.postMessage({ type: 'event', event: message });
      return;
    }
    const asker = this.inWorker.get(message.id);
    this.inWorker.delete(message.id);
    if (!asker) return;
    const part = SESSION[asker.request.method];
    if (part && !('error' in message) && asker.tab !== REPLAY) {
      if (part.clears) this.session.delete(part.part);
      else this.session.set(part.part, { ...asker.request, id: 0 });
      this.channel?.postMessage({ type: 'session', session: [...this.session.values()] });
    }
    if (asker.tab === REPLAY) return;
    const response = { ...message, id: asker.id };
    if (asker.tab === null || asker.tab === this.tab) this.receive(response);
    else this.channel?.postMessage({ type: 'response', tab: asker.tab, response });
  }

  private fromTab(message: TabMessage): void {
    switch (message.type) {
      case 'hello':
        if (this.worker) this.channel?.postMessage({ type: 'owner', owner: this.tab, session: [...this.session.values()] });
        return;
      case 'session':
        if (!this.worker) this.session = sessionOf(message.session);
        return;
      case 'owner': {
        const unanswered = this.owner !== null && this.owner !== message.owner ? this.takeUnanswered() : [];
        this.owner = message.owner;
        this.session = sessionOf(message.session);
        const queued = [...unanswered, ...this.queue];
        this.queue = [];
        for (const request of queued) this.send(request);
        return;
      }
      case 'request':
        if (this.worker) this.toWorker(message.tab, message.request);
        return;
      case 'response':
        if (message.tab === this.tab && this.remote.delete(message.response.id)) this.receive(message.response);
        return;
      case 'event':
        if (!this.worker) this.receive(message.event);
        return;
    }
  }

  /**
   * The requests the closed owner did not answer, to send again: SQL, which the new owner runs
   * once (see request-records.ts), and the rest, which bears running twice. SQL that cannot be
   * recorded (its own BEGIN, COMMIT, …) fails with OWNER_CLOSED instead.
   */
  private takeUnanswered(): WorkerRequest[] {
    const again: WorkerRequest[] = [];
    const failed: number[] = [];
    for (const request of this.remote.values()) {
      const sql = sqlOf(request);
      if (sql === null || canRecord(sql)) again.push(request);
      else failed.push(request.id);
    }
    this.remote.clear();
    if (failed.length > 0) this.lost(failed, OWNER_CLOSED);
    this.resent += again.length;
    return again;
  }
}

/** The session from its requests, by part. */
function sessionOf(requests: readonly WorkerRequest[]): Map<string, WorkerRequest> {
  const session = new Map<string, WorkerRequest>();
  for (const request of requests) {
    const part = SESSION[request.method];
    if (part && !part.clears) session.set(part.part, request);
  }
  return session;
}
