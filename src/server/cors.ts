// Cross-origin access for browser clients: the allowed origins get the CORS headers on every
// answer, and preflight requests (OPTIONS) are answered here. Credentials travel in the
// Authorization header (never cookies), so no Allow-Credentials.

import type { IncomingMessage, ServerResponse } from 'node:http';

const ALLOWED_METHODS = 'GET, POST, PUT, OPTIONS';
const ALLOWED_HEADERS = 'Authorization, Content-Type';
const PREFLIGHT_MAX_AGE_S = 600;

/** The origins a server answers browsers from: exact origins (`https://app.example.com`) or '*'. */
export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    for (const origin of origins) {
      if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin)) throw new Error(`cors origin '${origin}' is not '*' or scheme://host[:port] without a path`);
    }
    this.any = origins.includes('*');
    this.origins = new Set(origins.map((o) => o.toLowerCase()));
  }

  /**
   * Sets the CORS headers of an answer to `request`; answers a preflight itself and returns true
   * (the caller stops there). A preflight from an origin not allowed gets 403.
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const origin = request.headers.origin;
    const allowed = origin !== undefined && (this.any || this.origins.has(origin.toLowerCase()));
    if (allowed) {
      response.setHeader('Access-Control-Allow-Origin', this.any ? '*' : origin);
      if (!this.any) response.setHeader('Vary', 'Origin');
    }
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (!preflight) return false;
    if (!allowed) {
      response.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(`origin ${origin ?? '(none)'} is not allowed (serve --cors-origin)`);
      return true;
    }
    response.writeHead(204, {
      'Access-Control-Allow-Methods': ALLOWED_METHODS,
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    });
    response.end();
    return true;
  }
}
