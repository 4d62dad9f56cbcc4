// Authentication of sync requests: `Authorization: Bearer <credential>`. An API key (`sqs_…`)
// opens one database with full rights (it bypasses row-level security, as in the reference); any
// other credential is a JWT naming a user, whose reads and writes the database's policies filter.

import type { IncomingMessage } from 'node:http';
import { API_KEY_PREFIX } from './api-keys.js';
import { HttpError } from './http-error.js';
import type { PolicyUser } from './row-security.js';
import type { ServerData } from './server-data.js';
import { verifyToken } from './tokens.js';

/** Who a request acts as. */
export type Principal =
  | {
      kind: 'apikey';
      /** Stable id for binding transfer slots: `key:<key id>`. */
      id: string;
      database: string;
    }
  | {
      kind: 'token';
      /** Stable id for binding transfer slots: `user:<user id>`. */
      id: string;
      database: string;
      /** The token's subject: what auth_userid() returns. */
      userId: string;
      /** All claims of the token: what auth_claim(name) reads. */
      claims: Readonly<Record<string, unknown>>;
    };

/**
 * Authenticates a request for `database`. No or unknown credential: 401. A valid API key for
 * another database: 404 when `database` does not exist, else 401 (so a stranger learns nothing
 * about which databases exist). A token must be valid for `database` itself.
 */
export function authenticate(request: IncomingMessage, database: string, data: ServerData): Promise<Principal> {
  return authenticateHeader(request.headers.authorization ?? '', database, data);
}

/** The same for the value of an Authorization header (a live connection sends it in its hello). */
export async function authenticateHeader(header: string, database: string, data: ServerData): Promise<Principal> {
  const credential = bearerCredential(header);
  if (credential === null) throw new HttpError(401, 'missing credential: send Authorization: Bearer <api key or token>');
  if (!credential.startsWith(API_KEY_PREFIX)) {
    const user = await verifyToken(data, database, credential);
    return { kind: 'token', id: `user:${user.userId}`, database, userId: user.userId, claims: user.claims };
  }
  const key = await data.authenticateApiKey(credential);
  if (!key) throw new HttpError(401, 'invalid or revoked API key');
  if (key.database !== database) {
    if (!(await data.hasDatabase(database))) throw new HttpError(404, `database '${database}' not found`);
    throw new HttpError(401, `this API key is not valid for database '${database}'`);
  }
  return { kind: 'apikey', id: `key:${key.keyId}`, database };
}

/** The credential of an `Authorization: Bearer <credential>` value, or null. */
export function bearerCredential(header: string): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null;
}

/** The user a principal's policies are evaluated for: null for an API key (no policies apply). */
export function userOf(principal: Principal): PolicyUser | null {
  return principal.kind === 'token' ? { userId: principal.userId, claims: principal.claims } : null;
}
