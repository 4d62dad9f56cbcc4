// The names cloudsync_init accepts for its algorithm argument, and why 'aws' is refused.

import { CloudSyncError } from './errors.js';
import type { Algo } from './meta-schema.js';

const ALGO_NAMES: Record<string, Algo | 'aws'> = {
  cls: 'cls',
  causallengthset: 'cls',
  gos: 'gos',
  growonlyset: 'gos',
  dws: 'dws',
  deletewinsset: 'dws',
  aws: 'aws',
  addwinsset: 'aws',
};

/** Maps an algorithm name (short or long, any case) to the algorithm; refuses unknown names and 'aws'. */
export function parseAlgo(fn: string, name: string): Algo {
  const algo = ALGO_NAMES[name.toLowerCase()];
  if (algo === undefined) throw new CloudSyncError('MISUSE', `${fn}: unknown algorithm '${name}'; use cls, gos or dws`);
  if (algo === 'aws') {
    throw new CloudSyncError(
      'UNSUPPORTED',
      `${fn}: algorithm 'aws' (add-wins) is not supported: a delete carries no causal context in this metadata, so a concurrent update cannot be told from a stale one; use cls or dws`,
    );
  }
  return algo;
}
