// The server's one error class: an HTTP status and a short text that the client shows its user.

import { CloudSyncError } from '../engine/errors.js';

/** An expected failure of a request, answered with `status` and `message` as a text/plain body. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Maps any error to the status and text the server answers (unexpected errors hide their details). */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof CloudSyncError) {
    const status = error.code === 'PAYLOAD' ? 400 : error.code === 'CONSTRAINT' ? 409 : error.code === 'UNSUPPORTED' || error.code === 'MISMATCH' || error.code === 'NOT_FOUND' || error.code === 'SCHEMA' ? 422 : 400;
    return new HttpError(status, error.message);
  }
  return new HttpError(500, 'internal server error');
}
