import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextDelay, startAutoSync } from './auto-sync.js';

describe('automatic sync', () => {
  it('waits the interval after a success and backs off exponentially with jitter after failures', () => {
    assert.equal(nextDelay(1000, 60_000, 0, () => 0.5), 1000);
    assert.equal(nextDelay(1000, 60_000, 1, () => 0), 1000);
    assert.equal(nextDelay(1000, 60_000, 1, () => 0.999999), 1999.999);
    assert.equal(nextDelay(1000, 60_000, 3, () => 0), 4000);
    assert.equal(nextDelay(1000, 60_000, 20, () => 0), 30_000);
    assert.ok(nextDelay(1000, 60_000, 20, () => 0.999999) <= 60_000);
  });

  it('keeps syncing after failures and resets the backoff after a success', async () => {
    const calls: number[] = [];
    const started = Date.now();
    let failing = 3;
    const errors: unknown[] = [];
    const auto = startAutoSync(
      async () => {
        calls.push(Date.now() - started);
        if (failing-- > 0) throw new Error('offline');
      },
      { intervalMs: 20, maxBackoffMs: 200, random: () => 0.999, onError: (e) => errors.push(e) },
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    auto.stop();
    const count = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(calls.length, count, 'stop() stops');
    assert.equal(errors.length, 3);
    // gaps after the 1st, 2nd and 3rd failure are about 40, 80 and 160 ms; then 20 ms again
    const gaps = calls.slice(1).map((t, i) => t - (calls[i] ?? 0));
    assert.ok((gaps[0] ?? 0) >= 35 && (gaps[1] ?? 0) >= 75 && (gaps[2] ?? 0) >= 150, String(gaps));
    assert.ok((gaps[3] ?? 999) < 60, String(gaps));
  });
});
