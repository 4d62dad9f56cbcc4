// The browser entry (sqlite-sync/browser): open a synced database in a worker of the page.

export { BrowserDatabase, BrowserNetwork, openDatabase, type BrowserOpenOptions, type ChangeListener, type Row, type RowValue, type StatusListener, type LiveListener } from './database.js';
export type { LiveOptions, LiveState } from '../client/live-sync.js';
export { CloudSyncError } from '../engine/errors.js';
export { NetworkError } from '../client/network-error.js';
