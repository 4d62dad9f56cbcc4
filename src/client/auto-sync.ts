// Automatic sync on an interval, with exponential backoff and full jitter after failures.

/** Options of automatic sync. */
export interface AutoSyncOptions {
  /** Time between syncs while they succeed (default 5 s). */
  intervalMs?: number;
  /** Upper bound of the delay after repeated failures (default 5 min). */
  maxBackoffMs?: number;
  /** Random source in [0, 1), replaceable in tests. */
  random?: () => number;
  /** Called with each failure (the status event reports it too). */
  onError?: (error: unknown) => void;
}

/** A running automatic sync. */
export interface AutoSync {
  stop(): void;
}

/**
 * Calls `sync` now and then again after each run: `intervalMs` after a success, and after the
 * n-th failure in a row a random delay between half and all of min(maxBackoffMs, intervalMs·2^n).
 */
export function startAutoSync(sync: () => Promise<unknown>, options: AutoSyncOptions = {}): AutoSync {
  const interval = options.intervalMs ?? 5000;
  const maxBackoff = Math.max(interval, options.maxBackoffMs ?? 300_000);
  const random = options.random ?? Math.random;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = async () => {
    timer = null;
    try {
      await sync();
      failures = 0;
    } catch (error) {
      failures++;
      options.onError?.(error);
    }
    if (!stopped) timer = setTimeout(tick, nextDelay(interval, maxBackoff, failures, random));
  };
  timer = setTimeout(tick, 0);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** The delay before the next sync after `failures` failures in a row. */
export function nextDelay(interval: number, maxBackoff: number, failures: number, random: () => number): number {
  if (failures === 0) return interval;
  const ceiling = Math.min(maxBackoff, interval * 2 ** Math.min(failures, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}
