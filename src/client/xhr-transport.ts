// The blocking transport of a browser worker: a synchronous XMLHttpRequest, which workers may
// make (the page may not), behind the cloudsync_network_* SQL functions there.

import type { BlockingTransport, HttpRequest, HttpResponse, RequestOptions } from './http-transport.js';
import { transportError } from './fetch-transport.js';

/** The part of XMLHttpRequest this transport uses. */
interface Xhr {
  open(method: string, url: string, async: boolean): void;
  setRequestHeader(name: string, value: string): void;
  send(body?: Uint8Array | string | null): void;
  responseType: string;
  timeout: number;
  readonly status: number;
  readonly response: ArrayBuffer | null;
}

/** A blocking transport on the platform's XMLHttpRequest, or null where there is none (Node). */
export function createXhrTransport(): BlockingTransport | null {
  const Request = (globalThis as unknown as { XMLHttpRequest?: new () => Xhr }).XMLHttpRequest;
  if (Request === undefined) return null;
  return (request: HttpRequest, options: RequestOptions): HttpResponse => {
    const xhr = new Request();
    try {
      xhr.open(request.method, request.url, false);
      xhr.responseType = 'arraybuffer';
      xhr.timeout = options.timeoutMs;
      for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
      xhr.send(request.body ?? null);
    } catch (error) {
      // a failed connection is a DOMException NetworkError, a timeout a TimeoutError
      throw transportError(request, error, options.timeoutMs);
    }
    // status 0: the request never got an answer it may read (refused by CORS, or aborted)
    if (xhr.status === 0) throw transportError(request, new Error('no answer (connection refused or blocked by CORS)'), options.timeoutMs);
    return { status: xhr.status, body: new Uint8Array(xhr.response ?? new ArrayBuffer(0)) };
  };
}
