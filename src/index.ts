// The package's public entry point.

export { CloudSync } from './cloud-sync.js';
export { load, type LoadOptions } from './load.js';
export type { InitOptions, EngineOptions, EncodedPayload } from './engine/cloudsync.js';
export type { ChangeFilter } from './engine/changes.js';
export { CloudSyncError, type CloudSyncErrorCode } from './engine/errors.js';
export { encodePayload, decodePayload, type Change, type PayloadHeader, SENTINEL } from './codec/payload.js';
export { encodePk, decodePk } from './codec/pk.js';
export type { SqlValue } from './codec/value.js';
export { NetworkSync, type NetworkOptions, type SyncStatus, type NetworkSyncEvents } from './client/network-sync.js';
export { NetworkError, type NetworkErrorCode } from './client/network-error.js';
export type { SendResult, CheckResult, SyncResult, SyncProgress } from './client/protocol.js';
export type { AutoSyncOptions } from './client/auto-sync.js';
export type { LiveLink, LiveOptions, LiveState } from './client/live-sync.js';
