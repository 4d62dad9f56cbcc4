// The network layer's error: a stable code, and for HTTP failures the status and the server's text.

/** Why a network operation failed. */
export type NetworkErrorCode =
  /** cloudsync_network_init was not called, or its connection string is invalid. */
  | 'CONFIG'
  /** The server could not be reached, or the connection dropped. */
  | 'OFFLINE'
  /** A request took longer than the timeout. */
  | 'TIMEOUT'
  /** The server answered with a status of 400 or more. */
  | 'HTTP'
  /** The server answered something the protocol does not allow. */
  | 'PROTOCOL'
  /** The server's write policies refused some changes (the rest was applied; see cloudsync_refused). */
  | 'REFUSED';

/** A failed network operation; nothing was lost: local changes and watermarks stay as they were. */
export class NetworkError extends Error {
  override name = 'NetworkError';
  constructor(
    readonly code: NetworkErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
