// Connection strings of cloudsync_network_init: `sqlitecloud://host[:port]/db[?apikey=…|token=…]`
// (https, as in the reference) or a plain http:// or https:// URL, turned into the v1 endpoints.

import { NetworkError } from './network-error.js';
import { toHex } from '../codec/bytes.js';

/** A parsed connection string. */
export interface ConnectionTarget {
  /** `scheme://host:port`, no trailing slash. */
  origin: string;
  /** The database path after the host, with its leading slash (`/todos.sqlite`). */
  databasePath: string;
  /** The credential found in the query string, if any. */
  credential: { kind: 'apikey' | 'token'; value: string } | null;
}

/** The two endpoints a site talks to. */
export interface Endpoints {
  /** `{origin}/v1/cloudsync{databasePath}/{siteid}`: check URLs are built from it. */
  check: string;
  /** `check + '/upload'`. */
  upload: string;
  /** `check + '/live'` with the ws:// or wss:// scheme: the live connection. */
  live: string;
}

/**
 * Parses a connection string. `sqlitecloud://` means https; its port 8860 (SQLite Cloud's native
 * port) or no port means 443, as in the reference. `apikey` wins over `token` when both are given.
 */
export function parseConnectionString(connection: string): ConnectionTarget {
  const text = connection.trim();
  const cloud = /^sqlitecloud:\/\//i.test(text);
  let url: URL;
  try {
    url = new URL(cloud ? `https://${text.slice('sqlitecloud://'.length)}` : text);
  } catch {
    throw new NetworkError('CONFIG', `invalid connection string '${connection}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NetworkError('CONFIG', `unsupported scheme '${url.protocol}' in '${connection}' (use sqlitecloud://, https:// or http://)`);
  }
  const port = cloud && (url.port === '' || url.port === '8860') ? '443' : url.port || (url.protocol === 'https:' ? '443' : '80');
  const databasePath = url.pathname.replace(/\/+$/, '');
  if (databasePath === '' || databasePath === '/') throw new NetworkError('CONFIG', `the connection string '${connection}' names no database`);
  const apikey = url.searchParams.get('apikey');
  const token = url.searchParams.get('token');
  const credential = apikey ? { kind: 'apikey' as const, value: apikey } : token ? { kind: 'token' as const, value: token } : null;
  return { origin: `${url.protocol}//${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${port}`, databasePath, credential };
}

/** The endpoints of a site: the site id is 32 lowercase hex digits without dashes. */
export function endpointsFor(target: ConnectionTarget, siteId: Uint8Array): Endpoints {
  const check = `${target.origin}/v1/cloudsync${target.databasePath}/${toHex(siteId)}`;
  return { check, upload: `${check}/upload`, live: `${check.replace(/^http/, 'ws')}/live` };
}
