// The engine's one error class: expected failures carry a stable code; bugs go through `unexpected`.

/** Stable codes of expected failures. */
export type CloudSyncErrorCode =
  | 'MISUSE'
  | 'NOT_FOUND'
  | 'SCHEMA'
  | 'MISMATCH'
  | 'CONSTRAINT'
  | 'PAYLOAD'
  | 'UNSUPPORTED'
  | 'IO'
  /** The schema changed under this connection (another connection's init, ALTER, enable or disable): the driver reloads and runs the statement again. */
  | 'STALE';

/** An expected failure of a cloudsync operation; the message starts with the operation's SQL name. */
export class CloudSyncError extends Error {
  override name = 'CloudSyncError';
  constructor(
    readonly code: CloudSyncErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws for a state that the code believes impossible. */
export function unexpected(what: string): never {
  throw new Error(`sqlite-sync internal error: ${what}`);
}
