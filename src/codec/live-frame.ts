// The frames of a live connection (docs/protocol.md, "Live sync"). Text frames are JSON messages;
// a binary frame carries changes: a kind byte (1), the length of a JSON header (u32, big endian),
// the header {from, to} and a payload in the usual format. `from` is the server position the
// payload starts after, `to` the position of its last change.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A position in the server's change order. */
export interface LivePosition {
  dbVersion: number;
  seq: number;
}

/** What the server sends as text. */
export type LiveMessage =
  | { type: 'ready' }
  /** Something the client may see changed: pull (a check). */
  | { type: 'changed' }
  /** The server is alive (sent every heartbeat interval). */
  | { type: 'tick' };

/** What the client sends: its credential, as the value of an Authorization header. */
export interface LiveHello {
  type: 'hello';
  authorization?: string;
}

/** Changes pushed to a live client. */
export interface LiveChanges {
  from: LivePosition;
  to: LivePosition;
  payload: Uint8Array;
}

const CHANGES = 1;

export function encodeLiveChanges(changes: LiveChanges): Uint8Array {
  const header = encoder.encode(JSON.stringify({ from: changes.from, to: changes.to }));
  const frame = new Uint8Array(5 + header.length + changes.payload.length);
  frame[0] = CHANGES;
  new DataView(frame.buffer).setUint32(1, header.length);
  frame.set(header, 5);
  frame.set(changes.payload, 5 + header.length);
  return frame;
}

/** Decodes a binary frame; throws on anything that is not a well-formed changes frame. */
export function decodeLiveChanges(frame: Uint8Array): LiveChanges {
  if (frame.length < 5 || frame[0] !== CHANGES) throw new Error('live: unknown binary frame');
  const length = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  if (5 + length > frame.length) throw new Error('live: truncated frame header');
  const header = JSON.parse(decoder.decode(frame.subarray(5, 5 + length))) as { from?: unknown; to?: unknown };
  const from = position(header.from);
  const to = position(header.to);
  return { from, to, payload: frame.subarray(5 + length) };
}

function position(value: unknown): LivePosition {
  const p = value as Partial<LivePosition> | null;
  if (p === null || typeof p !== 'object' || !Number.isSafeInteger(p.dbVersion) || !Number.isSafeInteger(p.seq) || (p.dbVersion as number) < 0) {
    throw new Error('live: bad position in frame header');
  }
  return { dbVersion: p.dbVersion as number, seq: p.seq as number };
}

/** Close codes of a live connection, beside the standard ones. */
export const LIVE_CLOSE = {
  /** The credential is missing, invalid, revoked or expired: do not reconnect with it. */
  unauthorized: 4401,
  /** The database does not exist (or was dropped). */
  notFound: 4404,
  /** The client broke the protocol. */
  protocol: 4400,
} as const;
