// A small router: method plus a path pattern of literal and `:name` segments.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** A matched request: its route's name (for logs) and path parameters. */
export interface RouteMatch<Context> {
  name: string;
  params: Record<string, string>;
  handler: RouteHandler<Context>;
}

/** Handles a request; `context` is what the server passes to every handler. */
export type RouteHandler<Context> = (request: IncomingMessage, response: ServerResponse, params: Record<string, string>, context: Context) => Promise<void> | void;

interface Route<Context> {
  method: string;
  pattern: string;
  segments: string[];
  handler: RouteHandler<Context>;
}

/** Routes requests by method and path. */
export class Router<Context> {
  private readonly routes: Route<Context>[] = [];

  add(method: string, pattern: string, handler: RouteHandler<Context>): this {
    this.routes.push({ method, pattern, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The route for a request; `allowed` lists the methods of a path that exists for another method. */
  match(method: string, path: string): RouteMatch<Context> | { allowed: string[] } | undefined {
    let parts: string[];
    try {
      parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return undefined;
    }
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { name: `${route.method} ${route.pattern}`, params, handler: route.handler };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}

function matchSegments(segments: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const part = parts[i] as string;
    if (segment.startsWith(':')) params[segment.slice(1)] = part;
    else if (segment !== part) return undefined;
  }
  return params;
}
