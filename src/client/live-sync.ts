// Live sync, client side: a WebSocket to the server that brings other devices' changes the moment
// they land (pushed, or announced and then pulled), local changes sent right after each commit,
// reconnection with backoff and jitter, and polling while no socket can be had.

import { decodeLiveChanges, LIVE_CLOSE, type LiveChanges, type LiveHello, type LiveMessage, type LivePosition } from '../codec/live-frame.js';
import { nextDelay } from './auto-sync.js';
import { NetworkError } from './network-error.js';

/** The part of a WebSocket that live sync uses: the browser's global and the `ws` package's both have it. */
export interface LiveSocket {
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class (`globalThis.WebSocket`, or `ws` in Node). */
export type LiveSocketClass = new (url: string) => LiveSocket;

/** Options of live sync. */
export interface LiveOptions {
  /** Sync over HTTP this often while no socket is open (default 10 s). */
  pollIntervalMs?: number;
  /** Local commits are sent this long after the last one (default 0: on the next turn of the event loop). */
  debounceMs?: number;
  /** First delay before reconnecting; it doubles with each failure, with jitter (default 250 ms). */
  minBackoffMs?: number;
  /** Largest delay before reconnecting (default 30 s). */
  maxBackoffMs?: number;
  /** A socket silent this long is taken for dead (default 60 s; the server ticks every 25 s). */
  silenceMs?: number;
  /** Random source in [0, 1), replaceable in tests. */
  random?: () => number;
}

/** Where live sync is: `polling` while the socket is down and HTTP works, `offline` when neither does or the server refused. */
export type LiveState = 'connecting' | 'connected' | 'polling' | 'offline' | 'stopped';

/** What live sync needs from the network client. */
export interface LiveHost {
  socketClass: LiveSocketClass | null;
  /** The live endpoint (ws:// or wss://). */
  url(): string;
  /** The Authorization header value, or null. */
  authorization(): string | null;
  sync(): Promise<unknown>;
  /** A pull; `enough` ends it early, between two rounds, when it says so of the check watermark. */
  check(enough?: (at: LivePosition) => boolean): Promise<unknown>;
  send(): Promise<unknown>;
  /** Applies pushed changes; null when they do not follow on from what is here (then check). */
  applyPushed(changes: LiveChanges): Promise<unknown>;
  hasUnsentChanges(): boolean;
  /** Calls `listener` after each commit of this connection; returns the unsubscribe. */
  onCommit(listener: () => void): () => void;
  state(state: LiveState, error?: Error): void;
}

/** True when a push starts after `at` (something between would be missing). */
function after(changes: LiveChanges, at: LivePosition): boolean {
  return changes.from.dbVersion > at.dbVersion || (changes.from.dbVersion === at.dbVersion && changes.from.seq > at.seq);
}

/** Pushes held while a pull runs, at most (past them the held ones are dropped: the pull brings them). */
const MAX_HELD_PUSHES = 32;

/** A running live sync. */
export class LiveLink {
  private socket: LiveSocket | null = null;
  private stopped = false;
  /** Refused by the server (credential, database): no reconnecting until the credential changes. */
  private refused = false;
  private failures = 0;
  private reconnect: ReturnType<typeof setTimeout> | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private silence: ReturnType<typeof setTimeout> | null = null;
  private sendTimer: ReturnType<typeof setTimeout> | null = null;
  /** A pull (check); notices that arrive while one runs make one more. */
  private readonly puller: OneAtATime;
  /** A send of what is unsent; commits made while one runs make one more. */
  private readonly sender: OneAtATime;
  private readonly unsubscribe: () => void;
  private current: LiveState = 'offline';
  /** Pushes that came while a pull ran, applied after it. */
  private readonly held: LiveChanges[] = [];
  private readonly options: Required<LiveOptions>;

  constructor(
    private readonly host: LiveHost,
    options: LiveOptions = {},
  ) {
    this.options = {
      pollIntervalMs: options.pollIntervalMs ?? 10_000,
      debounceMs: options.debounceMs ?? 0,
      minBackoffMs: options.minBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      silenceMs: options.silenceMs ?? 60_000,
      random: options.random ?? Math.random,
    };
    // failures are reported by the status event; the next notice, commit, reconnect or poll tries again
    this.puller = new OneAtATime(async () => {
      if (this.stopped) return;
      // Under steady writes, a pull that went on until the server had nothing new would rarely
      // end on a slow server (each round finds the write of the last one); it ends instead once a
      // push held meanwhile follows on from where it got.
      await host.check((at) => this.held.length > 0 && !after(this.held[0] as LiveChanges, at));
      await this.applyHeld();
    });
    this.sender = new OneAtATime(async () => {
      if (this.stopped || this.refused) return;
      let unsent: boolean;
      try {
        unsent = host.hasUnsentChanges();
      } catch {
        return; // the database closed under a live sync that was not stopped
      }
      if (unsent) await host.send();
    });
    this.unsubscribe = host.onCommit(() => this.scheduleSend());
    this.connect();
  }

  /** The state now. */
  get state(): LiveState {
    return this.current;
  }

  /** Closes the socket and stops polling and sending (an operation in flight finishes). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    for (const timer of [this.reconnect, this.silence, this.sendTimer]) if (timer) clearTimeout(timer);
    if (this.poll) clearInterval(this.poll);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, 'client stopped');
    }
    this.setState('stopped');
  }

  /** The credential changed: a connection the server refused is tried again at once. */
  credentialChanged(): void {
    if (this.stopped) return;
    if (this.refused) {
      this.refused = false;
      this.failures = 0;
      this.connect();
    } else if (this.socket) {
      // the socket was opened with the old credential: reopen with the new one
      this.socket.close(1000, 'credential changed');
    }
  }

