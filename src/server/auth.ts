// Authentication of sync requests: `Authorization: Bearer <credential>`. API keys open one
// database with full rights (they bypass row-level security, as in the reference).

import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';
import type { ServerData } from './server-data.js';

/** Who a request acts as. */
export interface Principal {
  kind: 'apikey';
  /** Stable id for binding transfer slots (the key id). */
  id: string;
  database: string;
}

/**
 * Authenticates a request for `database`. No or unknown credential: 401. A valid credential for
 * another database: 404 when `database` does not exist, else 401 (so a stranger learns nothing
 * about which databases exist).
 */
export function authenticate(request: IncomingMessage, database: string, data: ServerData): Principal {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new HttpError(401, 'missing credential: send Authorization: Bearer <api key>');
  const key = data.authenticateApiKey(match[1] as string);
  if (!key) throw new HttpError(401, 'invalid or revoked API key');
  if (key.database !== database) {
    if (!data.admin.findDatabase(database)) throw new HttpError(404, `database '${database}' not found`);
    throw new HttpError(401, `this API key is not valid for database '${database}'`);
  }
  return { kind: 'apikey', id: key.keyId, database };
}
