// The sync server's public entry point (`sqlite-sync/server`).

export { createServer, type ServerOptions, type SyncServer } from './create-server.js';
export { openDataDir, ServerData, type CreatedApiKey, type DatabaseStatus, type ApiKeyRecord, type DatabaseRecord, type SiteRecord } from './server-data.js';
export { HttpError } from './http-error.js';
