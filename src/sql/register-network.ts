// Registers the cloudsync_network_* SQL functions: a thin facade over NetworkSync. Every function
// that reads or writes the database, or talks to the server, runs after its statement (see
// deferred-calls.ts) and blocks until the server answered.

import type { SqlValue } from '../codec/value.js';
import type { NetworkSync } from '../client/network-sync.js';
import type { Connection } from '../engine/connection.js';
import type { DeferredCalls } from './deferred-calls.js';
import { checkArity, text } from './register.js';

/** Registers cloudsync_network_* on a connection. */
export function registerNetworkFunctions(db: Connection, network: NetworkSync, deferred: DeferredCalls): void {
  const define = (name: string, arities: readonly number[], work: (args: SqlValue[]) => SqlValue, defer = true) => {
    db.registerFunction(name, (args) => {
      checkArity(name, args, arities);
      const run = () => named(name, () => work(args));
      return defer ? deferred.call(name, run) : run();
    });
  };
  define('cloudsync_network_init', [1], ([connection]) => (network.init(text(connection)), 0n), false);
  define('cloudsync_network_set_apikey', [1], ([key]) => (network.setApiKey(text(key)), null), false);
  define('cloudsync_network_set_token', [1], ([token]) => (network.setToken(text(token)), null), false);
  define('cloudsync_network_cleanup', [0], () => (network.cleanup(), null), false);
  define('cloudsync_network_has_unsent_changes', [0], () => (network.hasUnsentChanges() ? 1n : 0n));
  define('cloudsync_network_send_changes', [0], () => BigInt(network.sendChangesNow().changes));
  define('cloudsync_network_check_changes', [0], () => BigInt(network.checkChangesNow().changes));
  define('cloudsync_network_sync', [0, 2], ([waitMs, maxRetries]) =>
    BigInt(network.syncNow(waitMs == null ? 100 : Number(waitMs), maxRetries == null ? 1 : Number(maxRetries)).received.changes),
  );
  define('cloudsync_network_reset_sync_version', [0], () => (network.resetSyncVersion(), null));
  define('cloudsync_network_logout', [0], () => (network.logout(), null));
}

/** Makes the error message start with the SQL function's name. */
function named<T>(name: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof Error && !error.message.startsWith(name)) error.message = `${name}: ${error.message}`;
    throw error;
  }
}
