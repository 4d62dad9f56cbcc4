// A round-robin HTTP proxy for multi-node tests: every request goes to the next live node, as a
// load balancer without stickiness would send it. A node that refuses the connection is skipped
// (as a balancer's health check would); a request cut off by a dying node answers 502.

import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface RoundRobin {
  url: string;
  /** Requests forwarded per node (by index). */
  counts: number[];
  close(): Promise<void>;
}

/** Starts a proxy in front of `nodes` (base URLs). */
export async function roundRobin(nodes: readonly string[]): Promise<RoundRobin> {
  let next = 0;
  const counts = nodes.map(() => 0);
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const attempt = (tries: number) => {
        const index = next++ % nodes.length;
        const target = new URL(nodes[index] as string);
        const forward = request(
          { host: target.hostname, port: target.port, path: incoming.url, method: incoming.method, headers: { ...incoming.headers, 'content-length': String(body.length) } },
          (answer) => {
            counts[index] = (counts[index] ?? 0) + 1;
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
            answer.on('error', () => outgoing.destroy());
          },
        );
        forward.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code === 'ECONNREFUSED' && tries < nodes.length) return attempt(tries + 1);
          if (!outgoing.headersSent) {
            outgoing.writeHead(502);
            outgoing.end(`node ${index} failed: ${error.message}`);
          } else outgoing.destroy();
        });
        forward.end(body);
      };
      attempt(1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
