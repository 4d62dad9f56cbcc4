// The package's public entry point.

export { load, CloudSync, type LoadOptions } from './load.js';
export type { InitOptions, EngineOptions, EncodedPayload } from './engine/cloudsync.js';
export type { ChangeFilter } from './engine/changes.js';
export { CloudSyncError, type CloudSyncErrorCode } from './engine/errors.js';
export { encodePayload, decodePayload, type Change, type PayloadHeader, SENTINEL } from './codec/payload.js';
export { encodePk, decodePk } from './codec/pk.js';
export type { SqlValue } from './codec/value.js';
