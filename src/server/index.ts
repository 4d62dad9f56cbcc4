// The sync server's public entry point (`sqlite-sync/server`).

export { createServer, type ServerOptions, type SyncServer } from './create-server.js';
export { copyDatabase, type CopyReport } from './storage/copy.js';
export { openDataDir, openServerData, isPostgresUrl, ServerData, type CreatedApiKey, type DatabaseStatus, type ApiKeyRecord, type DatabaseRecord, type SiteRecord } from './server-data.js';
export { verifyToken, tokenAudience, TOKEN_ISSUER, CLOCK_TOLERANCE_SECONDS, RESERVED_CLAIMS, type TokenOptions, type TokenUser } from './tokens.js';
export { EXTERNAL_ALGORITHMS, type ExternalAlgorithm, type ExternalAuth, type ExternalAuthInput } from './external-auth.js';
export { HttpError } from './http-error.js';