  private connect(): void {
    this.reconnect = null;
    if (this.stopped || this.refused) return;
    const Socket = this.host.socketClass;
    if (Socket === null) {
      this.startPolling(); // no WebSocket on this platform: polling only
      return;
    }
    this.setState(this.poll ? this.current : 'connecting');
    let socket: LiveSocket;
    try {
      socket = new Socket(this.host.url());
    } catch (error) {
      this.closed(1006, error instanceof Error ? error.message : String(error));
      return;
    }
    this.socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      const hello: LiveHello = { type: 'hello' };
      const authorization = this.host.authorization();
      if (authorization !== null) hello.authorization = authorization;
      socket.send(JSON.stringify(hello));
      this.heard(socket);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.heard(socket);
      this.message(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.closed(event.code, event.reason);
    };
    socket.onerror = () => {}; // a close event follows with the code
  }

  private message(data: unknown): void {
    if (typeof data === 'string') {
      let message: LiveMessage;
      try {
        message = JSON.parse(data) as LiveMessage;
      } catch {
        return;
      }
      if (message.type === 'ready') this.ready();
      else if (message.type === 'changed') this.schedulePull();
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (bytes === null) return;
    let changes: LiveChanges;
    try {
      changes = decodeLiveChanges(bytes);
    } catch {
      this.schedulePull(); // a frame we cannot read: fetch the same changes the usual way
      return;
    }
    if (this.puller.busy) {
      // a pull runs: this push most likely follows on from where it ends, so apply it then
      // rather than pull again (on a slow server, a pull per push would feed itself)
      this.hold(changes);
      return;
    }
    this.host.applyPushed(changes).then(
      (applied) => {
        if (applied === null) {
          this.hold(changes);
          this.schedulePull();
        }
      },
      () => this.schedulePull(),
    );
  }

  /** Keeps a push for after the pull (a bounded few: past them the pull brings everything anyway). */
  private hold(changes: LiveChanges): void {
    if (this.held.length >= MAX_HELD_PUSHES) this.held.length = 0;
    this.held.push(changes);
  }

  /** After a pull: applies the pushes that came meanwhile, in order; one that still does not follow on means a push was missed. */
  private async applyHeld(): Promise<void> {
    let gap = false;
    while (this.held.length > 0 && !this.stopped) {
      const changes = this.held.shift() as LiveChanges;
      const applied = await this.host.applyPushed(changes).catch(() => null);
      if (applied === null) gap = true;
    }
    if (gap) this.schedulePull();
  }

  /** The server accepted the connection: catch up both ways, stop polling. */
  private ready(): void {
    this.failures = 0;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.setState('connected');
    // catch up both ways: what is unsent goes, and a pull that pushes can take over from
    this.sender.request();
    this.schedulePull();
  }

  private closed(code: number, reason: string): void {
    if (this.silence) clearTimeout(this.silence);
    if (this.stopped) return;
    if (code === LIVE_CLOSE.unauthorized || code === LIVE_CLOSE.notFound) {
      this.refused = true;
      if (this.poll) clearInterval(this.poll);
      this.poll = null;
      const status = code === LIVE_CLOSE.unauthorized ? 401 : 404;
      this.setState('offline', new NetworkError('HTTP', `live: the server closed the connection: ${reason || code}`, status));
      return;
    }
    this.failures++;
    this.startPolling();
    const delay = nextDelay(this.options.minBackoffMs, this.options.maxBackoffMs, this.failures, this.options.random);
    this.reconnect = setTimeout(() => this.connect(), delay);
  }

  /** Every message (or the open) restarts the silence timer: a socket that says nothing for too long is closed. */
  private heard(socket: LiveSocket): void {
    if (this.silence) clearTimeout(this.silence);
    this.silence = setTimeout(() => {
      if (this.socket !== socket) return;
      this.socket = null;
      socket.onclose = null;
      socket.close(4000, 'silent');
      this.closed(1006, 'no message from the server');
    }, this.options.silenceMs);
  }

  private startPolling(): void {
    if (this.poll || this.stopped) return;
    const tick = () => {
      this.host.sync().then(
        () => {
          if (!this.stopped && this.socket === null && !this.refused) this.setState('polling');
        },
        (error: unknown) => {
          if (!this.stopped && this.socket === null) this.setState('offline', error instanceof Error ? error : new Error(String(error)));
        },
      );
    };
    this.poll = setInterval(tick, this.options.pollIntervalMs);
    tick();
  }

  private schedulePull(): void {
    if (!this.stopped) this.puller.request();
  }

  /** After a local commit: sends what is unsent, debounced. */
  private scheduleSend(): void {
    if (this.stopped || this.refused) return;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = setTimeout(() => {
      this.sendTimer = null;
      if (!this.stopped) this.sender.request();
    }, this.options.debounceMs);
  }

  private setState(state: LiveState, error?: Error): void {
    if (state === this.current && error === undefined) return;
    this.current = state;
    this.host.state(state, error);
  }
}

/** Runs a task at most once at a time; a request while it runs makes it run once more after. */
class OneAtATime {
  private running = false;
  private again = false;

  constructor(private readonly task: () => Promise<unknown>) {}

  /** True while the task runs. */
  get busy(): boolean {
    return this.running;
  }

  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.task()
      .catch(() => undefined)
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
