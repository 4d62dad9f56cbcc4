// The C extension as a test oracle: the npm build of sqlite-sync 1.1.4 (a development dependency,
// never shipped), loaded into better-sqlite3 where the platform has it.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Path of the extension to pass to loadExtension, or null when it is not installed here. */
export const referenceExtension: string | null = (() => {
  try {
    const path = join(dirname(require.resolve('@sqliteai/sqlite-sync-linux-x86_64/package.json')), 'cloudsync');
    return existsSync(`${path}.so`) ? path : null;
  } catch {
    return null;
  }
})();

/** The `skip` option of tests that need the extension. */
export const skipWithoutReference: string | false = referenceExtension === null ? 'the C extension oracle is not installed on this platform' : false;
