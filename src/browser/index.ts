// The browser entry (sqlite-sync/browser): open a synced database in a worker of the page.

export { BrowserDatabase, BrowserNetwork, openDatabase, type BrowserOpenOptions, type ChangeListener, type Row, type RowValue, type StatusListener } from './database.js';
export { CloudSyncError } from '../engine/errors.js';
export { NetworkError } from '../client/network-error.js';
