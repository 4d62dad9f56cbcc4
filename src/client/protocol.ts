// The sync protocol v1, client side, written once as generators: each step yields the HTTP request
// (or pause) it needs and receives the answer, so the blocking SQL functions and the async
// TypeScript API drive the same code with different transports (see run-exchange.ts).
//
// | step  | request                                            | answer                                  |
// |-------|----------------------------------------------------|-----------------------------------------|
// | send  | GET  {site}/upload                                 | text: a one-time upload URL             |
// |       | PUT  {upload URL}, the payload                     | 2xx                                     |
// |       | POST {site}/upload, {"url": upload URL}            | 2xx, empty: applied                     |
// | check | POST {site}/{check_dbversion}/{check_seq}/check    | empty: nothing new; else a download URL |
// |       | GET  {download URL}                                | a payload                               |

import type { CloudSyncEngine } from '../engine/cloudsync.js';
import { redact } from './fetch-transport.js';
import type { HttpRequest, HttpResponse } from './http-transport.js';
import { NetworkError } from './network-error.js';
import { isAfter, type Position, readWatermark, saveWatermark, writeWatermark } from './watermarks.js';
import type { Endpoints } from './connection-string.js';
import { parseRefusals, type RefusedChange, settleRefusals } from './refusals.js';

/** What a step asks of its driver. */
export type Step = { kind: 'http'; request: HttpRequest; phase: SyncPhase } | { kind: 'sleep'; ms: number };

/** A protocol exchange: yields steps, receives HTTP answers, returns its result. */
export type Exchange<T> = Generator<Step, T, HttpResponse | undefined>;

/** Where a sync is. */
export type SyncPhase = 'sending' | 'receiving';

/** Progress of a transfer, reported after each payload. */
export interface SyncProgress {
  phase: SyncPhase;
  /** Changes sent or applied so far in this operation. */
  changes: number;
  /** Payload bytes sent or received so far in this operation. */
  bytes: number;
}

/** What the protocol needs to know about the client. */
export interface ProtocolContext {
  engine: CloudSyncEngine;
  endpoints: Endpoints;
  /** The bearer credential (API key or token), or null. */
  credential: string | null;
  /** Upload payloads are split at about this many bytes (default 5 MiB). */
  maxPayloadBytes?: number;
  /** Called after each payload sent or applied. */
  onProgress?: (progress: SyncProgress) => void;
}

/** The result of a send. */
export interface SendResult {
  /** Changes sent, refused ones included. */
  changes: number;
  bytes: number;
  payloads: number;
  /** Changes the server's write policies refused (also in cloudsync_refused). */
  refused: RefusedChange[];
}

/** The result of a check. */
export interface CheckResult {
  /** Changes received from other sites. */
  changes: number;
  bytes: number;
  payloads: number;
}

/** The result of a sync: a send, then checks. */
export interface SyncResult {
  sent: SendResult;
  received: CheckResult;
}

// Guards against a server that keeps answering without moving the watermark forward.
const MAX_CHECK_ROUNDS = 10_000;

/**
 * Sends the local changes the server has not acknowledged, one bounded payload at a time. The send
 * watermark moves after each acknowledged payload, never before: a failure leaves the rest queued.
 */
