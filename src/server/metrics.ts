// The server's metrics in the Prometheus text format (GET /metrics), through prom-client: one
// registry per server, so that several servers in one process (tests, embedding) stay apart.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What a server counts. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly uploads: Counter;
  readonly downloads: Counter;
  readonly changesApplied: Counter;
  readonly refusedChanges: Counter;
  readonly authRefusals: Counter;

  /** @param gauges read at scrape time: open HTTP connections, live connections, open databases, requests in flight */
  constructor(gauges: { connections: () => number; live: () => number; databases: () => number; inFlight: () => number }) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'sqlite_sync_http_requests_total', help: 'HTTP requests answered, by route, method and status', labelNames: ['route', 'method', 'status'], registers });
    this.latency = new Histogram({
      name: 'sqlite_sync_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.uploads = new Counter({ name: 'sqlite_sync_uploads_total', help: 'Uploads applied', registers });
    this.downloads = new Counter({ name: 'sqlite_sync_downloads_total', help: 'Checks that handed out a download', registers });
    this.changesApplied = new Counter({ name: 'sqlite_sync_changes_applied_total', help: 'Changes in applied uploads', registers });
    this.refusedChanges = new Counter({ name: 'sqlite_sync_refused_changes_total', help: 'Changes that write policies refused', registers });
    this.authRefusals = new Counter({ name: 'sqlite_sync_auth_refusals_total', help: 'Requests refused for their credentials (401 and 403)', registers });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('sqlite_sync_http_connections', 'Open HTTP connections', gauges.connections);
    gauge('sqlite_sync_live_connections', 'Open live (WebSocket) connections', gauges.live);
    gauge('sqlite_sync_open_databases', 'Hosted databases open in this node', gauges.databases);
    gauge('sqlite_sync_requests_in_flight', 'Uploads being applied now', gauges.inFlight);
    collectDefaultMetrics({ register: this.registry, prefix: 'sqlite_sync_' });
  }

  /** Records an answered request. */
  answered(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
    if (status === 401 || status === 403) this.authRefusals.inc();
  }
}
