// What the protocol needs from HTTP: one request, one whole response. Two implementations: a
// blocking one for SQL functions (blocking-http.ts) and an async one for the TypeScript API.

/** One HTTP request of the sync protocol. */
export interface HttpRequest {
  method: 'GET' | 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}

/** The server's answer. */
export interface HttpResponse {
  status: number;
  body: Uint8Array;
}

/** Per-request limits and observers. */
export interface RequestOptions {
  /** Abort the request after this long (default 30 s). */
  timeoutMs: number;
  /** Called as response bytes arrive (async transport only). */
  onBytes?: (received: number, total: number | null) => void;
}

/** Sends requests and waits for their answers, synchronously. */
export type BlockingTransport = (request: HttpRequest, options: RequestOptions) => HttpResponse;

/** Sends requests and resolves with their answers. */
export type AsyncTransport = (request: HttpRequest, options: RequestOptions) => Promise<HttpResponse>;

/** The default timeout of one request. */
export const DEFAULT_TIMEOUT_MS = 30_000;
