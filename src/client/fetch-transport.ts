// The async transport: fetch with a timeout, reporting response bytes as they stream in.

import { NetworkError } from './network-error.js';
import type { AsyncTransport, HttpRequest, HttpResponse, RequestOptions } from './http-transport.js';
import { concatBytes } from '../codec/bytes.js';

/** Sends one request with the global fetch; network failures become NetworkError OFFLINE or TIMEOUT. */
export const fetchTransport: AsyncTransport = async (request: HttpRequest, options: RequestOptions): Promise<HttpResponse> => {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    return { status: response.status, body: await readBody(response, options) };
  } catch (error) {
    throw transportError(request, error, options.timeoutMs);
  }
};

async function readBody(response: Response, options: RequestOptions): Promise<Uint8Array> {
  if (!options.onBytes || !response.body) return new Uint8Array(await response.arrayBuffer());
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  const parts: Uint8Array[] = [];
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    options.onBytes(received, total);
  }
  return concatBytes(parts);
}

/** Maps a fetch failure to a NetworkError naming the request. */
export function transportError(request: HttpRequest, error: unknown, timeoutMs: number): NetworkError {
  if (error instanceof NetworkError) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new NetworkError('TIMEOUT', `${request.method} ${redact(request.url)} timed out after ${timeoutMs} ms`);
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
  return new NetworkError('OFFLINE', `${request.method} ${redact(request.url)} failed: ${cause}`);
}

/** A URL without its query string (which may hold a credential). */
export function redact(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
