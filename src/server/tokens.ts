// User tokens (JWT): HS256 tokens this server issues, and RS256/ES256 tokens of an external
// identity provider configured per database. Placeholder until the token layer lands: every token
// is refused.

import { HttpError } from './http-error.js';
import type { ServerData } from './server-data.js';

/** A verified token's user. */
export interface TokenUser {
  userId: string;
  claims: Readonly<Record<string, unknown>>;
}

/** Verifies a token for a database; any failure is a 401 that says no more than needed. */
export async function verifyToken(_data: ServerData, _database: string, _token: string): Promise<TokenUser> {
  throw new HttpError(401, 'invalid token');
}