export function* sendChanges(context: ProtocolContext): Exchange<SendResult> {
  const { engine, endpoints } = context;
  // Changes of an open transaction may still roll back after the server took them; the server
  // would then keep rows this database no longer has, and never send them back (they are its own).
  if (engine.db.inTransaction) throw new NetworkError('CONFIG', 'cannot send inside an open transaction (its changes could still roll back after the server accepted them); commit first');
  const since = readWatermark(engine, 'send');
  const payloads = engine.feed.encodePayloads(
    { site: 'local', sinceDbVersion: since.dbVersion, sinceSeq: since.seq },
    context.maxPayloadBytes === undefined ? {} : { maxBytes: context.maxPayloadBytes },
  );
  const result: SendResult = { changes: 0, bytes: 0, payloads: 0, refused: [] };
  for (const { payload, count, last } of payloads) {
    const ticket = yield* request(context, 'sending', { method: 'GET', url: endpoints.upload, headers: authorized(context, { Accept: 'sqlc/plain' }) });
    const uploadUrl = textOf(ticket).trim();
    if (!/^https?:\/\//i.test(uploadUrl)) throw new NetworkError('PROTOCOL', `the server answered an invalid upload URL: '${uploadUrl.slice(0, 80)}'`);
    yield* request(context, 'sending', {
      method: 'PUT',
      url: uploadUrl,
      headers: { Accept: 'text/plain', 'Content-Type': 'application/octet-stream' },
      body: payload,
    });
    const notified = yield* request(context, 'sending', {
      method: 'POST',
      url: endpoints.upload,
      headers: authorized(context, { Accept: 'sqlc/plain', 'Content-Type': 'application/json' }),
      body: JSON.stringify({ url: uploadUrl }),
    });
    // An empty answer: all applied. Otherwise the server's policies refused some changes: they are
    // recorded and their rows put back as the server has them; the watermark moves past them.
    const answer = textOf(notified).trim();
    if (answer !== '') {
      const { refused, restore } = parseRefusals(answer);
      settleRefusals(engine, refused, restore, Date.now());
      result.refused.push(...refused);
    }
    saveWatermark(engine, 'send', last);
    result.changes += count;
    result.bytes += payload.length;
    result.payloads++;
    context.onProgress?.({ phase: 'sending', changes: result.changes, bytes: result.bytes });
  }
  return result;
}

/**
 * Downloads and applies what the server has after the check watermark, payload after payload,
 * until the server answers that nothing is new. Each payload and the watermark it carries commit
 * together.
 */
export function* checkChanges(context: ProtocolContext, enough?: (at: Position) => boolean): Exchange<CheckResult> {
  const { engine, endpoints } = context;
  const result: CheckResult = { changes: 0, bytes: 0, payloads: 0 };
  for (let round = 0; round < MAX_CHECK_ROUNDS; round++) {
    // a live connection's pull ends once pushes follow on from here: they bring the rest
    if (round > 0 && enough?.(readWatermark(engine, 'check'))) break;
    const from = readWatermark(engine, 'check');
    const answer = yield* request(context, 'receiving', {
      method: 'POST',
      url: `${endpoints.check}/${from.dbVersion}/${from.seq}/check`,
      headers: authorized(context, { Accept: 'sqlc/plain' }),
    });
    const downloadUrl = textOf(answer).trim();
    if (downloadUrl === '') break;
    if (!/^https?:\/\//i.test(downloadUrl)) throw new NetworkError('PROTOCOL', `the server answered an invalid download URL: '${downloadUrl.slice(0, 80)}'`);
    const payload = (yield* request(context, 'receiving', { method: 'GET', url: downloadUrl, headers: { Accept: 'application/octet-stream' } })).body;
    const moved = applyReceived(context, payload, from, 'cloudsync_network_check_changes', result);
    if (!moved) break;
  }
  return result;
}

/**
 * Applies changes the server pushed on a live connection, which start after the server position
 * `from`: only when the check watermark is there or past it (else false: the caller checks, so
 * nothing in between is skipped). Re-applying a change already here changes nothing.
 */
export function* applyPushedChanges(context: ProtocolContext, pushed: { from: Position; payload: Uint8Array }): Exchange<CheckResult | null> {
  const at = readWatermark(context.engine, 'check');
  if (isAfter(pushed.from, at)) return null;
  const result: CheckResult = { changes: 0, bytes: 0, payloads: 0 };
  applyReceived(context, pushed.payload, at, 'cloudsync_network_live', result);
  return result;
}

/**
 * Applies one received payload and, in the same transaction, moves the check watermark to its
 * last change when that is past `from`; adds to `result`. True when the watermark moved.
 */
function applyReceived(context: ProtocolContext, payload: Uint8Array, from: Position, fn: string, result: CheckResult): boolean {
  const { engine } = context;
  let moved = false;
  let fromOthers = 0;
  let last: Position | null = null;
  const own = engine.siteId();
  engine.applyPayload(payload, fn, {
    onChange: (change) => {
      if (change.cl !== 0 && (own === null || !sameBytes(own, change.siteId))) fromOthers++;
      const at = { dbVersion: change.dbVersion, seq: change.seq };
      if (last === null || isAfter(at, last)) last = at;
    },
    alongside: () => {
      if (last && isAfter(last, from)) {
        writeWatermark(engine, 'check', last);
        moved = true;
      }
    },
  });
  result.changes += fromOthers;
  result.bytes += payload.length;
  result.payloads++;
  context.onProgress?.({ phase: 'receiving', changes: result.changes, bytes: result.bytes });
  return moved;
}

/**
 * cloudsync_network_sync: one send, then up to `maxRetries` checks with `waitMs` between them,
 * stopping at the first check that brought changes (each check already catches up fully).
 */
export function* syncChanges(context: ProtocolContext, waitMs: number, maxRetries: number): Exchange<SyncResult> {
  const sent = yield* sendChanges(context);
  const received: CheckResult = { changes: 0, bytes: 0, payloads: 0 };
  const attempts = Math.max(1, maxRetries);
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0 && waitMs > 0) yield { kind: 'sleep', ms: waitMs };
    const got = yield* checkChanges(context);
    received.changes += got.changes;
    received.bytes += got.bytes;
    received.payloads += got.payloads;
    if (got.changes > 0) break;
  }
  return { sent, received };
}

/** One request; a status of 400 or more becomes a NetworkError carrying the server's text. */
function* request(context: ProtocolContext, phase: SyncPhase, request: HttpRequest): Generator<Step, HttpResponse, HttpResponse | undefined> {
  const response = yield { kind: 'http', request, phase };
  if (!response) throw new NetworkError('PROTOCOL', 'the transport returned no response');
  if (response.status >= 400) {
    const text = textOf(response).trim().slice(0, 500);
    throw new NetworkError('HTTP', `${request.method} ${redact(request.url)}: ${response.status}${text ? ` ${text}` : ''}`, response.status);
  }
  return response;
}

function authorized(context: ProtocolContext, headers: Record<string, string>): Record<string, string> {
  return context.credential ? { ...headers, Authorization: `Bearer ${context.credential}` } : headers;
}

function textOf(response: HttpResponse): string {
  return new TextDecoder().decode(response.body);
}

/**
 * Changes that came from other sites: a server may send back one of ours, or a removal marker
 * (causal length 0), to move the watermark; neither counts.
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

